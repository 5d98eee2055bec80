"""The two references and the tolerance, on their own."""

from __future__ import annotations

import random

import mpmath
import pytest
from hypothesis import given, settings

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs.points import sample_point
from gradcheck.internal.refs.references import reference
from gradcheck.internal.refs.symbolic import (
    derivative_formulas,
    expanded_size,
    symbolic_reference,
)
from gradcheck.internal.refs.tolerance import UNIT
from gradcheck.strategies import graphs_with_points


def _reuse_heavy(layers: int) -> GraphBuilder:
    """Each node uses the two before it: the expanded tree doubles per layer."""
    b = GraphBuilder()
    prev, last = b.var("x"), b.var("y")
    for k in range(layers):
        op = ("mul", "add", "sub")[k % 3]
        node = b.op("tanh", b.op(op, prev, last))
        prev, last = last, node
    return b


def test_references_agree_to_many_digits_on_a_known_derivative() -> None:
    b = GraphBuilder()
    w, x, bias = b.var("w"), b.var("x"), b.var("b")
    b.op("tanh", b.op("add", b.op("mul", w, x), bias))
    ref = reference(b.build(), {"w": 0.5, "x": -1.0, "b": 0.1})
    assert ref.conclusive
    with mpmath.workdps(60):
        exact = 1 - mpmath.tanh(mpmath.mpf(0.5) * -1 + mpmath.mpf(0.1)) ** 2
        assert abs(ref.symbolic.gradients["b"] - exact) < mpmath.mpf("1e-50")
        assert abs(ref.numeric.gradients["b"] - exact) < mpmath.mpf("1e-25")


def test_symbolic_reference_is_linear_on_reuse_heavy_graphs() -> None:
    graph = _reuse_heavy(60).build()
    assert expanded_size(graph) >= 10**9  # capped: naive expansion is hopeless
    result = symbolic_reference(graph, {"x": 0.3, "y": -0.4})
    assert set(result.gradients) == {"x", "y"}
    formulas, reason = derivative_formulas(graph)
    assert formulas == {} and reason is not None and "chain rule" in reason


def test_formulas_are_given_for_small_graphs() -> None:
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    formulas, reason = derivative_formulas(b.build())
    assert reason is None and formulas == {"x": "2*x"}


def test_points_outside_the_domain_raise_point_error() -> None:
    b = GraphBuilder()
    b.op("log", b.var("x"))
    with pytest.raises(PointError):
        reference(b.build(), {"x": -2.0})
    b = GraphBuilder()
    b.op("rdiv", b.var("x"), constant=1.0)
    with pytest.raises(PointError):
        reference(b.build(), {"x": 0.0})


def test_tolerance_is_near_float_precision_not_a_fixed_rtol() -> None:
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    b.op("mul", b.op("tanh", x), b.op("exp", y))
    ref = reference(b.build(), {"x": 0.7, "y": 0.2})
    for i in (0, 1):
        assert ref.bounds.grad_tolerance(i) < 1e4 * UNIT


def test_cancellation_widens_the_tolerance() -> None:
    """x*1e8 - x*1e8 + x: large contributions cancel; the bound must follow them."""
    b = GraphBuilder()
    x = b.var("x")
    big = b.op("mul_const", x, constant=1e8)
    b.op("add", b.op("sub", big, b.op("mul_const", x, constant=1e8)), x)
    ref = reference(b.build(), {"x": 0.3})
    assert float(ref.gradient("x")) == 1.0
    assert ref.bounds.grad_tolerance(0) > 1e8 * UNIT


@pytest.mark.heavy
@settings(max_examples=60, deadline=None)
@given(graphs_with_points(max_nodes=15))
def test_references_agree_on_random_graphs(
    example: tuple[Graph, dict[str, float]],
) -> None:
    graph, point = example
    ref = reference(graph, point)
    assert ref.conclusive, ref.disagreement


NEW_OPS = (
    "pow_var", "rpow", "sin", "cos", "sqrt", "abs", "softplus",
    "leaky_relu", "gelu_erf", "gelu_tanh", "erf",
)  # fmt: skip


@pytest.mark.parametrize("name", NEW_OPS)
def test_new_ops_have_tolerances_near_float_precision(name: str) -> None:
    """Loose bounds would hide small derivative bugs: stay within 1000 ulps."""
    b = GraphBuilder()
    args = [b.var("x"), b.var("y")][: OPS[name].arity]
    b.op(name, *args, constant=CONSTANT_CHOICES.get(name, (None,))[-1])
    graph = b.build()
    rng = random.Random(name)
    for _ in range(30):
        point = sample_point(graph, rng)
        assert point is not None
        ref = reference(graph, point)
        assert ref.conclusive, ref.disagreement
        for i, var in enumerate(graph.variables):
            # Terms such as 0.044715 x**3 in gelu grow with |x| (up to 10).
            scale = max(1.0, abs(float(ref.gradient(var))), *map(abs, point.values()))
            assert ref.bounds.grad_tolerance(i) < 1e3 * UNIT * scale


def test_gelu_tolerance_follows_x_where_one_plus_erf_cancels() -> None:
    """At x = -8, 1 + erf(x/sqrt 2) cancels: the bound is relative to |x|."""
    b = GraphBuilder()
    b.op("gelu_erf", b.var("x"))
    ref = reference(b.build(), {"x": -8.0})
    assert abs(ref.value()) < 1e-13
    assert 8 * UNIT < ref.bounds.value_tolerance() < 1e3 * 8 * UNIT


def test_the_numeric_reference_recomputes_only_the_displaced_cone() -> None:
    """Same numbers, digit for digit, as evaluating the whole graph again."""
    import mpmath

    from gradcheck.internal.expr.graph import GraphBuilder
    from gradcheck.internal.refs.numeric import DIGITS, STEP, numeric_reference

    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    t = b.op("tanh", b.op("mul", x, b.const(0.3)))
    b.op("add", b.op("mul", t, y), b.op("exp", y))
    graph, point = b.build(), {"x": 0.7, "y": -1.2}
    got = numeric_reference(graph, point)
    with mpmath.workdps(DIGITS):
        base = {k: mpmath.mpf(v) for k, v in point.items()}
        for name in graph.variables:
            h = STEP * max(1, abs(base[name]))
            up = graph.evaluate(dict(base, **{name: base[name] + h}))[-1]
            down = graph.evaluate(dict(base, **{name: base[name] - h}))[-1]
            assert got.gradients[name] == (up - down) / (2 * h)
        assert got.value == graph.evaluate(base)[-1]
