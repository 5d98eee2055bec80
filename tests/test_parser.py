"""The expression parser: grammar, op mapping, refusals with a caret, fuzzing."""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck.errors import ExpressionError
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.expr.ops import FUNCTIONS
from gradcheck.internal.expr.parser import MAX_DEPTH, MAX_LENGTH, MAX_OPERATORS, parse
from gradcheck.strategies import graphs_with_points


def ops(text: str) -> list[str]:
    return [n.op for n in parse(text).nodes]


@pytest.mark.parametrize(
    ("text", "printed", "last"),
    [
        ("tanh(x*y) + x**2", "tanh(x*y) + x**2", "add"),
        ("x + 2", "x + 2", "add_const"),
        ("2 + x", "2 + x", "radd"),
        ("x - 2", "x - 2", "sub_const"),
        ("2 - x", "2 - x", "rsub"),
        ("x * 3", "x*3", "mul_const"),
        ("3 * x", "3*x", "rmul"),
        ("x / 4", "x/4", "div_const"),
        ("1 / x", "1/x", "rdiv"),
        ("x ** 2", "x**2", "pow"),
        ("x ** -2", "x**(-2)", "pow"),
        ("x ** (1/2)", "x**0.5", "pow"),
        ("-x", "-x", "neg"),
        ("+x", "x", "var"),
        ("-x**2", "-x**2", "neg"),
        ("(-x)**2", "(-x)**2", "pow"),
        ("x**2**3", "x**8", "pow"),
        ("(x**2)**3", "(x**2)**3", "pow"),
        ("x - (y - z)", "x - (y - z)", "sub"),
        ("x - y - z", "x - y - z", "sub"),
        ("x / (y * z)", "x/(y*z)", "div"),
        ("2*3*x", "6*x", "rmul"),
        ("x - -2", "x - (-2)", "sub_const"),
        ("exp(1) * x", "2.718281828459045*x", "rmul"),
        ("1e-3 * x", "0.001*x", "rmul"),
        ("relu(x) + sigmoid(y) + log(z) + exp(x)", None, "add"),
        ("-2", "-2", "const"),
        ("2 + 3", "5", "const"),
        ("  x\t+\n1  ", "x + 1", "add_const"),
        ("t1 = x*y; out = t1 + t1*x", "t1 = x*y; out = t1 + t1*x", "add"),
        ("a = 2; a * x", "2*x", "rmul"),
        ("x;", "x", "var"),
        ("x ** y", "x**y", "pow_var"),
        ("x ** y ** z", "x**(y**z)", "pow_var"),
        ("(x ** y) ** 2", "(x**y)**2", "pow"),
        ("x ** tanh(y)", "x**tanh(y)", "pow_var"),
        ("(-x) ** y", "(-x)**y", "pow_var"),
        ("2 ** x", "2**x", "rpow"),
        ("0.5 ** -x", "0.5**(-x)", "rpow"),
        ("-2 ** x", "-2**x", "neg"),
        ("2 ** x ** 2", "2**(x**2)", "rpow"),
        ("sin(x) * cos(y)", "sin(x)*cos(y)", "mul"),
        ("sqrt(x)", "sqrt(x)", "sqrt"),
        ("abs(x - y)", "abs(x - y)", "abs"),
        ("softplus(x)", "softplus(x)", "softplus"),
        ("leaky_relu(x)", "leaky_relu(x, 0.01)", "leaky_relu"),
        ("leaky_relu(x, 0.2)", "leaky_relu(x, 0.2)", "leaky_relu"),
        ("leaky_relu(x, 1/5)", "leaky_relu(x, 0.2)", "leaky_relu"),
        ("gelu(x)", "gelu(x)", "gelu_erf"),
        ("gelu_tanh(x)", "gelu_tanh(x)", "gelu_tanh"),
        ("erf(x)", "erf(x)", "erf"),
        ("sqrt(4) * x", "2*x", "rmul"),
        ("abs(-3) + x", "3 + x", "radd"),
        ("leaky_relu(-2, 0.5) + x", "(-1) + x", "radd"),
    ],
)
def test_parses(text: str, printed: str | None, last: str) -> None:
    graph = parse(text)
    if printed is not None:
        assert graph.to_text() == printed
    assert graph.nodes[-1].op == last


def test_one_name_is_one_node_so_names_are_reused() -> None:
    graph = parse("x*x + y")
    assert graph.variables == ("x", "y")
    assert [n.op for n in graph.nodes].count("var") == 2
    assert graph.fanout(0) == 2


def test_identical_subexpressions_stay_separate() -> None:
    assert ops("tanh(x) + tanh(x)").count("tanh") == 2


def test_bindings_share_a_node() -> None:
    graph = parse("t = tanh(x); out = t*t")
    assert ops("t = tanh(x); out = t*t").count("tanh") == 1
    assert graph.has_reuse


def test_constant_exponent_is_stored_on_the_node() -> None:
    graph = parse("x**-1.5")
    assert graph.nodes[-1].constant == -1.5


BAD = [
    ("", "empty expression"),
    ("   ", "empty expression"),
    ("x +", "ends too early"),
    ("1 +* 2", "syntax"),
    ("x y", "syntax"),
    ("(x", "never closed"),
    ("x)", "unmatched"),
    (
        "foo(x)",
        "unknown function foo; known: tanh, exp, log, relu, sigmoid, sin, cos, "
        "sqrt, abs, softplus, leaky_relu, gelu, gelu_tanh, erf",
    ),
    ("__import__('os').system('ls')", "attribute access"),
    ("__import__('os')", "unknown function __import__"),
    ("x.real", "attribute access"),
    ("math.exp(x)", "attribute access"),
    ("x[0]", "subscripts"),
    ("lambda: 1", "lambda"),
    ("x if y else z", "conditional"),
    ("[x for x in y]", "comprehensions"),
    ("(x for x in y)", "comprehensions"),
    ("tanh(x=1)", "keyword"),
    ("tanh(x, y)", "exactly one argument"),
    ("tanh()", "exactly one argument"),
    ("tanh(*x)", "starred"),
    ("'x'", "strings"),
    ("f'{x}'", "strings"),
    ("x < y", "comparisons"),
    ("x and y", "'and' and 'or'"),
    ("not x", "'not'"),
    ("~x", "'~'"),
    ("x % 2", "'%'"),
    ("x // 2", "'//'"),
    ("x @ y", "'@'"),
    ("(x, y)", "tuples"),
    ("{x}", "sets"),
    ("(y := x)", "assignment expressions"),
    ("(-2) ** x", "base of c**x must be a positive number"),
    ("0 ** x", "base of c**x must be a positive number"),
    ("sin(x, 2)", "exactly one argument"),
    ("leaky_relu()", "one argument and an optional number"),
    ("leaky_relu(x, 0.1, 2)", "one argument and an optional number"),
    ("leaky_relu(x, y)", "second argument of leaky_relu() must be a number"),
    ("sqrt(-1) * x", "math domain"),
    ("abs = x; out = abs", "is a function"),
    ("gelu + x", "is a function"),
    ("x ** 1001", "too large"),
    ("x ** -2000", "too large"),
    ("x / 0", "division by zero"),
    ("1 / 0 + x", "division by zero"),
    ("(-8) ** (1/3) * x", "not real"),
    ("10.0 ** 400 * x", "overflow"),
    ("exp(1000) * x", "overflow"),
    ("log(-1) * x", "math domain"),
    ("1e400 * x", "too large"),
    ("x * 1j", "complex"),
    ("True * x", "not a number"),
    ("None", "not a number"),
    ("tanh", "is a function"),
    ("tanh + 1", "is a function"),
    ("x = 1", "'=' only names a part"),
    ("t = x; t = y; out = t", "assigned twice"),
    ("y = x; x = 2; out = x", "already used as a variable"),
    ("exp = x; out = exp", "is a function"),
    ("x; y", "only the last part"),
    ("x;; y", "only the last part"),
    ("x + é", "unexpected character 'é'"),
    ("x\x00", "unexpected character"),
    ("x\u00a0+ 1", "unexpected character"),
    ("x == 1", "comparisons"),
    ("yield x", "syntax"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[repr(t) for t, _ in BAD])
def test_refuses_with_a_pointer(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        parse(text)
    err = info.value
    assert message in str(err)
    assert isinstance(err, ValueError)
    assert err.span is not None
    start, end = err.span
    assert 0 <= start < max(len(text), 1) and start < end
    pointer = err.pointer()
    if text.strip():
        assert "^" in pointer.splitlines()[-1]


def test_caret_sits_under_the_unknown_function() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x + foo(y)")
    assert info.value.pointer() == "x + foo(y)\n    ^~~"


def test_caret_sits_under_the_bad_operator() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x % y")
    assert info.value.pointer().splitlines()[1] == "  ^"


def test_caret_for_syntax_error_uses_its_offset() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("x + (y")
    assert info.value.span is not None
    assert info.value.span[0] == 4


def test_caret_in_a_later_statement() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("t = x; out = foo(t)")
    assert info.value.span == (13, 16)


def test_not_a_string() -> None:
    with pytest.raises(ExpressionError, match="must be a string"):
        parse(3)  # type: ignore[arg-type]


def test_length_is_capped() -> None:
    with pytest.raises(ExpressionError, match="too long"):
        parse("x" * (MAX_LENGTH + 1))


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        "tanh(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1),
        "-" * (MAX_DEPTH + 1) + "x",
        "- " * (MAX_DEPTH + 1) + "x",
        "+".join(["x"] * (MAX_OPERATORS + 2)),
        "**".join(["x"] * (MAX_OPERATORS + 2)),
        "[" * 5000,
        "(" * 4000 + "x",
    ],
    ids=[
        "parens",
        "calls",
        "unary",
        "spaced-unary",
        "sum",
        "power",
        "brackets",
        "open",
    ],
)
def test_deep_nesting_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(ExpressionError, match="too"):
        parse(text)


def test_nesting_at_the_limits_is_fine() -> None:
    assert parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH).to_text() == "x"
    assert parse("-" * MAX_DEPTH + "x").nodes[-1].op in ("neg", "var")
    graph = parse("+".join(["x"] * (MAX_OPERATORS + 1)))
    assert graph.op_count == MAX_OPERATORS
    assert len(graph.to_text()) > MAX_OPERATORS  # printing iterates too


def test_graph_with_shared_nodes_round_trips() -> None:
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    t = b.op("mul", x, y)
    u = b.op("tanh", t)
    b.op("add", b.op("mul", u, t), b.op("rsub", u, constant=2.0))
    graph = b.build()
    assert parse(graph.to_text()).to_text() == graph.to_text()


# -- fuzzing --------------------------------------------------------------------

ATOMS = st.one_of(
    st.sampled_from(["x", "y", "z", "w2", "_a"]),
    st.integers(0, 50).map(str),
    st.floats(0.001, 100.0).map(lambda f: f"{f:.4g}"),
    st.sampled_from(["1e-3", "2.5e2", "0.5"]),
)


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children)
    return st.one_of(
        binary.map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        binary.map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
        st.tuples(
            children, st.sampled_from(["2", "3", "-1", "0.5", "(1/3)", "-2"])
        ).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(["-", "+", "- -"]), children).map(
            lambda t: f"{t[0]}{t[1]}"
        ),
        st.tuples(children, children).map(lambda t: f"({t[0]})**({t[1]})"),
        st.tuples(st.sampled_from(FUNCTIONS), children).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(children, st.sampled_from(["0.2", "(1/3)", "-0.5"])).map(
            lambda t: f"leaky_relu({t[0]}, {t[1]})"
        ),
    )


EXPRESSIONS = st.recursive(ATOMS, _extend, max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_valid_expressions_parse_and_round_trip(text: str) -> None:
    try:
        graph = parse(text)
    except ExpressionError as err:
        # Only constant folding may refuse a grammatical expression.
        assert any(
            word in str(err)
            for word in (
                "division by zero",
                "overflow",
                "math domain",
                "not real",
                "positive",
                "too large",  # a folded constant as exponent: (x)**(2**250)
            )
        ), str(err)
        return
    printed = graph.to_text()
    again = parse(printed)
    assert again.to_text() == printed
    assert [n.op for n in again.nodes] == [n.op for n in graph.nodes]


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_random_text_only_raises_expression_error(text: str) -> None:
    try:
        graph = parse(text)
    except ExpressionError as err:
        assert err.message
    else:
        assert len(graph) >= 1


TOKENS = st.sampled_from(
    ["x", "y", "2", "1e3", "+", "-", "*", "/", "**", "(", ")", "tanh", "exp(", ",",
     "leaky_relu(", "gelu", "abs(", "=", ";", " ", ".", "[", "]", "lambda", ":",
     "'", "__import__", "if", "else",
     "0", "1j", "%", "<", "not", "and", "t1", "out"]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(TOKENS, max_size=25).map("".join))
def test_token_soup_only_raises_expression_error(text: str) -> None:
    try:
        graph = parse(text)
    except ExpressionError as err:
        assert err.span is None or 0 <= err.span[0] <= len(text)
    else:
        assert parse(graph.to_text()).to_text() == graph.to_text()


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_with_points(max_nodes=12))
def test_printed_generator_graphs_parse_to_the_same_function(pair: tuple) -> None:
    graph, point = pair
    parsed = parse(graph.to_text())
    want = graph.evaluate({k: mpmath.mpf(v) for k, v in point.items()})[-1]
    got = parsed.evaluate({k: mpmath.mpf(v) for k, v in point.items()})[-1]
    assert math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)
    assert parse(parsed.to_text()).to_text() == parsed.to_text()
