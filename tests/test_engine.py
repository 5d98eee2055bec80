"""micrograd.engine: every op's value and gradient against mpmath, errors,
reuse, deep graphs, repeated backward and zero_grad."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath
import pytest
from hypothesis import assume, given, reject
from hypothesis import strategies as st

import micrograd
from micrograd import Value

mpmath.mp.dps = 50

# |got - want| <= 1e-12 * |want| + 1e-14. The absolute part is for results
# that a float op can only give to about 1e-16 absolute, e.g. 1 - tanh(x)**2
# computed from the rounded tanh(x) at large x.
REL, ABS = 1e-12, 1e-14


def close(got: float, want: Any) -> bool:
    return math.isclose(got, float(want), rel_tol=REL, abs_tol=ABS)


def mp_relu(x: Any) -> Any:
    return x if x > 0 else mpmath.mpf(0)


def mp_sigmoid(x: Any) -> Any:
    return 1 / (1 + mpmath.exp(-x))


def mp_gelu(x: Any) -> Any:
    return x * mpmath.ncdf(x)


def mp_gelu_tanh(x: Any) -> Any:
    u = mpmath.sqrt(2 / mpmath.pi) * (x + mpmath.mpf("0.044715") * x**3)
    return x * (1 + mpmath.tanh(u)) / 2


Unary = tuple[Callable[[Value], Value], Callable[[Any], Any], Callable[[Any], Any]]


def power(n: float) -> Unary:
    """The engine's v**n, mpmath's x**n and its derivative n * x**(n - 1)."""
    m = mpmath.mpf(n)
    return (
        lambda v: v**n,
        lambda x: x**m,
        lambda x: m * x ** (m - 1) if n else mpmath.mpf(0),
    )


# name -> (engine op, mpmath function, its derivative written independently
# of the engine's rule: sech**2 for tanh, e**-x / (1 + e**-x)**2 for sigmoid)
UNARY: dict[str, Unary] = {
    "neg": (lambda v: -v, lambda x: -x, lambda x: mpmath.mpf(-1)),
    "tanh": (Value.tanh, mpmath.tanh, lambda x: mpmath.sech(x) ** 2),
    "exp": (Value.exp, mpmath.exp, mpmath.exp),
    "log": (Value.log, mpmath.log, lambda x: 1 / x),
    "relu": (Value.relu, mp_relu, lambda x: mpmath.mpf(1 if x > 0 else 0)),
    "sigmoid": (
        Value.sigmoid,
        mp_sigmoid,
        lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2,
    ),
    **{f"**{n:g}": power(n) for n in (2, 3, -1, -2, 0.5, 1.5, 0, 1)},
    # The ops of the checker's whole table; derivatives by mpmath.diff of the
    # definition, or the textbook form, never the engine's rule.
    "sin": (Value.sin, mpmath.sin, mpmath.cos),
    "cos": (Value.cos, mpmath.cos, lambda x: -mpmath.sin(x)),
    "sqrt": (Value.sqrt, mpmath.sqrt, lambda x: 1 / (2 * mpmath.sqrt(x))),
    "abs": (abs, abs, lambda x: mpmath.mpf(1 if x > 0 else -1)),
    "softplus": (
        Value.softplus,
        lambda x: mpmath.log(1 + mpmath.exp(x)),
        lambda x: 1 / (1 + mpmath.exp(-x)),
    ),
    "leaky_relu": (
        Value.leaky_relu,
        lambda x: x if x > 0 else mpmath.mpf("0.01") * x,
        lambda x: mpmath.mpf(1 if x > 0 else "0.01"),
    ),
    "leaky_relu0.2": (
        lambda v: v.leaky_relu(0.2),
        lambda x: x if x > 0 else mpmath.mpf("0.2") * x,
        lambda x: mpmath.mpf(1 if x > 0 else "0.2"),
    ),
    "gelu": (Value.gelu, mp_gelu, lambda x: mpmath.diff(mp_gelu, x)),
    "gelu_tanh": (
        lambda v: v.gelu("tanh"),
        mp_gelu_tanh,
        lambda x: mpmath.diff(mp_gelu_tanh, x),
    ),
    "erf": (
        Value.erf,
        mpmath.erf,
        lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-(x**2)),
    ),
    "2**x": (lambda v: 2**v, lambda x: 2**x, lambda x: 2**x * mpmath.log(2)),
    "0.5**x": (
        lambda v: 0.5**v,
        lambda x: mpmath.mpf("0.5") ** x,
        lambda x: mpmath.mpf("0.5") ** x * mpmath.log(mpmath.mpf("0.5")),
    ),
}

POINTS: dict[str, list[float]] = {
    "neg": [-3.5, -0.25, 0.0, 1.0, 7.0],
    "tanh": [-20.0, -3.0, -0.5, 0.0, 0.1, 1.0, 4.0, 19.0],
    "exp": [-700.0, -30.0, -1.0, 0.0, 0.5, 3.0, 700.0],
    "log": [1e-300, 1e-5, 0.5, 1.0, 2.0, 1e10, 1e300],
    "relu": [-5.0, -1e-300, 0.0, 1e-300, 0.3, 12.0],
    "sigmoid": [-700.0, -36.0, -2.0, 0.0, 0.7, 5.0, 36.0, 700.0],
    "**2": [-1e100, -3.0, 0.0, 0.5, 1e100],
    "**3": [-10.0, -0.2, 0.0, 2.0],
    "**-1": [-4.0, -0.1, 1e-3, 2.0],
    "**-2": [-4.0, 0.5, 3.0],
    "**0.5": [1e-12, 0.25, 2.0, 1e12],
    "**1.5": [0.0, 0.3, 9.0],
    "**0": [-2.0, 0.0, 5.0],
    "**1": [-2.0, 0.0, 5.0],
    "sin": [-20.0, -1.5, 0.0, 1e-8, 0.5, 3.0, 1000.0],
    "cos": [-20.0, -1.5, 0.0, 1e-8, 0.5, 3.0, 1000.0],
    "sqrt": [1e-300, 1e-12, 0.25, 2.0, 1e300],
    "abs": [-1e300, -2.5, -1e-300, 0.0, 1e-300, 3.0],
    "softplus": [-800.0, -40.0, -2.0, -1e-9, 0.0, 1e-9, 0.5, 20.0, 40.0, 800.0],
    "leaky_relu": [-5.0, -1e-300, 0.0, 1e-300, 0.3, 12.0],
    "leaky_relu0.2": [-5.0, 0.0, 0.3],
    "gelu": [-20.0, -5.0, -0.5, 0.0, 1e-9, 0.5, 3.0, 20.0],
    "gelu_tanh": [-5.0, -0.5, 0.0, 0.5, 3.0],
    "erf": [-20.0, -3.0, -0.5, 0.0, 1e-9, 0.5, 3.0, 20.0],
    "2**x": [-1000.0, -3.0, 0.0, 0.5, 10.0, 1000.0],
    "0.5**x": [-1000.0, -3.0, 0.0, 0.5, 10.0, 1000.0],
}

UNARY_CASES = [(name, x) for name, points in POINTS.items() for x in points]


def test_every_unary_op_has_points() -> None:
    assert set(POINTS) == set(UNARY)


@pytest.mark.parametrize(("name", "x"), UNARY_CASES)
def test_unary_op_value_and_gradient(name: str, x: float) -> None:
    op, reference, derivative = UNARY[name]
    a = Value(x)
    out = op(a)
    out.backward()
    assert close(out.data, reference(mpmath.mpf(x)))
    assert close(a.grad, derivative(mpmath.mpf(x)))
    assert out.grad == 1.0


@pytest.mark.parametrize("name", ["tanh", "exp", "log", "sigmoid", "**3", "**-2"])
def test_analytic_derivatives_agree_with_mpmath_diff(name: str) -> None:
    _, reference, derivative = UNARY[name]
    x = mpmath.mpf("0.75")
    assert mpmath.almosteq(mpmath.diff(reference, x), derivative(x), 1e-40)


BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "+": (lambda a, b: a + b, lambda x, y: x + y),
    "-": (lambda a, b: a - b, lambda x, y: x - y),
    "*": (lambda a, b: a * b, lambda x, y: x * y),
    "/": (lambda a, b: a / b, lambda x, y: x / y),
}
BINARY_POINTS = [(2.0, -3.0), (-0.5, 0.25), (1e10, 1e-10), (0.0, 7.0), (-6.0, -6.0)]


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize(("x", "y"), BINARY_POINTS)
def test_binary_op_value_and_gradient(name: str, x: float, y: float) -> None:
    op, reference = BINARY[name]
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    mx, my = mpmath.mpf(x), mpmath.mpf(y)
    assert close(out.data, reference(mx, my))
    assert close(a.grad, mpmath.diff(reference, (mx, my), (1, 0)))
    assert close(b.grad, mpmath.diff(reference, (mx, my), (0, 1)))


@pytest.mark.parametrize("name", list(BINARY))
def test_reflected_op_with_a_plain_number(name: str) -> None:
    op, reference = BINARY[name]
    a = Value(-1.5)
    out = op(4, a)  # int on the left: calls __radd__, __rsub__, ...
    out.backward()
    assert close(out.data, reference(mpmath.mpf(4), mpmath.mpf(-1.5)))
    assert close(a.grad, mpmath.diff(lambda y: reference(4, y), mpmath.mpf(-1.5)))
    # and a plain number on the right, which becomes a leaf too
    right = op(a, 2.5)
    assert close(right.data, reference(mpmath.mpf(-1.5), mpmath.mpf(2.5)))


def test_reflected_pow_uses_a_value_exponent() -> None:
    b = Value(3.0)
    out = 2**b
    out.backward()
    assert close(out.data, 8)
    assert close(b.grad, 8 * mpmath.log(2))


def test_value_exponent_positive_base() -> None:
    a, b = Value(2.0), Value(3.0)
    out = a**b
    out.backward()
    assert close(out.data, 8)
    assert close(a.grad, 12)  # b * a**(b - 1)
    assert close(b.grad, 8 * mpmath.log(2))  # a**b * log(a)


@pytest.mark.parametrize("base", [0.0, -2.0])
def test_value_exponent_nonpositive_base_raises(base: float) -> None:
    with pytest.raises(ValueError, match="positive base"):
        Value(base) ** Value(2.0)


def test_pos_is_identity() -> None:
    a = Value(1.5)
    assert +a is a


# -- errors -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1.0", None, 1j, [1.0], object()])
def test_value_of_a_non_number_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="real number"):
        Value(bad)


@pytest.mark.parametrize("bad", ["1.0", None, 1j])
@pytest.mark.parametrize(
    "op",
    [
        lambda a, x: a + x,
        lambda a, x: x + a,
        lambda a, x: a - x,
        lambda a, x: x - a,
        lambda a, x: a * x,
        lambda a, x: x * a,
        lambda a, x: a / x,
        lambda a, x: x / a,
        lambda a, x: a**x,
    ],
)
def test_op_with_a_non_number_is_a_type_error(op: Any, bad: Any) -> None:
    with pytest.raises(TypeError):
        op(Value(2.0), bad)


@pytest.mark.parametrize(
    ("given", "stored"), [(3, 3.0), (True, 1.0), (Fraction(1, 4), 0.25)]
)
def test_real_numbers_become_floats(given: Any, stored: float) -> None:
    v = Value(given)
    assert type(v.data) is float
    assert v.data == stored


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -1e-300])
def test_log_of_nonpositive_names_log_and_the_value(x: float) -> None:
    with pytest.raises(ValueError, match="log") as info:
        Value(x).log()
    assert repr(x) in str(info.value)


def test_zero_to_a_negative_power() -> None:
    with pytest.raises(ZeroDivisionError, match="pow"):
        Value(0.0) ** -1


def test_division_by_zero() -> None:
    with pytest.raises(ZeroDivisionError, match="div"):
        Value(1.0) / 0


def test_exp_overflow() -> None:
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


def test_pow_overflow() -> None:
    with pytest.raises(OverflowError, match="pow"):
        Value(1e200) ** 3


@pytest.mark.parametrize("exponent", [0.5, -1.5, 1 / 3])
def test_negative_base_fractional_exponent(exponent: float) -> None:
    with pytest.raises(ValueError, match="negative base"):
        Value(-2.0) ** exponent


def test_negative_base_integer_exponent_is_fine() -> None:
    a = Value(-2.0)
    out = a**3.0
    out.backward()
    assert (out.data, a.grad) == (-8.0, 12.0)


def test_infinite_derivative_of_a_fractional_power_at_zero() -> None:
    out = Value(0.0) ** 0.5
    assert out.data == 0.0
    with pytest.raises(ZeroDivisionError, match="infinite"):
        out.backward()


def test_constructor_rejects_malformed_nodes() -> None:
    a = Value(1.0)
    with pytest.raises(ValueError):
        Value(1.0, (a,), "")
    with pytest.raises(ValueError):
        Value(1.0, (), "+")
    with pytest.raises(ValueError):
        Value(1.0, (a, a, a), "+")
    with pytest.raises(ValueError):
        Value(1.0, (a,), "cosh")
    with pytest.raises(ValueError, match="1 operand"):
        Value(1.0, (a,), "+")
    with pytest.raises(ValueError, match="2 operand"):
        Value(1.0, (a, a), "tanh")


def test_constructor_builds_a_working_node() -> None:
    a, b = Value(2.0), Value(5.0)
    out = Value(10.0, (a, b), "*")
    out.backward()
    assert (a.grad, b.grad) == (5.0, 2.0)


# -- reuse ------------------------------------------------------------------


def test_a_plus_a() -> None:
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0


def test_a_times_a() -> None:
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0


def test_a_minus_a_and_a_over_a() -> None:
    a = Value(3.0)
    (a - a).backward()
    assert a.grad == 0.0
    b = Value(3.0)
    (b / b).backward()
    assert b.grad == 0.0


def test_diamond_from_micrograd_issue_2() -> None:
    a = Value(1.0)
    b = a + a
    c = b + b
    c.backward()
    assert (a.grad, b.grad, c.grad) == (4.0, 2.0, 1.0)


def test_diamond_through_every_unary_op() -> None:
    for name, (op, reference, derivative) in UNARY.items():
        x = 0.7 if name in ("log", "sqrt", "**0.5", "**1.5") else -0.4
        a = Value(x)
        u = op(a)
        out = u * u + u  # u feeds three uses
        out.backward()
        mx = mpmath.mpf(x)
        want = (2 * reference(mx) + 1) * derivative(mx)  # d(u*u + u) = (2u + 1) du
        assert close(a.grad, want), name


def test_shared_subgraph_diamond() -> None:
    a = Value(1.5)
    b = a * 2
    c = a * 3
    d = b * c  # 6 a**2
    d.backward()
    assert d.data == 13.5
    assert a.grad == 18.0


# -- deep graphs, repeated backward, zero_grad --------------------------------


def test_200k_deep_chain_under_the_default_recursion_limit() -> None:
    assert sys.getrecursionlimit() <= 10_000  # no test raised it for us
    depth = 200_000
    x = leaf = Value(0.5)
    one = Value(1.0)
    for k in range(depth):
        x = x.tanh() if k % 2 else x * one
    x.backward()
    assert 0.0 < leaf.grad < 1.0
    assert len(x.walk()) == depth + 2  # the chain, its leaf and the constant 1.0


def test_repeated_backward_doubles_leaf_gradients_exactly() -> None:
    # micrograd issues #53 and #102: grads grew 16, then 48 instead of 32.
    x = Value(2.0)
    y = x * x
    z = y * y  # x**4, dz/dx = 32
    z.backward()
    first = (x.grad, y.grad, z.grad)
    z.backward()
    assert first == (32.0, 8.0, 1.0)
    assert (x.grad, y.grad, z.grad) == (64.0, 8.0, 1.0)


def test_repeated_backward_on_a_shared_graph() -> None:
    a, b = Value(0.3), Value(-1.2)
    out = (a * b + a).tanh() * b + (a - b).sigmoid()
    out.backward()
    once = (a.grad, b.grad)
    out.backward()
    out.backward()
    # Each call adds its path contributions onto the leaf one by one, so the
    # float sums are 3 * once only up to rounding.
    assert math.isclose(a.grad, 3 * once[0], rel_tol=1e-15)
    assert math.isclose(b.grad, 3 * once[1], rel_tol=1e-15)


def test_backward_on_a_leaf_accumulates() -> None:
    a = Value(1.0)
    a.backward()
    a.backward()
    assert a.grad == 2.0


def test_zero_grad_on_a_graph() -> None:
    a, b = Value(0.3), Value(-1.2)
    out = (a * b).exp() + b
    out.backward()
    assert any(node.grad for node in out.walk())
    out.zero_grad()
    assert all(node.grad == 0.0 for node in out.walk())
    out.backward()
    assert close(a.grad, -1.2 * math.exp(-0.36))


def test_walk_puts_operands_first_and_lists_each_node_once() -> None:
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = e.walk()
    assert len(order) == len({id(n) for n in order}) == 5
    position = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for child in node.children:
            assert position[id(child)] < position[id(node)]
    assert order[-1] is e


def test_walks_of_overlapping_graphs_each_see_their_whole_graph() -> None:
    # Walks mark visited nodes in a slot; a mark left by an earlier walk, or
    # by a walk that an exception stopped, must never hide a node later.
    a, b = Value(2.0), Value(3.0)
    shared = a * b
    first = shared + a
    second = shared * b
    assert len(first.walk()) == 4
    assert len(second.walk()) == 4
    assert len(shared.walk()) == 3
    broken = (Value(0.0) ** 0.5) * shared  # its backward raises half way
    with pytest.raises(ZeroDivisionError):
        broken.backward()
    second.backward()
    assert (a.grad, b.grad) == (9.0, 12.0)


def test_children_and_op() -> None:
    a, b = Value(1.0), Value(2.0)
    assert a.children == () and a.op == ""
    assert (-a).children == (a,) and (-a).op == "neg"
    assert (a + b).children == (a, b)
    p = a**3
    assert (p.op, p.arg, p.children) == ("**", 3.0, (a,))


def test_repr() -> None:
    assert repr(Value(2.0)) == "Value(data=2, grad=0)"
    assert repr(Value(0.5, label="w")) == "Value(w, data=0.5, grad=0)"
    out = Value(1.0) + Value(2.0)
    out.backward()
    assert repr(out) == "Value(data=3, grad=1, op='+')"


def test_public_api_is_exactly_all() -> None:
    public = {
        name
        for name, obj in vars(micrograd).items()
        if not name.startswith("_") and not isinstance(obj, type(micrograd))
    }
    assert set(micrograd.__all__) == public


# -- property test: random expressions against mpmath -----------------------

# Inputs are positive and every op is increasing on positive numbers, so
# every gradient is a sum of positive terms: float results are then accurate
# to a few ulps per op and a relative tolerance is sound. (Division is left
# out: a / a has gradient 0 only up to cancellation, gradcheck's business.)
STEP = st.tuples(
    st.sampled_from(["+", "*", "**2", "**3", "**0.5", "sqrt-by-value"]),
    st.integers(min_value=0),
    st.integers(min_value=0),
)


def replay(steps: list[tuple[str, int, int]], inputs: list[Any], lift: Any) -> Any:
    nodes = list(inputs)
    for op, i, j in steps:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if op == "+":
            nodes.append(a + b)
        elif op == "*":
            nodes.append(a * b)
        elif op == "sqrt-by-value":
            nodes.append(a ** lift(0.5))
        else:
            nodes.append(a ** float(op[2:]))
    return nodes[-1]


@given(
    x=st.floats(0.25, 4.0),
    y=st.floats(0.25, 4.0),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_random_positive_expressions_match_mpmath(
    x: float, y: float, steps: list[tuple[str, int, int]]
) -> None:
    a, b = Value(x), Value(y)
    try:
        out = replay(steps, [a, b], Value)
        out.backward()
    except (OverflowError, ZeroDivisionError):
        reject()
    # Keep to values where floats keep their full precision.
    assume(all(1e-100 < node.data < 1e100 for node in out.walk()))
    assume(all(abs(v.grad) < 1e100 for v in (a, b)))

    def f(u: Any, v: Any) -> Any:
        return replay(steps, [u, v], mpmath.mpf)

    mx, my = mpmath.mpf(x), mpmath.mpf(y)
    want_a = mpmath.diff(f, (mx, my), (1, 0))
    want_b = mpmath.diff(f, (mx, my), (0, 1))
    # abs_tol: an input the output does not use has gradient 0, and mpmath's
    # numerical derivative is then 0 only to about 50 digits.
    tol = {"rel_tol": 1e-11, "abs_tol": 1e-30}
    assert math.isclose(out.data, float(f(mx, my)), **tol)
    assert math.isclose(a.grad, float(want_a), **tol)
    assert math.isclose(b.grad, float(want_b), **tol)


@pytest.mark.parametrize("op", ["+", "*"])
def test_written_out_rules_match_the_table(op: str) -> None:
    # backward() inlines the + and * rules; the table's rules must agree.
    from micrograd.engine import _BACKWARD

    a, b = Value(1.5), Value(-0.25)
    out = a + b if op == "+" else a * b
    out.grad = 0.75
    _BACKWARD[op](out)
    by_table = (a.grad, b.grad)
    a.grad = b.grad = 0.0
    (out * 0.75).backward()
    assert (a.grad, b.grad) == by_table


# -- the whole op table ---------------------------------------------------------


def test_every_op_of_the_checkers_table_is_spelled_on_value() -> None:
    # The checker's op table lists how an engine spells each op; the built-in
    # engine has them all, so every formula the grammar accepts can be run.
    from gradcheck.internal.expr.ops import SPELLINGS

    missing = [name for name in SPELLINGS if not callable(getattr(Value, name, None))]
    assert missing == []


def test_value_exponent_and_reflected_pow_are_one_node_each() -> None:
    a, b = Value(2.0), Value(3.0)
    p = a**b
    assert (p.op, p.children) == ("pow", (a, b))
    r = 2.5**b
    assert (r.op, r.arg, r.children) == ("rpow", 2.5, (b,))
    r.backward()
    assert close(b.grad, mpmath.mpf("2.5") ** 3 * mpmath.log(mpmath.mpf("2.5")))


@pytest.mark.parametrize("base", [0.0, -2.0])
def test_reflected_pow_needs_a_positive_base(base: float) -> None:
    with pytest.raises(ValueError, match="rpow"):
        base ** Value(2.0)


def test_reflected_pow_of_a_non_number_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        "2" ** Value(2.0)  # type: ignore[operator]


@pytest.mark.parametrize(
    "make", [lambda: Value(2.0) ** Value(2000.0), lambda: 2 ** Value(2000.0)]
)
def test_powers_with_a_value_exponent_name_their_overflow(make: Any) -> None:
    with pytest.raises(OverflowError, match="pow"):
        make()


def test_sqrt_of_a_negative_and_its_infinite_slope_at_zero() -> None:
    with pytest.raises(ValueError, match="sqrt") as info:
        Value(-1.0).sqrt()
    assert "-1.0" in str(info.value)
    out = Value(0.0).sqrt()
    assert out.data == 0.0
    with pytest.raises(ZeroDivisionError, match="sqrt"):
        out.backward()


def test_gelu_rejects_an_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="approximate"):
        Value(1.0).gelu("sigmoid")


@pytest.mark.parametrize(
    ("op", "slope"),
    [(Value.relu, 0.0), (abs, -1.0), (Value.leaky_relu, 0.01)],
)
def test_slopes_at_the_kink_follow_the_checkers_table(op: Any, slope: float) -> None:
    # The op table's definitions branch on x > 0: at 0, the side x <= 0.
    a = Value(0.0)
    op(a).backward()
    assert a.grad == slope


def test_new_ops_on_a_deep_chain() -> None:
    x = leaf = Value(0.3)
    for _ in range(50_000):
        x = x.sin().softplus().erf().gelu()
    x.backward()
    assert math.isfinite(leaf.grad)
