"""Judge one example: its verdict, and for a wrong gradient, its diagnosis.

`verdict` compares the engine with the references; a wrong gradient gets its
category and hint from `diagnosis`, which reruns small graphs through
`verdict` (never through this module, so the two do not import each other).
`reduce_failure` then looks for a smaller sub-expression that fails alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from gradcheck.internal.checking.diagnosis import diagnose_failure
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
    Run,
    WorkerCrash,
)
from gradcheck.internal.checking.verdict import (
    UNDIAGNOSED,
    Outcome,
    failed_outcome,
    verdict,
)
from gradcheck.internal.expr.graph import Graph, subgraph
from gradcheck.internal.refs.references import Reference
from gradcheck.report import FAIL


def judge(
    engine: Engine,
    graph: Graph,
    point: Mapping[str, float],
    *,
    ref: Reference | None = None,
    formulas: Mapping[str, str] | None = None,
    diagnose: bool = True,
    values_only: bool = False,
    ran: Run | EngineFault | WorkerCrash | None = None,
) -> Outcome:
    """The verdict on `graph` at `point`, a wrong gradient diagnosed.

    `diagnose=False` gives the bare verdict (`verdict.verdict`).
    """
    outcome = verdict(
        engine, graph, point, ref=ref, formulas=formulas,
        values_only=values_only, ran=ran,
    )  # fmt: skip
    example = outcome.counterexample
    if not diagnose or outcome.status != FAIL or outcome.category != UNDIAGNOSED:
        return outcome
    assert example is not None and outcome.run is not None
    assert outcome.reference is not None
    run, reference = outcome.run, outcome.reference
    category, hint, smaller, divergent = diagnose_failure(
        engine, graph, run, reference, example.divergent_node
    )
    if smaller is not None and smaller.counterexample is not None:
        # A smaller graph already fails: that is the minimal counterexample.
        smaller.counterexample.hint = hint
        return Outcome(FAIL, category, hint, smaller.counterexample, run, reference)
    return failed_outcome(
        graph, example.point, run, reference, example.gradients, category, hint,
        divergent,
    )  # fmt: skip


def reduce_failure(engine: Engine, outcome: Outcome, budget: int = 80) -> Outcome:
    """The smallest sub-expression of a failing graph that fails the same way.

    Hypothesis shrinks the choices that built a graph; this tries every
    node of the shrunk graph as the output instead (smallest first), which
    often finds a much smaller graph with the same category.
    """
    example = outcome.counterexample
    if example is None or outcome.status != FAIL:
        return outcome
    graph = example.graph
    candidates = sorted(
        {
            subgraph(graph, i).to_text(): subgraph(graph, i)
            for i, node in enumerate(graph.nodes)
            if not node.is_leaf
        }.values(),
        key=len,
    )
    for candidate in candidates[:budget]:
        if len(candidate) >= len(graph):
            break
        point = {v: example.point[v] for v in candidate.variables}
        smaller = judge(engine, candidate, point)
        if smaller.status == FAIL and smaller.category == outcome.category:
            return smaller
    return outcome
