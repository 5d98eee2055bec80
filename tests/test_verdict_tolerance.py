"""The verdict's per-node loops hold to the references' own tolerances.

`verdict` compares every node with its tolerance in one pass over plain
lists, computed as `Bounds.value_tolerance` and `grad_tolerance` do. An
engine off by exactly its tolerance passes, a little more fails, at the
node that is off, at float64 and at float32 alike.
"""

from __future__ import annotations

import pytest

from gradcheck.internal.checking import verdict
from gradcheck.internal.checking.answers import Run
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.refs.references import Reference, reference
from gradcheck.internal.refs.tolerance import FLOAT32, UNIT


def _graph() -> Graph:
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    t = b.op("mul", x, y)
    b.op("add", b.op("tanh", t), b.op("mul", t, x))
    return b.build()


def _exact(ref: Reference) -> Run:
    n = len(ref.graph.nodes)
    return Run(
        data=[ref.value(i) for i in range(n)],
        grads=[ref.adjoint(i) for i in range(n)],
        missing=[False] * n,
    )


FACTORS = (0.25, 0.5, 0.9, 1.1, 1.5, 2.0, 4.0)


@pytest.mark.parametrize("unit", [UNIT, FLOAT32])
def test_a_value_off_by_its_tolerance_passes_and_more_fails(unit: float) -> None:
    graph = _graph()
    ref = reference(graph, {"x": 0.7, "y": -1.3}, unit_roundoff=unit)
    assert verdict._first_wrong_value(graph, _exact(ref), ref) is None
    seen = set()
    for i in range(len(graph.nodes)):
        value, tolerance = ref.value(i), ref.bounds.value_tolerance(i)
        for factor in FACTORS:
            run = _exact(ref)
            run.data[i] = value + tolerance * factor  # rounded: compare as stored
            within = abs(run.data[i] - value) <= tolerance
            found = verdict._first_wrong_value(graph, run, ref)
            assert found == (None if within else i)
            seen.add(within)
    assert seen == {True, False}


@pytest.mark.parametrize("unit", [UNIT, FLOAT32])
def test_a_gradient_off_by_its_tolerance_passes_and_more_fails(unit: float) -> None:
    graph = _graph()
    ref = reference(graph, {"x": 0.7, "y": -1.3}, unit_roundoff=unit)
    assert verdict._gradients_ok(graph, _exact(ref), ref)
    seen = set()
    for i in (0, 1):  # the variables x and y
        exact = float(ref.gradient(graph.nodes[i].name))
        tolerance = ref.bounds.grad_tolerance(i)
        for factor in FACTORS:
            run = _exact(ref)
            run.grads[i] = exact + tolerance * factor
            within = abs(run.grads[i] - exact) <= tolerance
            assert verdict._gradients_ok(graph, run, ref) == within
            assert verdict.gradient_rows(graph, run, ref)[i].ok == within
            seen.add(within)
    assert seen == {True, False}
