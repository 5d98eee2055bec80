"""The shortcuts that make the references cheaper, each checked on its own.

The references keep a plan per graph (`refs/plan.py`), hand the shipped ops
their constants as mpf, and decide agreement in floats when the gap leaves
no doubt. Each shortcut must give exactly what the long way gives;
`test_refs_numbers.py` checks the whole numbers.
"""

from __future__ import annotations

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck.internal.expr.graph import CONST, VAR, Graph, GraphBuilder, Node
from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.internal.refs.numeric import numeric_reference
from gradcheck.internal.refs.plan import Plan, plan_of
from gradcheck.internal.refs.references import (
    AGREEMENT,
    _differ,
    clear_cache,
    reference,
)

SAMPLES = (-2.7, -0.45, 0.07, 0.9, 3.1, 25.0)


@pytest.mark.parametrize("name", sorted(n for n in OPS if OPS[n].takes_constant))
def test_a_shipped_op_takes_its_constant_as_mpf_alike(name: str) -> None:
    op = OPS[name]
    for constant in CONSTANT_CHOICES.get(name, (2.0, -0.5, 0.1, 1e8)):
        for x in SAMPLES:
            if not op.in_domain([x], constant):
                continue
            with mpmath.workdps(80):
                a = mpmath.mpf(x)
                want = op.mp(a, constant)
                got = op.mp(a, mpmath.mpf(constant))
            assert repr(got) == repr(want), (name, constant, x)


def _exact_differ(s: mpmath.mpf, n: mpmath.mpf, magnitude: float | None) -> bool:
    with mpmath.workdps(30):
        if magnitude is None:
            scale = max(abs(s), mpmath.mpf(1e-30))
        else:
            scale = max(abs(s), abs(n), mpmath.mpf(magnitude), mpmath.mpf(1e-30))
        return bool(abs(s - n) > AGREEMENT * scale)


@settings(max_examples=400)
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(0.05, 20.0),
    st.sampled_from([None, 0.0, 1e-40, 3.0, 1e12]),
    st.sampled_from([1, -1]),
    st.integers(-1200, 1200),
)
def test_agreement_decided_in_floats_is_the_30_digit_decision(
    x: float, ratio: float, magnitude: float | None, sign: int, shift: int
) -> None:
    """Gaps around the limit (a ratio of 0.05 to 20 of it), numbers of every
    size, beyond the float range too (`shift`)."""
    with mpmath.workdps(60):
        s = mpmath.mpf(x) * mpmath.mpf(2) ** shift
        gap = AGREEMENT * max(abs(s), mpmath.mpf(1e-30)) * ratio
        n = s + sign * gap
    with mpmath.workdps(30):
        got = _differ(s, n, magnitude)
    assert got == _exact_differ(s, n, magnitude)


def test_agreement_with_numbers_that_are_not_finite_or_not_real() -> None:
    inf, nan, one = mpmath.inf, mpmath.nan, mpmath.mpf(1)
    pairs = [(inf, inf), (inf, one), (nan, one), (inf, -inf), (one, nan)]
    pairs += [(mpmath.mpc(1, 1e-30), one), (one, mpmath.mpc(1, 1))]
    for s, n in pairs:
        for magnitude in (None, 1.0):
            with mpmath.workdps(30):
                assert _differ(s, n, magnitude) == _exact_differ(s, n, magnitude)


def test_a_cone_holds_the_nodes_that_depend_on_its_variable() -> None:
    b = GraphBuilder()
    x, y, z = b.var("x"), b.var("y"), b.var("z")
    t = b.op("mul", x, y)
    b.op("add", b.op("tanh", t), b.op("exp", z))
    plan = Plan(b.build())
    assert plan.variables == ("x", "y", "z")
    assert [s[0] for s in plan.cones["x"].steps] == [3, 4, 6]
    assert [s[0] for s in plan.cones["z"].steps] == [5, 6]
    assert all(c.reaches_output for c in plan.cones.values())


def test_a_variable_the_output_does_not_use_has_a_zero_derivative() -> None:
    graph = Graph(
        (Node(VAR, name="x"), Node(VAR, name="y"), Node("tanh", (0,)))
    )  # y is a leaf nobody reads: no pruning here
    plan = Plan(graph)
    assert not plan.cones["y"].reaches_output
    result = numeric_reference(graph, {"x": 0.5, "y": 2.0})
    assert result.gradients["y"] == 0


def test_a_constant_leaf_and_an_op_constant_have_their_own_places() -> None:
    graph = Graph(
        (
            Node(VAR, name="x"),
            Node(CONST, constant=0.25),
            Node("add_const", (0,), 1.5),
            Node("mul", (2, 1)),
        )
    )
    plan = Plan(graph)
    assert plan.constants == [(1, 0.25)]
    assert plan.slots == [(4, 1.5, True)] and plan.size == 5
    assert plan.output == 3
    result = numeric_reference(graph, {"x": 2.0})
    assert result.value == mpmath.mpf("0.875")


def test_a_declared_op_gets_a_new_plan_and_the_shipped_one_back() -> None:
    b = GraphBuilder()
    b.op("mul_const", b.op("tanh", b.var("x")), constant=2.0)
    graph = b.build()
    clear_cache()
    shipped = reference(graph, {"x": 0.5}).value()
    assert plan_of(graph).slots[0][2]  # the shipped op: an exact mpf slot
    with declared_ops({"tanh": "tanh(x) + 1"}):
        declared = reference(graph, {"x": 0.5}).value()
    assert declared == pytest.approx(shipped + 2.0)
    assert reference(graph, {"x": 0.5}).value() == shipped
    with declared_ops({"mul_const": "x * c * c"}):
        assert not plan_of(graph).slots[0][2]  # declared: the float, as before
        assert reference(graph, {"x": 0.5}).value() == pytest.approx(shipped * 2.0)


def test_plans_are_kept_within_their_node_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gradcheck.internal.refs import plan

    monkeypatch.setattr(plan, "NODE_BUDGET", 10)
    clear_cache()
    graphs = []
    for k in range(4):
        b = GraphBuilder()
        b.op("add_const", b.op("tanh", b.var("x")), constant=float(k))
        graphs.append(b.build())  # 3 nodes each
    kept = [plan_of(g) for g in graphs]
    assert plan._held[0] == 9 and len(plan._PLANS) == 3  # the first went out
    assert plan_of(graphs[3]) is kept[3]
    assert plan_of(graphs[0]) is not kept[0]
    b = GraphBuilder()
    node = b.var("x")
    for _ in range(12):
        node = b.op("neg", node)
    large = b.build()  # 13 nodes: over the budget, kept alone
    assert plan_of(large) is plan_of(large)
    assert plan._held[0] <= 10 and large not in plan._PLANS
    clear_cache()
