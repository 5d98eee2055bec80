"""Random expression graphs decoded from a stream of bounded integer choices.

One decoder, two drivers. `gradcheck.strategies` feeds it Hypothesis draws,
whose choices shrink a failure to a few nodes. `seeded_graphs` feeds it a
plain `random.Random`: an engine run judges its random graphs from there
while they pass, without importing Hypothesis (about 0.15 s) or paying its
bookkeeping per test case (about 0.25 ms, plus 25 µs a choice: most of what
drawing a graph cost). Hypothesis is only needed once a graph fails, to
shrink it. A seed gives the same graphs whatever Hypothesis version is
installed.

The point is drawn first and the graph grows op by op, choosing only ops
that are smooth at the operands' values, so nearly every graph is usable.
Every op node's input is also fed to the final sum, so every op type ends
up on a reused input: the only way to expose gradients that are overwritten
instead of accumulated. Each op node is one choice, decoded with `divmod`
into its op, operands and constant; choice 0 is the first op on the newest
nodes with the first constant, so a shrinker that lowers choices simplifies
the graph.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence

from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import CONSTANT_CHOICES, OPS
from gradcheck.internal.refs.points import SPREAD
from gradcheck.internal.refs.references import float_value

# Values a shrinker moves towards come first.
VALUES = (0.5, 1.5, -0.5, 2.0, -1.25, 0.75, -2.5, 0.25, 3.0, -0.1, *SPREAD)
CONSTANTS = (2.0, 0.5, -1.0, 3.0, -2.5, 0.1)
VARIABLES = ("x", "y", "z")
# Keep intermediate values where float64 is comfortable.
MAGNITUDE_LIMIT = 1e4
# Each op node is one choice below this: up to 30 ops, two operands among
# 100 nodes and 6 constants fit many times over.
NODE_CHOICES = 2**24

# An integer in [0, size): Hypothesis's draw, or a seeded generator's.
Choose = Callable[[int], int]
Drawn = tuple[Graph, dict[str, float]]


def build_graph(
    choose: Choose,
    ops: Sequence[str] | None = None,
    max_nodes: int = 30,
    max_variables: int = 3,
    force_reuse: bool = True,
    constants: Mapping[str, Sequence[float]] | None = None,
) -> Drawn:
    """A DAG over up to `max_nodes` ops and a smooth point, from `choose`."""
    names = list(ops) if ops is not None else list(OPS)
    if not names:
        raise ValueError("graphs_with_points needs at least one op")
    count = 1 + choose(max(1, max_variables))
    point = {VARIABLES[k]: VALUES[choose(len(VALUES))] for k in range(count)}
    b = GraphBuilder()
    nodes = [b.var(v) for v in point]
    values = [point[v] for v in point]
    choices = {**CONSTANT_CHOICES, **(constants or {})}
    target = 1 + choose(max(1, max_nodes))
    op_inputs: list[int] = []
    tries = 0
    while len(values) - count < target and tries < 4 * target:
        tries += 1
        code, which = divmod(choose(NODE_CHOICES), len(names))
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
        # moderate exponent; a choice that misses is skipped, not forced.
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
    graph = b.build()  # pruned: only what the output depends on
    return graph, {v: point[v] for v in graph.variables}


def seeded_graphs(
    seed: int,
    count: int,
    ops: Sequence[str] | None = None,
    max_nodes: int = 30,
    constants: Mapping[str, Sequence[float]] | None = None,
) -> Iterator[Drawn]:
    """`count` graphs with points, the same for the same arguments.

    The first is the simplest (every choice 0), as Hypothesis tries first.
    """
    rng = random.Random(seed)
    for k in range(count):
        choose = _simplest if k == 0 else _chooser(rng)
        yield build_graph(choose, ops, max_nodes, constants=constants)


# The seeded generator leans the way Hypothesis's integers do, measured over
# 1,000 of its graphs: the simplest choice (0) in 15-18% of narrow draws (one
# variable, the first value, one op) and 3% of wide ones, and a wide draw
# (an op node) below 256 in 19%, which puts operands on the newest nodes.
NARROW_SIMPLEST = 0.15
WIDE = 256
WIDE_SIMPLEST = 0.03
WIDE_SMALL = 0.19


def _simplest(size: int) -> int:
    return 0


def _chooser(rng: random.Random) -> Choose:
    def choose(size: int) -> int:
        r = rng.random()
        if size <= WIDE:
            return 0 if r < NARROW_SIMPLEST else rng.randrange(size)
        if r < WIDE_SIMPLEST:
            return 0
        return rng.randrange(WIDE if r < WIDE_SMALL else size)

    return choose
