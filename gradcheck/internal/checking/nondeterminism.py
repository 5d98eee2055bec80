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
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from gradcheck.errors import PointError
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
    Run,
    WorkerCrash,
)
from gradcheck.internal.checking.verdict import gradient_rows
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.refs.references import Reference, reference
from gradcheck.report import FAIL, Check

REBUILDS = 20
# Deep chains are rerun by the depth probe already; rerunning them is slow.
MAX_NODES = 200
_SET_ATTRIBUTE = re.compile(r"self\.(\w+)\s*=\s*set\(")


def mark_nondeterministic(engine: Engine, checks: list[Check]) -> None:
    """Rerun every failing counterexample; say so when its result changes.

    A note is added only when rebuilds of the same graph give different
    numbers. It names set order only when the numbers change back and forth
    (a single change could be chance or state kept between calls: it is
    described, not explained). The note follows the message.
    """
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
        results = rebuild(engine, example.graph, example.point, REBUILDS, values_only)
        if results is None:
            continue
        if not values_only and example.engine_grads is not None:
            # The shown build failed already: it counts, first.
            results.insert(0, Rebuilt(True, _signature(example.engine_grads)))
        note = nondeterminism_note(engine, results)
        if note is None:
            continue
        example.varies = note
        # The message's own cause stays first (other checks and the marking
        # of repeats read it); the changing numbers come after.
        check.message = f"{check.message} ({note})"
        example.hint = f"{example.hint} ({note})"


@dataclass(frozen=True)
class Rebuilt:
    """One build of a graph: did it fail, and what numbers did it give."""

    failed: bool
    signature: tuple[object, ...]


def nondeterminism_note(engine: Engine, builds: list[Rebuilt]) -> str | None:
    """What the builds of one graph show, in order (the shown one first)."""
    if len({b.signature for b in builds}) < 2:
        return None  # the same numbers every time: deterministic
    failed = sum(b.failed for b in builds)
    runs = len(builds)
    head = f"fails in {failed} of {runs} rebuilds"
    changes = sum(1 for a, b in pairwise(builds) if a.signature != b.signature)
    right = failed < runs
    if changes == 1:
        # One change and then the same numbers: chance, or state kept between
        # calls; nothing here tells which, so say only what was seen.
        return f"{head}: the result is not the same on every build"
    return f"{head}: {set_cause(engine, right)}"


def set_cause(engine: Engine, right: bool = True) -> str:
    """Why a result changes from build to build, and what that says.

    No fix is offered: a correct backward gives the same numbers in any
    order of the children (any topological order will do), so an order
    that changes only decides whether a bug shows; walking a list instead
    would hide it on some graphs, not remove it. `right`: some build of
    the graph got the right result.
    """
    attribute = _set_attribute(engine.file)
    if attribute is None:
        where = (
            "the result changes back and forth from one build to the next: it "
            "depends on something that changes with the build, such as the "
            "iteration order of a set of nodes (their hashes are ids)"
        )
    else:
        where = (
            "the result depends on the iteration order of a set (your nodes keep "
            f"`{attribute}` as a set)"
        )
    if right:
        return (
            f"{where}; a correct backward gives the same result in any order, so "
            "the order decides only whether the bug shows"
        )
    return f"{where}; no build is right, so there is a bug whatever the order"


def _set_attribute(file: str | None) -> str | None:
    if not file:
        return None
    try:
        source = Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _SET_ATTRIBUTE.search(source)
    return found.group(1) if found else None


def rebuild(
    engine: Engine,
    graph: Graph,
    point: dict[str, float],
    times: int,
    values_only: bool = False,
) -> list[Rebuilt] | None:
    """`times` fresh builds of `graph`, in order (None: cannot tell)."""
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
    return [
        Rebuilt(_fails(graph, r, ref, values_only), _result_signature(r, values_only))
        for r in results
    ]


def count_failures(
    engine: Engine,
    graph: Graph,
    point: dict[str, float],
    times: int,
    values_only: bool = False,
) -> int | None:
    """How many of `times` fresh builds of `graph` fail (None: cannot tell)."""
    builds = rebuild(engine, graph, point, times, values_only)
    return None if builds is None else sum(b.failed for b in builds)


def _result_signature(
    result: Run | EngineFault | WorkerCrash, values_only: bool
) -> tuple[object, ...]:
    if isinstance(result, Run):
        return _signature(result.data if values_only else result.grads)
    return ("raised", str(result))


def _signature(numbers: list[float]) -> tuple[object, ...]:
    """Numbers equal to 12 digits compare equal (no noise from rounding)."""
    return tuple(float(f"{n:.12g}") if n == n else "nan" for n in numbers)


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
