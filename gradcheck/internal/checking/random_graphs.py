"""Random graphs, with a failure shrunk by Hypothesis to a minimal graph.

The graphs are drawn from a seeded generator (`graph_choices.seeded_graphs`,
the decoder `graphs_with_points` also uses) and judged in batches, one
request to the worker per batch as the probes are: a round trip per graph
cost far more wall time on a loaded machine than the engine took to run it.
While they pass, Hypothesis is neither imported nor run: its bookkeeping per
test case was most of a graph's drawing cost, and the import alone 0.15 s.

When a graph fails, the search runs as a Hypothesis property over
`graphs_with_points` with the same seed; its first failure is shrunk (fewer
ops, simpler ops, simpler values) and the minimal example is judged once
more to build the counterexample. Should Hypothesis's own graphs all pass,
the failing graph is judged again: failing again, it is reduced and
reported; passing, the engine is not the same on every run, and that is
said. The seed makes every run reproducible.

Shrinking is the expensive part of a failing run: every candidate is judged
on the engine and against both references. When a probe has already found
the first failure's category (`known_categories`), the report already has a
small counterexample for it, so the search stops after a short shrink budget
and the failure goes straight to `reduce_failure`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradcheck.internal.checking.engine_client import Engine, load_engine
from gradcheck.internal.checking.judge import judge, reduce_failure
from gradcheck.internal.checking.local_constants import no_local_constants
from gradcheck.internal.checking.probes import BATCHES, Example, judged_in_order
from gradcheck.internal.checking.progress import Progress
from gradcheck.internal.checking.targets import SourceTarget
from gradcheck.internal.checking.verdict import Outcome
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.graph_choices import seeded_graphs
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, SKIP, Check

# Property calls allowed after a failure whose category a probe already found.
KNOWN_SHRINK_BUDGET = 25
CUT_SHORT = " (shrinking cut short: a probe already found this kind of bug)"

if TYPE_CHECKING:
    from hypothesis import settings


class _StopSearch(BaseException):
    """Ends the Hypothesis run at once, shrinking included.

    A BaseException on purpose: Hypothesis treats Exception (and SystemExit,
    GeneratorExit) as a failure to shrink, and lets anything else through.
    """


class _Failed(Exception):
    """Raised inside the property so that Hypothesis shrinks the example."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.category)
        self.outcome = outcome


def _settings(examples: int) -> settings:
    from hypothesis import HealthCheck, Phase, settings

    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
        print_blob=False,
    )


@dataclass
class _Judged:
    """What judging the drawn graphs in batches found: counts, first failure."""

    generated: int = 0
    inconclusive: int = 0
    failure: Outcome | None = None
    failed_example: Example | None = None


def _judge_in_batches(
    engine: Engine,
    seed: int,
    examples: int,
    max_nodes: int,
    progress: Callable[[int, int], None] | None,
) -> _Judged:
    """Draw `examples` seeded graphs in order and judge them in batches.

    The first failure ends the drawing.
    """
    found = _Judged()
    drawn = seeded_graphs(
        seed, examples, engine.supported, max_nodes, engine.op_constants
    )
    sizes = itertools.chain(BATCHES, itertools.repeat(BATCHES[-1]))
    while batch := [Example(*pair) for pair in itertools.islice(drawn, next(sizes))]:
        outcomes = judged_in_order(engine, batch, batches=(len(batch),))
        for example, outcome in zip(batch, outcomes, strict=True):
            found.generated += 1
            if progress is not None:
                progress(found.generated, examples)
            if outcome.status == INCONCLUSIVE:
                found.inconclusive += 1
            elif outcome.status == FAIL:
                found.failure, found.failed_example = outcome, example
                return found
    return found


def run_random_graphs(
    engine: Engine,
    *,
    seed: int,
    examples: int,
    max_nodes: int,
    progress: Callable[[int, int], None] | None = None,
    known_categories: Collection[str] = frozenset(),
) -> Check:
    """Judge `examples` random graphs; shrink and report the first failure.

    `known_categories`: categories earlier checks already failed; a first
    failure in one of them is shrunk for at most `KNOWN_SHRINK_BUDGET` calls.
    """
    start = time.perf_counter()
    judged = _judge_in_batches(engine, seed, examples, max_nodes, progress)
    generated, inconclusive = judged.generated, judged.inconclusive
    if judged.failure is None:
        return _passed(generated, inconclusive, time.perf_counter() - start)
    found = _search(
        engine,
        seed=seed,
        examples=examples,
        max_nodes=max_nodes,
        known_categories=known_categories,
        start=start,
    )
    if found is not None:
        return found
    # Hypothesis's graphs all passed. The graph that failed is the finding:
    # judged again, it tells a steady bug from an engine whose results vary.
    failed = judged.failed_example
    assert failed is not None
    again = judge(engine, failed.graph, failed.point)
    outcome = reduce_failure(engine, again if again.status == FAIL else judged.failure)
    return Check(
        "random-graphs",
        outcome.category or "crash",
        FAIL,
        outcome.hint + ("" if again.status == FAIL else FLAKY),
        outcome.counterexample,
        generated,
        inconclusive,
        time.perf_counter() - start,
    )


FLAKY = (
    " (the engine failed on this graph only some of the times it"
    " ran: its result is not the same on every run)"
)


def _unsatisfiable() -> Check:
    return Check(
        "random-graphs",
        "propagation",
        SKIP,
        "no random graph could be drawn from the supported ops",
    )


def _passed(generated: int, inconclusive: int, seconds: float) -> Check:
    message = f"{generated} random graphs"
    if inconclusive:
        message += f", {inconclusive} inconclusive"
    verified_nothing = generated and inconclusive >= generated
    return Check(
        "random-graphs",
        "propagation",
        INCONCLUSIVE if verified_nothing else PASS,
        message,
        None,
        generated,
        inconclusive,
        seconds,
    )


def _search(
    engine: Engine,
    *,
    seed: int,
    examples: int,
    max_nodes: int,
    known_categories: Collection[str],
    start: float,
) -> Check | None:
    """The Hypothesis search, graph by graph, shrinking the first failure.

    None when it meets no failure.
    """
    # Imported here: only a failing run needs Hypothesis (0.15 s to import).
    from hypothesis import given
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    from gradcheck.strategies import graphs_with_points

    counts = {"run": 0, "inconclusive": 0, "generated": 0, "after_failure": 0}
    last_failure: list[Outcome] = []
    known = frozenset(known_categories)
    cut_short = [False]

    @_settings(examples)
    @given(
        graphs_with_points(
            ops=engine.supported, max_nodes=max_nodes, constants=engine.op_constants
        )
    )
    def property_(example: tuple[Graph, dict[str, float]]) -> None:
        graph, point = example
        counts["run"] += 1
        if last_failure and last_failure[0].category in known:
            counts["after_failure"] += 1
            if counts["after_failure"] > KNOWN_SHRINK_BUDGET:
                cut_short[0] = True
                raise _StopSearch
        if not last_failure:
            counts["generated"] += 1
        outcome = judge(engine, graph, point)
        if outcome.status == INCONCLUSIVE and not last_failure:
            counts["inconclusive"] += 1
        if outcome.status == FAIL:
            last_failure[:] = [outcome]
            raise _Failed(outcome)

    try:
        try:
            with no_local_constants():
                hypothesis_seed(seed)(property_)()
        except _StopSearch:
            raise _Failed(last_failure[0]) from None
    except Unsatisfiable:
        return _unsatisfiable()
    except Exception as err:
        # _Failed, or Hypothesis's FlakyFailure when an engine keeps state
        # between calls: either way the last failure seen is the smallest.
        if not last_failure:
            raise
        outcome = reduce_failure(engine, last_failure[0])
        hint = outcome.hint
        if cut_short[0]:
            hint += CUT_SHORT
        if not isinstance(err, _Failed):
            hint += FLAKY
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
    return None


# Random graphs come in blocks with a seed each, so a seed tries the same
# graphs whatever `jobs` is: jobs only decides who runs which block.
BLOCK = 50


def random_graph_check(
    engine: Engine,
    target: Any,
    *,
    seed: int,
    examples: int,
    max_nodes: int,
    jobs: int = 1,
    progress: Progress | None = None,
    known_categories: Collection[str] = frozenset(),
) -> Check:
    """7. Random DAGs from Hypothesis; a failure is shrunk to a minimal graph."""
    if not engine.supported:
        return Check("random-graphs", "propagation", SKIP, "the engine supports no op")
    blocks = [
        (seed * 1000 + k, min(BLOCK, examples - k * BLOCK))
        for k in range((examples + BLOCK - 1) // BLOCK)
    ]
    known = sorted(known_categories)
    if jobs > 1 and len(blocks) > 1 and isinstance(target, str | SourceTarget | None):
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(
                    _random_graphs_in_worker,
                    target,
                    list(engine.supported),
                    block_seed,
                    share,
                    max_nodes,
                    engine.time_limit,
                    known,
                    dict(engine.range_bounds),
                )
                for block_seed, share in blocks
            ]
            checks = [f.result() for f in futures]
        if progress is not None:
            progress(examples, examples)
        return _merge(checks)
    checks = []
    done = 0
    for block_seed, share in blocks:

        def block_progress(n: int, total: int, base: int = done) -> None:
            if progress is not None:
                progress(base + n, examples)

        check = run_random_graphs(
            engine,
            seed=block_seed,
            examples=share,
            max_nodes=max_nodes,
            progress=block_progress,
            known_categories=known,
        )
        done += share
        checks.append(check)
        if check.status == FAIL or engine.hung:
            break  # one shrunk failure is the finding; the rest adds nothing
    return _merge(checks)


def _random_graphs_in_worker(
    target: Any,
    ops: list[str],
    seed: int,
    examples: int,
    max_nodes: int,
    limit: float,
    known: list[str],
    range_bounds: dict[str, tuple[float, ...]],
) -> Check:
    with load_engine(target, limit) as engine:
        engine.supported = tuple(n for n in engine.supported if n in set(ops))
        engine.range_bounds = range_bounds
        return run_random_graphs(
            engine,
            seed=seed,
            examples=examples,
            max_nodes=max_nodes,
            known_categories=known,
        )


def _merge(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    failed = [c for c in checks if c.status == FAIL]
    count = sum(c.examples for c in checks)
    inconclusive = sum(c.inconclusive for c in checks)
    seconds = max((c.seconds for c in checks), default=0.0)
    if failed:
        best = min(
            failed, key=lambda c: len(c.counterexample.graph) if c.counterexample else 0
        )
        best.examples, best.inconclusive = count, inconclusive
        return best
    if all(c.status == SKIP for c in checks):
        return checks[0]
    message = f"{count} random graphs"
    if inconclusive:
        message += f", {inconclusive} inconclusive"
    return Check(
        "random-graphs",
        "propagation",
        INCONCLUSIVE if count and inconclusive >= count else PASS,
        message,
        None,
        count,
        inconclusive,
        seconds,
    )
