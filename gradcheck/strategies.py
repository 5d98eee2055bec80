"""Hypothesis strategies for expression graphs that force reuse.

`graphs_with_points()` draws the point first and then grows the graph op by
op, choosing only ops that are smooth at the operands' values, so nearly
every example is usable. Every op node's input is also fed to the final
sum, so every op type ends up on a reused input: the only way to expose
gradients that are overwritten instead of accumulated. All choices are plain
Hypothesis draws, so failures shrink to a few nodes.

Every choice is one bounded integer from a strategy built once (`_index`):
a fresh `sampled_from` or `integers` per draw costs Hypothesis a lookup and
a validation each time, which made drawing the graphs most of the random
phase's time. Each op node is a single draw, decoded with `divmod` into its
op, operands and constant (about half the draws of one per choice), and
values are followed in float64. Integers shrink towards 0, that is towards
the first op on the newest nodes with the first constant, as
`sampled_from` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from hypothesis import strategies as st

from gradcheck.internal.expr.graph import Graph, GraphBuilder, prune
from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs.points import SPREAD
from gradcheck.internal.refs.references import float_value

# Values Hypothesis shrinks towards come first.
VALUES = (0.5, 1.5, -0.5, 2.0, -1.25, 0.75, -2.5, 0.25, 3.0, -0.1, *SPREAD)
CONSTANTS = (2.0, 0.5, -1.0, 3.0, -2.5, 0.1)
VARIABLES = ("x", "y", "z")
# Keep intermediate values where float64 is comfortable.
MAGNITUDE_LIMIT = 1e4
_T = TypeVar("_T")

__all__ = ["graphs", "graphs_with_points"]

# Each op node is one integer below this, decoded by `divmod`: up to 30
# ops, two operands among 100 nodes and 6 constants fit many times over.
NODE_CHOICES = 2**24

_INDEX: dict[int, st.SearchStrategy[int]] = {}


def _index(size: int) -> st.SearchStrategy[int]:
    """Integers in [0, size): one strategy per size, built once."""
    strategy = _INDEX.get(size)
    if strategy is None:
        strategy = _INDEX[size] = st.integers(0, size - 1)
    return strategy


def _pick(draw: st.DrawFn, choices: Sequence[_T]) -> _T:
    """One of `choices`, shrinking towards the first (like `sampled_from`)."""
    return choices[draw(_index(len(choices)))]


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
    names = list(ops) if ops is not None else list(OPS)
    if not names:
        raise ValueError("graphs_with_points needs at least one op")
    count = 1 + draw(_index(max(1, max_variables)))
    point = {VARIABLES[k]: _pick(draw, VALUES) for k in range(count)}
    b = GraphBuilder()
    nodes = [b.var(v) for v in point]
    values = [point[v] for v in point]
    choices = {**CONSTANT_CHOICES, **(constants or {})}
    target = 1 + draw(_index(max(1, max_nodes)))
    op_inputs: list[int] = []
    tries = 0
    while len(values) - count < target and tries < 4 * target:
        tries += 1
        # One draw per node, decoded into op, operands and constant: a draw
        # costs Hypothesis far more than the arithmetic, and 0 still shrinks
        # to the first op on the most recent nodes with the first constant.
        code = draw(_index(NODE_CHOICES))
        code, which = divmod(code, len(names))
        name = names[which]
        op = OPS[name]
        args = []
        for _ in range(op.arity):
            code, back = divmod(code, len(nodes))
            # Counted back from the newest node: the graph grows deep.
            args.append(len(nodes) - 1 - back)
        constant = None
        if name in choices:  # exponents, bases, slopes
            pool = tuple(choices[name])
            constant = pool[code % len(pool)]
        elif op.takes_constant:
            constant = CONSTANTS[code % len(CONSTANTS)]
        arg_values = [values[a] for a in args]
        # Every operand is checked, so pow_var needs a positive base *and* a
        # moderate exponent; a draw that misses is skipped, not forced.
        if not op.in_domain(arg_values, constant):
            continue
        try:
            value = float_value(op, arg_values, constant)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            continue
        if not abs(value) < MAGNITUDE_LIMIT:
            continue
        nodes.append(b.op(name, *[nodes[a] for a in args], constant=constant))
        values.append(value)
        op_inputs.extend(args)
    combine = next((c for c in ("add", "mul", "sub") if c in names), None)
    outputs = b.unused() or [nodes[-1]]
    if force_reuse and combine is not None:
        outputs += [nodes[a] for a in op_inputs if b.uses(nodes[a]) == 1]
    if combine is not None and len(outputs) > 1:
        total = outputs[0]
        for extra in outputs[1:]:
            total = b.op(combine, total, extra)
    graph = b.build()
    return prune(graph), {v: point[v] for v in graph.variables}


def graphs(
    ops: Sequence[str] | None = None, max_nodes: int = 30
) -> st.SearchStrategy[Graph]:
    """Random expression DAGs (without their points).

    :param ops: op names from the op table to draw from (default: all).
    :param max_nodes: the most op nodes a graph has.
    """
    return graphs_with_points(ops=ops, max_nodes=max_nodes).map(lambda pair: pair[0])
