"""The newer ops of the table: references, tolerances and a correct engine.

For each op, a correct float64 engine (`tests/engines/wide_engine.py`) must
land inside the tolerance at every random point, and an engine with a wrong
derivative must land outside it. The engine is driven directly here, node by
node, without the checker's worker.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from cli_runner import run_cli
from engines.wide_engine import Value
from hypothesis import given, settings

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import CONST, VAR, Graph, GraphBuilder
from gradcheck.internal.expr.ops import FUNCTION_OPS, FUNCTIONS, OPS, SPELLINGS
from gradcheck.internal.expr.parser import parse
from gradcheck.internal.refs import form_matching as forms
from gradcheck.internal.refs.points import sample_point
from gradcheck.internal.refs.references import Reference, domain_problem, reference
from gradcheck.strategies import graphs_with_points

NEW_OPS = (
    "pow_var", "rpow", "sin", "cos", "sqrt", "abs", "softplus",
    "leaky_relu", "gelu_erf", "gelu_tanh", "erf",
)  # fmt: skip
POINTS = 50

# How the wide engine spells each op (gelu_tanh is gelu(approximate="tanh")).
Apply = Callable[[list[Any], float | None], Any]
ENGINE_OPS: dict[str, Apply] = {
    "add": lambda a, c: a[0] + a[1],
    "sub": lambda a, c: a[0] - a[1],
    "mul": lambda a, c: a[0] * a[1],
    "div": lambda a, c: a[0] / a[1],
    "neg": lambda a, c: -a[0],
    "pow": lambda a, c: a[0] ** c,
    "pow_var": lambda a, c: a[0] ** a[1],
    "add_const": lambda a, c: a[0] + c,
    "mul_const": lambda a, c: a[0] * c,
    "rpow": lambda a, c: c ** a[0],
    "sin": lambda a, c: a[0].sin(),
    "cos": lambda a, c: a[0].cos(),
    "sqrt": lambda a, c: a[0].sqrt(),
    "abs": lambda a, c: abs(a[0]),
    "softplus": lambda a, c: a[0].softplus(),
    "leaky_relu": lambda a, c: a[0].leaky_relu(c),
    "gelu_erf": lambda a, c: a[0].gelu(),
    "gelu_tanh": lambda a, c: a[0].gelu("tanh"),
    "erf": lambda a, c: a[0].erf(),
    "tanh": lambda a, c: a[0].tanh(),
    "exp": lambda a, c: a[0].exp(),
}
# A constant for the ops that carry one.
CONSTANT = {"rpow": 3.0, "leaky_relu": 0.2}


def run_engine(
    graph: Graph, point: dict[str, float], value_class: type = Value
) -> tuple[float, dict[str, float]]:
    """Build `graph` from `value_class` values, run backward; output and grads."""
    nodes: list[Any] = []
    leaves: dict[str, Any] = {}
    for node in graph.nodes:
        if node.op == VAR:
            leaves.setdefault(node.name, value_class(point[node.name]))
            nodes.append(leaves[node.name])
        elif node.op == CONST:
            nodes.append(value_class(node.constant))
        else:
            args = [nodes[a] for a in node.args]
            nodes.append(ENGINE_OPS[node.op](args, node.constant))
    out = nodes[-1]
    out.backward()
    return out.data, {name: v.grad for name, v in leaves.items()}


def ratios(ref: Reference, data: float, grads: dict[str, float]) -> dict[str, float]:
    """|engine - exact| / tolerance for the value and every gradient."""
    found = {"value": abs(data - ref.value()) / ref.bounds.value_tolerance()}
    for i, node in enumerate(ref.graph.nodes):
        if node.op == VAR:
            error = abs(grads[node.name] - float(ref.gradient(node.name)))
            found[node.name] = error / ref.bounds.grad_tolerance(i)
    return found


def single(name: str) -> Graph:
    """`op(x)`, or `x ** y` for pow_var."""
    b = GraphBuilder()
    args = [b.var("x"), b.var("y")][: OPS[name].arity]
    b.op(name, *args, constant=CONSTANT.get(name))
    return b.build()


def composite(name: str) -> Graph:
    """The op on a computed input that is reused: t = op(x*y + x); t*x + t + x."""
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    inner = b.op("add", b.op("mul", x, y), x)
    args = [inner, y][: OPS[name].arity]
    t = b.op(name, *args, constant=CONSTANT.get(name))
    b.op("add", b.op("add", b.op("mul", t, x), t), x)
    return b.build()


def worst_ratio(graph: Graph, seed: int, value_class: type = Value) -> float:
    """The largest error/tolerance ratio over `POINTS` random points."""
    rng = random.Random(seed)
    worst = 0.0
    checked = 0
    for _ in range(POINTS):
        point = sample_point(graph, rng)
        if point is None:
            continue
        ref = reference(graph, point)
        assert ref.conclusive, ref.disagreement
        data, grads = run_engine(graph, point, value_class)
        worst = max(worst, *ratios(ref, data, grads).values())
        checked += 1
    assert checked >= POINTS // 2, "too few points inside the domain"
    return worst


# -- the table ------------------------------------------------------------------


def test_every_op_names_its_method_or_its_dunder() -> None:
    for op in OPS.values():
        assert (op.method is None) != (op.dunder is None), op.name
        if op.dunder is not None:
            assert op.dunder.startswith("__") and op.dunder.endswith("__")
    assert OPS["pow_var"].dunder == OPS["pow"].dunder == "__pow__"
    assert OPS["rpow"].dunder == "__rpow__" and OPS["abs"].dunder == "__abs__"
    assert OPS["gelu_erf"].method == OPS["gelu_tanh"].method == "gelu"


def test_every_callable_function_is_an_op() -> None:
    assert set(FUNCTIONS) >= {"sin", "cos", "sqrt", "abs", "softplus", "erf"}
    for name in FUNCTIONS:
        assert FUNCTION_OPS[name] in OPS


@pytest.mark.parametrize(
    ("text", "op", "constant"),
    [
        ("x**y", "pow_var", None),
        ("2**x", "rpow", 2.0),
        ("0.5**(x*y)", "rpow", 0.5),
        ("sin(x)", "sin", None),
        ("cos(x)", "cos", None),
        ("sqrt(x)", "sqrt", None),
        ("abs(x)", "abs", None),
        ("softplus(x)", "softplus", None),
        ("leaky_relu(x)", "leaky_relu", 0.01),
        ("leaky_relu(x, 0.2)", "leaky_relu", 0.2),
        ("gelu(x)", "gelu_erf", None),
        ("gelu_tanh(x)", "gelu_tanh", None),
        ("erf(x)", "erf", None),
    ],
)
def test_parser_round_trips_each_new_function(
    text: str, op: str, constant: float | None
) -> None:
    graph = parse(text)
    assert graph.nodes[-1].op == op
    assert graph.nodes[-1].constant == constant
    assert parse(graph.to_text()) == graph


# -- references -------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_OPS)
def test_references_agree_at_random_points(name: str) -> None:
    rng = random.Random(name)
    for graph in (single(name), composite(name)):
        for _ in range(20):
            point = sample_point(graph, rng)
            assert point is not None
            ref = reference(graph, point)
            assert ref.conclusive, ref.disagreement


@settings(max_examples=40, deadline=None)
@given(graphs_with_points(ops=("add", "mul", *NEW_OPS), max_nodes=12))
def test_random_graphs_of_new_ops_have_conclusive_references(
    example: tuple[Graph, dict[str, float]],
) -> None:
    graph, point = example
    ref = reference(graph, point)
    assert ref.conclusive, ref.disagreement


def test_random_graphs_draw_pow_var_with_two_operands() -> None:
    """pow_var's domain is checked on both operands, so draws of it succeed."""
    seen = []

    @settings(max_examples=30, deadline=None, database=None)
    @given(graphs_with_points(ops=("pow_var", "add"), max_nodes=6))
    def draw(example: tuple[Graph, dict[str, float]]) -> None:
        graph, point = example
        seen.append("pow_var" in graph.ops_used())
        reference(graph, point)  # raises PointError outside the domain

    draw()
    assert any(seen)


# -- a correct engine passes, a wrong one does not ----------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("name", NEW_OPS)
def test_the_correct_wide_engine_is_within_tolerance(name: str) -> None:
    for k, graph in enumerate((single(name), composite(name))):
        assert worst_ratio(graph, seed=k) < 1.0, graph.to_text()


def _wrong(method: str, rule: Callable[[float], float]) -> type:
    """A `Value` subclass whose `method` has the local derivative `rule`."""

    def broken(self: Value, *args: Any) -> Value:
        right = getattr(Value, method)(self, *args)
        return self._unary(right.data, rule(self.data), "wrong")

    return type(f"Wrong_{method}", (Value,), {method: broken})


WRONG: dict[str, tuple[type, str]] = {
    "sin": (_wrong("sin", lambda x: -math.cos(x)), "sin' = -cos"),
    "cos": (_wrong("cos", math.sin), "cos' = sin"),
    "sqrt": (_wrong("sqrt", lambda x: 1 / math.sqrt(x)), "sqrt' misses 1/2"),
    "softplus": (_wrong("softplus", math.exp), "softplus' = exp"),
    "erf": (_wrong("erf", lambda x: math.exp(-x * x)), "erf' misses 2/sqrt(pi)"),
    "gelu_erf": (
        _wrong("gelu", lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))),
        "gelu' = Phi only",
    ),
    "abs": (_wrong("__abs__", lambda x: 1.0), "abs' = 1 everywhere"),
    "leaky_relu": (_wrong("leaky_relu", lambda x: 1.0 if x > 0 else 0.0), "relu'"),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_derivative_is_outside_the_tolerance(name: str) -> None:
    wrong, what = WRONG[name]
    graph = single(name)
    assert worst_ratio(graph, seed=1, value_class=wrong) > 1e6, what


class _DropsExponentGrad(Value):
    """x ** y that forgets d/dy, as one real engine does."""

    def _pow_value(self, other: Value) -> Value:
        a, b = self.data, other.data
        return self._unary(math.pow(a, b), b * math.pow(a, b - 1), "**")


def test_a_pow_var_without_d_dy_is_outside_the_tolerance() -> None:
    assert worst_ratio(single("pow_var"), seed=2, value_class=_DropsExponentGrad) > 1e6


class _Textbook(Value):
    """Correct but plain formulas: log(1 + e**x), exp(b log a), exp-based tanh."""

    def softplus(self) -> Value:
        e = math.exp(self.data)
        return self._unary(math.log(1 + e), 1 - 1 / (1 + e), "softplus")

    def sqrt(self) -> Value:
        x = self.data
        return self._unary(x**0.5, 0.5 * x**-0.5, "sqrt")

    def _pow_value(self, other: Value) -> Value:
        return (other * self.log()).exp()

    def __rpow__(self, base: float) -> Value:
        return (self * math.log(base)).exp()

    def gelu(self, approximate: str = "none") -> Value:
        x = self
        if approximate == "tanh":
            e = (2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)).exp()
            return 0.5 * x * (1 + (e - 1) / (e + 1))
        return 0.5 * x * (1 + (x * (1 / math.sqrt(2))).erf())


def _wide_points(
    graph: Graph, rng: random.Random, count: int
) -> list[dict[str, float]]:
    """Points over the whole domain: magnitudes from 1e-3 to 2e4, both signs."""
    points: list[dict[str, float]] = []
    for _ in range(100 * count):
        point = {v: rng.choice((-1, 1)) * 10 ** rng.uniform(-3, 4.3)
                 for v in graph.variables}  # fmt: skip
        if "y" in point and rng.random() < 0.5:
            point["y"] = rng.uniform(-3, 3)  # exponents that keep x**y finite
        if domain_problem(graph, point) is None:
            points.append(point)
            if len(points) == count:
                break
    return points


@pytest.mark.heavy
@pytest.mark.parametrize("name", NEW_OPS)
def test_correct_formulas_stay_within_tolerance_over_the_whole_domain(
    name: str,
) -> None:
    rng = random.Random(f"wide {name}")
    runs = [(single(name), _Textbook), (single(name), Value), (composite(name), Value)]
    for graph, value_class in runs:
        points = _wide_points(graph, rng, 40)
        assert len(points) >= 20
        for point in points:
            ref = reference(graph, point)
            assert ref.conclusive, ref.disagreement
            data, grads = run_engine(graph, point, value_class)
            worst = max(ratios(ref, data, grads).values())
            assert worst < 1.0, (graph.to_text(), point, value_class.__name__)


# -- one method, several ops ---------------------------------------------------------


def test_spellings_cover_every_op_and_share_gelu_and_pow() -> None:
    assert SPELLINGS["gelu"] == ("gelu_erf", "gelu_tanh")
    assert SPELLINGS["__pow__"] == ("pow", "pow_var")
    assert {n for names in SPELLINGS.values() for n in names} == set(OPS)


@pytest.mark.parametrize(
    ("approximate", "form"), [("none", "gelu_erf"), ("tanh", "gelu_tanh")]
)
def test_the_gelu_form_is_told_apart_by_the_forward_value(
    approximate: str, form: str
) -> None:
    values = {x: Value(x).gelu(approximate).data for x in forms.FORM_PROBES}
    assert forms.identify("gelu", values) == form


def test_a_gelu_with_a_wrong_forward_matches_no_form() -> None:
    values = {x: 1.001 * Value(x).gelu().data for x in forms.FORM_PROBES}
    assert forms.identify("gelu", values) is None
    assert forms.identify("no_such_method", {1.0: 1.0}) is None


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.1])
def test_the_leaky_relu_slope_is_measured(slope: float) -> None:
    measured = forms.slope(Value(forms.SLOPE_PROBE).leaky_relu(slope).data)
    assert measured == slope


# -- the built-in engine implements the whole table -----------------------------


@pytest.mark.heavy(seconds=8)
@pytest.mark.parametrize("name", NEW_OPS)
def test_the_built_in_engine_is_within_tolerance(name: str) -> None:
    import micrograd

    for k, graph in enumerate((single(name), composite(name))):
        assert worst_ratio(graph, seed=k, value_class=micrograd.Value) < 1.0, (
            graph.to_text()
        )


# -- points the user gives: no margins, and overflow called overflow -------------


def test_overflow_is_called_a_limit_of_float64() -> None:
    problem = domain_problem(parse("log(1 + exp(x))"), {"x": 800.0})
    assert problem is not None
    assert problem.startswith("float64 overflows at exp(800)")
    assert "not an error" in problem and "not smooth" not in problem


def test_a_value_inside_float64_but_past_the_judged_range_is_not_called_overflow() -> (
    None
):
    # exp(700) = 1.01e304 exists in float64: only too close to its top.
    problem = domain_problem(parse("exp(x)"), {"x": 700.0})
    assert problem is not None
    assert problem.startswith("exp(700) = 1.01e+304 is beyond 1e+300")
    assert "overflows" not in problem and "not an error" in problem


def test_an_inconclusive_rows_verdict_is_not_wrong() -> None:
    code, out, _ = run_cli("relu(x)", "--at", "x=0")
    assert code == 3, out
    [row] = [line for line in out.splitlines() if line.strip().startswith("x ")]
    assert "WRONG" not in row and row.split()[-1] == "-", row


@pytest.mark.parametrize(
    ("text", "x"), [("sin(x)/x", 1e-8), ("relu(x)", 1e-9), ("exp(x)", 31.0)]
)
def test_a_users_point_near_an_edge_keeps_no_margin(text: str, x: float) -> None:
    graph = parse(text)
    assert domain_problem(graph, {"x": x}) is not None  # drawn points keep it
    assert domain_problem(graph, {"x": x}, margins=False) is None
    assert reference(graph, {"x": x}, margins=False).conclusive


@pytest.mark.parametrize(
    ("text", "x", "said"),
    [
        ("log(x)", -1.0, "log has no real value"),
        ("1/x", 0.0, "rdiv has no real value"),
        ("sqrt(x)", 0.0, "sqrt is not smooth or not defined"),
    ],
)
def test_a_users_point_off_the_domain_is_still_refused(
    text: str, x: float, said: str
) -> None:
    graph = parse(text)
    with pytest.raises(PointError, match=said):
        reference(graph, {"x": x}, margins=False)


def test_a_users_point_at_a_kink_is_inconclusive() -> None:
    ref = reference(parse("relu(x)"), {"x": 0.0}, margins=False)
    assert not ref.conclusive


@pytest.mark.heavy
def test_the_formula_of_the_issue_passes_on_the_built_in_engine() -> None:
    code, out, err = run_cli(
        "sin(x)/x + sqrt(abs(y)) + softplus(x*y)", "--at", "x=0.5", "--at", "y=-2"
    )
    assert (code, err) == (0, ""), out
    assert "backprop" in out and "symbolic" in out and "finite difference" in out
    assert "PASS" in out


@pytest.mark.heavy
def test_sin_x_over_x_near_zero_is_checked() -> None:
    code, out, err = run_cli("sin(x)/x", "--at", "x=1e-8")
    assert (code, err) == (0, ""), out
    assert "does not support" not in out


@pytest.mark.heavy
def test_overflow_at_a_users_point_is_a_limit_not_an_error() -> None:
    """float64 overflows there: nothing is verified (exit 3), and it says why."""
    code, out, err = run_cli("log(1+exp(x))", "--at", "x=800")
    assert (code, err) == (3, "")
    assert "float64 overflows at exp(800)" in out and "INCONCLUSIVE" in out
    assert "passed" not in out.splitlines()[-1]
    code, out, err = run_cli("log(1+exp(x))", "--at", "x=800", "--json")
    (result,) = json.loads(out)["results"]
    assert (code, result["status"], result["category"]) == (3, "inconclusive", "limit")
