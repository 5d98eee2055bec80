"""Expression graphs: building, printing, pruning, evaluating."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

import gradcheck
from gradcheck import strategies
from gradcheck.errors import ExpressionError
from gradcheck.internal.expr.graph import Graph, GraphBuilder, Node
from gradcheck.strategies import graphs


def test_shared_subexpressions_are_named() -> None:
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    t = b.op("mul", x, y)
    b.op("add", t, b.op("mul", t, x))
    graph = b.build()
    assert graph.to_text() == "t1 = x*y; out = t1 + t1*x"
    assert graph.fanout(t) == 2 and graph.variable_uses("x") == 2
    assert graph.has_reuse and graph.variables == ("x", "y")


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda b: b.op("neg", b.op("pow", b.var("x"), constant=2)), "-x**2"),
        (lambda b: b.op("pow", b.op("neg", b.var("x")), constant=2), "(-x)**2"),
        (
            lambda b: b.op("rsub", b.op("add", b.var("x"), b.var("y")), constant=2),
            "2 - (x + y)",
        ),
        (
            lambda b: b.op("sub", b.var("x"), b.op("sub", b.var("y"), b.var("z"))),
            "x - (y - z)",
        ),
        (lambda b: b.op("mul_const", b.var("x"), constant=-1.5), "x*(-1.5)"),
        (lambda b: b.op("tanh", b.op("add", b.var("x"), b.var("y"))), "tanh(x + y)"),
    ],
)
def test_printing_keeps_precedence(build: object, text: str) -> None:
    b = GraphBuilder()
    build(b)  # type: ignore[operator]
    assert b.build().to_text() == text


def test_unused_nodes_are_pruned() -> None:
    b = GraphBuilder()
    x = b.var("x")
    b.op("exp", x)  # not used by the output
    b.op("tanh", x)
    assert b.build().to_text() == "tanh(x)"


def test_invalid_graphs_are_rejected() -> None:
    with pytest.raises(ExpressionError):
        Graph(())
    with pytest.raises(ExpressionError, match="unknown op"):
        Graph((Node("var", name="x"), Node("cosh", (0,))))
    with pytest.raises(ExpressionError, match="before"):
        Graph((Node("var", name="x"), Node("tanh", (1,))))
    with pytest.raises(ExpressionError, match="needs a constant"):
        Graph((Node("var", name="x"), Node("pow", (0,))))


def test_deep_graphs_print_without_recursion() -> None:
    b = GraphBuilder()
    node = b.var("x")
    for _ in range(5000):
        node = b.op("tanh", node)
    graph = b.build()
    assert graph.depth() == 5000
    assert graph.to_text().startswith("tanh(tanh(")


@settings(max_examples=50, deadline=None)
@given(graphs(max_nodes=20))
def test_generated_graphs_put_every_op_input_under_reuse(graph: Graph) -> None:
    for node in graph.nodes:
        if not node.is_leaf and graph.output not in node.args:
            assert all(graph.fanout(a) >= 1 for a in node.args)
    if graph.op_count > 1:
        assert graph.has_reuse


def test_public_names_are_exactly_all() -> None:
    assert set(gradcheck.__all__) == set(gradcheck._HOMES) | {"__version__"}
    for name in gradcheck.__all__:
        assert getattr(gradcheck, name) is not None
    public = {n for n in dir(gradcheck) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(gradcheck, n)).__name__ == "module"}
    assert public - modules - {"annotations", "importlib", "TYPE_CHECKING", "Any"} == (
        set(gradcheck.__all__) - {"__version__"}
    )
    assert set(strategies.__all__) == {"graphs", "graphs_with_points"}


def test_equal_graphs_compare_equal_and_others_do_not() -> None:
    """Identity and the stored hash come first; the nodes still decide."""

    def build(op: str, constant: float) -> Graph:
        b = GraphBuilder()
        b.op(op, b.op("mul", b.var("x"), b.var("y")), constant=constant)
        return b.build()

    graph, same = build("add_const", 2.0), build("add_const", 2.0)
    assert graph is not same and graph == same and hash(graph) == hash(same)
    assert graph != build("add_const", 3.0) and graph != build("mul_const", 2.0)
    assert graph != graph.nodes  # another type: not equal, no error
    assert {graph: 1}[same] == 1


def test_variables_and_ops_are_kept_and_cannot_be_changed() -> None:
    b = GraphBuilder()
    t = b.op("mul", b.var("y"), b.var("x"))
    b.op("add", b.op("tanh", t), b.var("y"))
    graph = b.build()
    assert graph.variables == ("y", "x") and graph.variables is graph.variables
    assert graph.ops_used() == {"mul", "tanh", "add"}
    assert isinstance(graph.ops_used(), frozenset)  # shared: a caller cannot edit it
