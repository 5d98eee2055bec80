"""Hypothesis strategies for expression graphs that force reuse.

`graphs_with_points()` draws the point first and then grows the graph op by
op, choosing only ops that are smooth at the operands' values, so nearly
every example is usable. Every op node's input is also fed to the final
sum, so every op type ends up on a reused input: the only way to expose
gradients that are overwritten instead of accumulated. All choices are plain
Hypothesis draws, so failures shrink to a few nodes.

The graph is built by `graph_choices.build_graph`, which an engine run also
drives from a seeded generator; here every choice is one bounded integer
from a strategy built once (`_index`): a fresh `integers` per draw costs
Hypothesis a lookup and a validation each time. Integers shrink towards 0,
that is towards the first op on the newest nodes with the first constant,
as `sampled_from` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import strategies as st

from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.graph_choices import build_graph

__all__ = ["graphs", "graphs_with_points"]

_INDEX: dict[int, st.SearchStrategy[int]] = {}


def _index(size: int) -> st.SearchStrategy[int]:
    """Integers in [0, size): one strategy per size, built once."""
    strategy = _INDEX.get(size)
    if strategy is None:
        strategy = _INDEX[size] = st.integers(0, size - 1)
    return strategy


@st.composite
def graphs_with_points(
    draw: st.DrawFn,
    ops: Sequence[str] | None = None,
    max_nodes: int = 30,
    max_variables: int = 3,
    force_reuse: bool = True,
    constants: Mapping[str, Sequence[float]] | None = None,
) -> tuple[Graph, dict[str, float]]:
    """A random expression DAG over up to `max_nodes` ops, and a smooth point.

    Draws `(graph, point)` pairs; every op is applied only where it is
    smooth at its operands' values, so nearly every example can be checked.

    :param ops: op names from the op table to draw from (default: all);
        at least one.
    :param max_nodes: the most op nodes a graph has before the final sum.
    :param max_variables: the most input variables, up to three (``x``, ``y``,
        ``z``).
    :param force_reuse: also add every op's input into the output, so each
        op type meets a reused node: the only way to expose gradients that
        are overwritten (``=``) instead of accumulated (``+=``).
    """
    return build_graph(
        lambda size: draw(_index(size)),
        ops,
        max_nodes,
        max_variables,
        force_reuse,
        constants,
    )


def graphs(
    ops: Sequence[str] | None = None, max_nodes: int = 30
) -> st.SearchStrategy[Graph]:
    """Random expression DAGs (without their points).

    :param ops: op names from the op table to draw from (default: all).
    :param max_nodes: the most op nodes a graph has.
    """
    return graphs_with_points(ops=ops, max_nodes=max_nodes).map(lambda pair: pair[0])
