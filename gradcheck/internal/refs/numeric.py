"""The numeric reference: central finite differences in 80-digit mpmath.

It evaluates the graph with the op table's mpmath functions (its own forward
pass, never an engine's) and knows no derivative rule at all. With 80 digits
of working precision and a step of 1e-25 * max(1, |x|), the truncation error
(about h**2 * f'''/6) and the rounding error (about 1e-80 * |f| / h) both stay
far below 1e-25 relative for any function the point sampler admits.

Each displaced evaluation recomputes only the nodes that depend on the
displaced variable and takes every other value from the undisplaced pass:
the same mpmath calls on the same arguments at the same precision, so the
same numbers as evaluating the whole graph again, for less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcheck.internal.expr.graph import CONST, VAR, Graph
from gradcheck.internal.expr.ops import OPS

DIGITS = 80
STEP = mpmath.mpf("1e-25")


@dataclass
class NumericResult:
    value: Any
    gradients: dict[str, Any]


def numeric_reference(graph: Graph, point: Mapping[str, float]) -> NumericResult:
    """Output value and d out / d var for every variable, by central differences."""
    with mpmath.workdps(DIGITS):
        base = {name: mpmath.mpf(x) for name, x in point.items()}
        values = graph.evaluate(base)
        cones = _cones(graph)
        gradients: dict[str, Any] = {}
        for name in graph.variables:
            h = STEP * max(1, abs(base[name]))
            cone = cones.get(name, [])
            up = _displaced(graph, values, cone, base[name] + h)
            down = _displaced(graph, values, cone, base[name] - h)
            gradients[name] = (up - down) / (2 * h)
    return NumericResult(values[-1], gradients)


def _cones(graph: Graph) -> dict[str, list[int]]:
    """For each variable, the nodes that depend on it, in graph order."""
    reach: list[frozenset[str]] = []
    cones: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        if node.op == VAR:
            names = frozenset((node.name,))
        elif node.op == CONST:
            names = frozenset()
        else:
            names = frozenset().union(*(reach[a] for a in node.args))
        reach.append(names)
        for name in names:
            cones.setdefault(name, []).append(i)
    return cones


def _displaced(graph: Graph, base: list[Any], cone: list[int], x: Any) -> Any:
    """The output with one variable at `x`: its cone recomputed, the rest kept."""
    if not cone or cone[-1] != len(base) - 1:  # the output does not depend on it
        return base[-1]
    values = list(base)
    nodes = graph.nodes
    for i in cone:
        node = nodes[i]
        if node.op == VAR:
            values[i] = x
        else:
            args = [values[a] for a in node.args]
            values[i] = OPS[node.op].apply_mp(args, node.constant)
    return values[-1]
