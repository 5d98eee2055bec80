"""Draw points where a graph is smooth, defined and far from overflow.

Values are drawn with both signs and magnitudes from 0.05 to 10, the normal
range: a bug that shows only for x < -5 (exp' = 0 there) must be found on
every seed. A point is kept only when every node is inside its op's domain
(see `references.domain_problem`).
"""

from __future__ import annotations

import random

from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.references import domain_problem

# Interesting inputs for single ops: both signs, small and large, near 1,
# then out to the edge of the normal range (|x| = 10, both signs). Probes of
# one op use them all; probes of larger graphs take the first few.
SPREAD = (
    -2.7, -1.3, -0.45, -0.06, 0.07, 0.35, 0.9, 1.6, 3.1,
    -5.5, 5.5, -7.5, 7.5, -10.0, 10.0,
)  # fmt: skip
# The largest magnitude drawn: the edge of the normal range.
NORMAL_MAGNITUDE = 10.0


def draw_value(rng: random.Random) -> float:
    """A float with a random sign and a log-uniform magnitude in [0.05, 10]."""
    magnitude = 0.05 * (NORMAL_MAGNITUDE / 0.05) ** rng.random()
    return round(magnitude if rng.random() < 0.5 else -magnitude, 6) or 0.5


def sample_point(
    graph: Graph, rng: random.Random, tries: int = 60
) -> dict[str, float] | None:
    """A point inside the domain of every node of `graph`, or None."""
    for attempt in range(tries):
        point = {name: draw_value(rng) for name in graph.variables}
        if attempt > tries // 2:  # positive-only points rescue log and sqrt chains
            point = {name: abs(x) for name, x in point.items()}
        if domain_problem(graph, point) is None:
            return point
    return None
