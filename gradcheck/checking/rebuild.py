"""Rebuild each failing counterexample and rerun it: is the failure stable?

An engine whose backward iterates a set of nodes (`_prev = set(children)`)
walks them in an order that depends on the nodes' ids, so the same graph
can fail on one build and pass on the next; pasted back, the counterexample
then "passes". Each rerun builds the graph afresh in the worker. Between
reruns a small graph of varying size is built first, so that new nodes do
not land at the addresses the last ones had and the set order can change.
"""

from __future__ import annotations

import re
from pathlib import Path

from gradcheck.checking.engines import Engine, EngineFault, Run, WorkerCrash
from gradcheck.checking.judge import gradient_rows
from gradcheck.errors import PointError
from gradcheck.expr.graph import Graph, GraphBuilder
from gradcheck.refs.references import Reference, reference
from gradcheck.report import FAIL, Check

REBUILDS = 20
# Deep chains are rerun by the depth probe already; rerunning them is slow.
MAX_NODES = 200
_SET_ATTRIBUTE = re.compile(r"self\.(\w+)\s*=\s*set\(")


def mark_nondeterministic(engine: Engine, checks: list[Check]) -> None:
    """Rerun every failing counterexample; say so when it fails only sometimes."""
    for check in checks:
        example = check.counterexample
        if (
            check.status != FAIL
            or example is None
            or check.category == "crash"
            or len(example.graph) > MAX_NODES
            or engine.hung
        ):
            continue
        values_only = check.name == "value"
        failed = count_failures(
            engine, example.graph, example.point, REBUILDS, values_only
        )
        if failed is None or failed == REBUILDS:
            continue
        # The shown counterexample failed once already: count it in.
        runs, failed = (REBUILDS + 1, 1) if failed == 0 else (REBUILDS, failed)
        note = f"fails in {failed} of {runs} rebuilds: {set_cause(engine)}"
        check.message = f"{note}. On one that failed: {check.message}"
        example.hint = f"{note}. On one that failed: {example.hint}"


def set_cause(engine: Engine) -> str:
    """Why a failure comes and goes; names the set attribute the source shows."""
    text = "the result depends on the iteration order of a set"
    attribute = _set_attribute(engine.file)
    if attribute is None:
        return (
            f"{text} (sets of nodes hash by id, so their order changes from one "
            "build to the next); walk a list, or sort"
        )
    return (
        f"{text}; your topological sort walks `{attribute}`, a set; use a list or sort"
    )


def _set_attribute(file: str | None) -> str | None:
    if not file:
        return None
    try:
        source = Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _SET_ATTRIBUTE.search(source)
    return found.group(1) if found else None


def count_failures(
    engine: Engine,
    graph: Graph,
    point: dict[str, float],
    times: int,
    values_only: bool = False,
) -> int | None:
    """How many of `times` fresh builds of `graph` fail (None: cannot tell)."""
    try:
        ref = reference(graph, point)
    except PointError:
        return None
    if not ref.conclusive:
        return None
    items: list[tuple[Graph, dict[str, float], bool]] = []
    for k in range(times):
        items.append((_filler(k % 5 + 1), {"x": 0.5}, False))
        items.append((graph, point, not values_only))
    results = engine.run_many(items)[1::2]
    if any(isinstance(r, WorkerCrash) for r in results):
        return None
    return sum(_fails(graph, r, ref, values_only) for r in results)


def _fails(
    graph: Graph,
    result: Run | EngineFault | WorkerCrash,
    ref: Reference,
    values_only: bool,
) -> bool:
    if not isinstance(result, Run):
        return True
    for i in range(len(graph.nodes)):
        if not abs(result.data[i] - ref.value(i)) <= ref.bounds.value_tolerance(i):
            return True
    if values_only:
        return False
    return not all(row.ok for row in gradient_rows(graph, result, ref))


def _filler(size: int) -> Graph:
    """A small chain x + x + ..., built only to move the allocator along."""
    b = GraphBuilder()
    node = b.var("x")
    for _ in range(size):
        node = b.op("add", node, node)
    return b.build()
