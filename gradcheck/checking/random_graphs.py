"""Random graphs from Hypothesis, with failures shrunk to a minimal graph.

The search runs as a Hypothesis property over `graphs_with_points`; the first
failure is shrunk (fewer ops, simpler ops, simpler values) and the minimal
example is judged once more to build the counterexample. The seed makes
every run reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable

from gradcheck.checking.engines import Engine
from gradcheck.checking.judge import Outcome, judge, reduce_failure
from gradcheck.expr.graph import Graph
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, SKIP, Check
from gradcheck.strategies import graphs_with_points


class _Failed(Exception):
    """Raised inside the property so that Hypothesis shrinks the example."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.category)
        self.outcome = outcome


def run_random_graphs(
    engine: Engine,
    *,
    seed: int,
    examples: int,
    max_nodes: int,
    progress: Callable[[int, int], None] | None = None,
) -> Check:
    """Judge `examples` random graphs; shrink and report the first failure."""
    start = time.perf_counter()
    counts = {"run": 0, "inconclusive": 0, "generated": 0}
    last_failure: list[Outcome] = []

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(
        graphs_with_points(
            ops=engine.supported, max_nodes=max_nodes, constants=engine.op_constants
        )
    )
    def property_(example: tuple[Graph, dict[str, float]]) -> None:
        graph, point = example
        counts["run"] += 1
        if not last_failure:
            counts["generated"] += 1
            if progress is not None:
                progress(counts["generated"], examples)
        outcome = judge(engine, graph, point)
        if outcome.status == INCONCLUSIVE and not last_failure:
            counts["inconclusive"] += 1
        if outcome.status == FAIL:
            last_failure[:] = [outcome]
            raise _Failed(outcome)

    try:
        hypothesis_seed(seed)(property_)()
    except Unsatisfiable:
        return Check(
            "random-graphs",
            "propagation",
            SKIP,
            "no random graph could be drawn from the supported ops",
        )
    except Exception as err:
        # _Failed, or Hypothesis's FlakyFailure when an engine keeps state
        # between calls: either way the last failure seen is the smallest.
        if not last_failure:
            raise
        outcome = reduce_failure(engine, last_failure[0])
        hint = outcome.hint
        if not isinstance(err, _Failed):
            hint += (
                " (the engine fails only sometimes on this graph:"
                " it keeps state between calls)"
            )
        return Check(
            "random-graphs",
            outcome.category or "crash",
            FAIL,
            hint,
            outcome.counterexample,
            counts["generated"],
            counts["inconclusive"],
            time.perf_counter() - start,
        )
    seconds = time.perf_counter() - start
    message = f"{counts['generated']} random graphs"
    if counts["inconclusive"]:
        message += f", {counts['inconclusive']} inconclusive"
    verified_nothing = (
        counts["generated"] and counts["inconclusive"] >= counts["generated"]
    )
    return Check(
        "random-graphs",
        "propagation",
        INCONCLUSIVE if verified_nothing else PASS,
        message,
        None,
        counts["generated"],
        counts["inconclusive"],
        seconds,
    )
