"""The references' numbers, pinned: a faster reference must compute the same.

Every shipped op at several points, and a few graphs with reuse, constants
and every op: each reference is written out exactly (every mpf as its
binary number, every float by `float.hex`, the disagreement text) and
compared with the fingerprint recorded in `tests/data/refs_numbers.json`,
whatever global mpmath precision another test (or the importing program)
set. The file was written by main's tree before the references were made
cheaper (issue 22); any change of a single bit of a value, partial, second
partial, adjoint, gradient, numeric derivative, bound or magnitude fails
here. Rewrite it only for a change that is meant to change the numbers::

    python tests/test_refs_numbers.py --write

`benchmarks/refs_same.py` makes the same comparison on every reference of
an engine run and on random graphs, against another tree.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs.references import clear_cache, reference
from gradcheck.internal.refs.tolerance import FLOAT32, UNIT

DATA = Path(__file__).parent / "data" / "refs_numbers.json"
POINTS = (-2.7, -0.45, 0.07, 0.9, 3.1)
# Two-operand ops get this second operand.
OTHER = 1.3


def _op_graph(name: str, constant: float | None) -> Graph:
    b = GraphBuilder()
    args = [b.var("x"), b.var("y")][: OPS[name].arity]
    b.op(name, *args, constant=constant)
    return b.build()


def _mixed() -> list[tuple[str, Graph, dict[str, float]]]:
    """Graphs of several nodes: reuse, constant leaves, every op in a chain."""
    found = []
    b = GraphBuilder()
    x, y, z = b.var("x"), b.var("y"), b.var("z")
    t = b.op("mul", x, y)
    u = b.op("add", t, b.op("tanh", t))
    v = b.op("div", u, b.op("add_const", b.op("exp", z), constant=0.5))
    w = b.op("sub", v, b.op("mul", b.const(0.1), x))
    b.op("add", w, b.op("gelu_tanh", b.op("sigmoid", w)))
    found.append(("reuse", b.build(), {"x": 0.7, "y": -1.2, "z": 0.3}))
    b = GraphBuilder()
    node = b.var("x")
    for name in sorted(OPS):
        op = OPS[name]
        constant = CONSTANT_CHOICES.get(name, (0.75,))[0] if op.takes_constant else None
        args = [node, b.var("y")][: op.arity]
        node = b.op(name, *args, constant=constant)
        node = b.op("sigmoid", node)  # keeps every operand in every domain
    found.append(("chain", b.build(), {"x": 0.4, "y": 1.7}))
    b = GraphBuilder()
    x = b.var("x")
    s = b.op("sin", x)
    b.op("add", b.op("mul", s, s), b.op("mul", b.op("cos", x), b.op("cos", x)))
    found.append(("identity", b.build(), {"x": 0.9}))  # cancellation: sin^2+cos^2
    return found


def cases() -> list[tuple[str, Graph, dict[str, float], float, bool]]:
    found = []
    for name in sorted(OPS):
        op = OPS[name]
        constants = (None,)
        if op.takes_constant:
            constants = CONSTANT_CHOICES.get(name, (2.0, -0.5, 0.1))
        for constant in constants:
            graph = _op_graph(name, constant)
            for x in POINTS:
                point = {"x": x, "y": OTHER}
                point = {v: point[v] for v in graph.variables}
                found.append((f"{name}({constant}) at {x}", graph, point, UNIT, True))
    for label, graph, point in _mixed():
        found.append((label, graph, point, UNIT, True))
        found.append((f"{label} float32", graph, point, FLOAT32, True))
    # a user's point on relu's kink: no margins, the references must decide
    relu = _op_graph("relu", None)
    found.append(("relu at its kink", relu, {"x": 0.0}, UNIT, False))
    return found


def dump(graph: Graph, point: dict[str, float], unit: float, margins: bool) -> str:
    """Every number of one reference, as exact text."""
    try:
        ref = reference(graph, point, unit, margins=margins)
    except PointError as err:
        return f"PointError {err}"
    sym, num = ref.symbolic, ref.numeric

    def mp(xs: Any) -> str:
        # the exact binary number (sign, mantissa, exponent, bits): repr
        # prints as many digits as the global precision asks for
        return " ".join(repr(x._mpf_) for x in xs)

    def fl(xs: Any) -> str:
        return " ".join(float.hex(float(x)) for x in xs)

    return "\n".join(
        [
            mp(sym.values),
            mp(p for row in sym.partials for p in row),
            mp(s for node in sym.seconds for row in node for s in row),
            mp(sym.adjoints),
            mp(sym.gradients.values()),
            mp([num.value, *num.gradients.values()]),
            fl(ref.bounds.value),
            fl(ref.bounds.grad),
            fl([ref.bounds.unit_roundoff, ref.bounds.floor]),
            fl(ref.magnitudes),
            fl(ref.floats),
            repr(ref.disagreement),
        ]
    )


def fingerprints() -> dict[str, str]:
    clear_cache()
    found = {}
    for label, graph, point, unit, margins in cases():
        text = dump(graph, point, unit, margins)
        found[label] = hashlib.sha256(text.encode()).hexdigest()
    return found


def test_every_reference_is_the_recorded_one() -> None:
    recorded = json.loads(DATA.read_text(encoding="utf-8"))
    got = fingerprints()
    assert got.keys() == recorded.keys()
    changed = [label for label in got if got[label] != recorded[label]]
    assert not changed, f"references changed: {changed[:10]}"


@pytest.mark.parametrize("unit", [UNIT, FLOAT32])
def test_what_is_kept_between_references_changes_nothing(unit: float) -> None:
    """A reference computed with its graph's plan made at another point, or
    served from the cache, is the one computed afresh."""
    label, graph, point = _mixed()[0]
    clear_cache()
    fresh = dump(graph, point, unit, True)
    clear_cache()
    reference(graph, {**point, "x": 0.2}, unit)  # the graph's plan is made here
    reused = dump(graph, point, unit, True)
    cached = dump(graph, point, unit, True)
    assert fresh == reused == cached, label


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    DATA.write_text(json.dumps(fingerprints(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DATA}")
