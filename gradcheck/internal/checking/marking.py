"""One bug, one finding: failures that repeat an earlier one are marked so.

An op built from a failing op (`-` as `self + (-other)`) is that op's bug; a
failure whose minimal example repeats an earlier one is shown once; and
`count_distinct` counts what is left.

Failures that follow from a bug an op probe already found, marked as that bug.

A `*` whose backward overwrites (`=` instead of `+=`) fails its own probe,
`accumulation[mul]`, on x*x. The same bug then fails the mixed graphs, the
chains and the random graphs (each blaming `*` in its hint), makes a second
backward over shared nodes look like kept state, and makes a training step
differ from a fresh model. Each of those is the one bug seen again: it is
marked `same_as` the op's check, says so, and is not counted as another
problem. Only failures whose words say they follow are marked: a composite
failure that blames another op, or that has a cause of its own (a stale
gradient from zeroing), stays a problem of its own.

A cause confirmed on the engine (a lost backward of one op, equal values
merged, an operand dropped by one op) is one bug wherever it is found: the
later checks that confirm it again are marked `same_as` the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gradcheck.internal.checking.engine_client import (
    Engine,
)
from gradcheck.internal.checking.hint_words import (
    blamed_symbol,
    confirmed_cause,
    op_symbol,
    overwrite_hint,
    wrong_derivative_op,
)
from gradcheck.internal.expr.graph import Graph
from gradcheck.report import (
    Check,
    EngineReport,
)


def mark_derived_failures(engine: Engine, report: EngineReport) -> None:
    """A failing op that the engine builds from another failing op is that bug.

    The lecture builds `-` as self + (-other) and neg as self * -1: a wrong
    `*` then fails every one of them. The worker traced which of the class's
    methods each op calls; a failure of such an op, in the category its base
    op already failed in, is marked `same_as` the base op's check. Ops that
    share a method (x * 3 is `__mul__` too) are marked after the first to
    fail. An op that calls a failing op's method is marked even when that
    op's check comes later (`/` written as self * other**-1, before `**`),
    unless the two call each other.
    """
    from gradcheck.internal.worker.op_calls import SPELLING

    ops_of: dict[str, list[str]] = {}
    for name, (_, _, spelling) in SPELLING.items():
        ops_of.setdefault(spelling.removeprefix("method:"), []).append(name)

    def op_of(check: Check) -> str | None:
        op = check.name.partition("[")[2].rstrip("]")
        return op if op in SPELLING else None

    def own(op: str) -> str:
        return SPELLING[op][2].removeprefix("method:")

    def mark(check: Check, op: str, base: str, methods: list[str]) -> None:
        check.same_as = base
        calls = ", ".join(methods or [own(op)])
        check.message += f" ({op} calls {calls}: the same bug as {base})"

    failed: dict[tuple[str, str], str] = {}  # earlier failures only
    for check in report.failures:
        op = op_of(check)
        if op is None:
            continue
        methods = engine.built_from.get(op, [])
        for method in [*methods, own(op)]:
            base = next(
                (
                    failed[(b, check.category)]
                    for b in ops_of.get(method, [])
                    if b != op and (b, check.category) in failed
                ),
                None,
            )
            if base is not None and check.same_as is None:
                mark(check, op, base, methods)
                break
        failed.setdefault((op, check.category), check.name)
    # Later bases: only through the methods an op calls, to a check that is
    # not marked itself, and never when that op calls this op's methods too.
    checks = {c.name: c for c in report.failures}
    for check in report.failures:
        op = op_of(check)
        if op is None or check.same_as is not None:
            continue
        methods = engine.built_from.get(op, [])
        for method in methods:
            base = next(
                (
                    failed[(b, check.category)]
                    for b in ops_of.get(method, [])
                    if b != op
                    and (b, check.category) in failed
                    and checks[failed[(b, check.category)]].same_as is None
                    and own(op) not in engine.built_from.get(b, [])
                ),
                None,
            )
            if base is not None and base != check.name:
                mark(check, op, base, methods)
                break


def mark_repeated_failures(report: EngineReport) -> None:
    """Mark failures that repeat an earlier failure's problem, and count them.

    A wrong tanh derivative also fails the chains and the random graphs;
    they shrink to the same `tanh(x)`, which the report shows only once.
    Two failures are one problem when they have the same category and
    either the same counterexample up to its constants (x*y*2 and
    x*y*(-1.75)) or the same message (a backward() that does nothing fails
    every probe alike). Every later one is marked `same_as` the first, so
    the count here, the JSON's `errors_by_category` and a grader's points
    all count the unmarked failures.
    """
    first: dict[tuple[str, str], str] = {}
    for check in report.failures:
        example = check.counterexample
        keys = [(check.category, check.message)]
        if example is not None:
            keys += [(check.category, example.expression)]
            keys += [(check.category, "shape:" + _shape(example.graph))]
        base = next((first[k] for k in keys if k in first), None)
        if base is not None and check.same_as is None and base != check.name:
            check.same_as = base
        for key in keys:
            first.setdefault(key, check.name)
    failures = report.failures
    report.info["distinct problems found"] = str(count_distinct(failures))
    if failures:
        first_failure = failures[0]
        report.info["first failure"] = (
            f"{first_failure.name} ({first_failure.category})"
        )


def count_distinct(failures: Sequence[Check]) -> int:
    """Failures that are not the same problem seen again (not marked `same_as`)."""
    return sum(1 for check in failures if check.same_as is None)


def _shape(graph: Graph) -> str:
    """The graph's text with every constant replaced by the same one."""
    nodes = tuple(
        replace(node, constant=None if node.constant is None else 2.0)
        for node in graph.nodes
    )
    return Graph(nodes).to_text()


# Checks over graphs of several ops: a failure there can be an op's bug again.
COMPOSITE = ("accumulation", "propagation", "deep-chain", "random-graphs")
# Checks of state across backward passes and training steps: with wrong
# gradients on shared nodes already found, their failure proves nothing new.
STATEFUL = ("repeated-backward", "training-loop")
# What a stateful failure says when it found a cause of its own.
OWN_CAUSE = ("stale gradient",)


def mark_consequences(report: EngineReport) -> None:
    """Mark the failures that an op probe's failure already explains."""
    by_symbol: dict[str, str] = {}  # op symbol -> its failed accumulation[op]
    first_op_failure: str | None = None  # the first of those in that category
    for check in report.failures:
        family, _, op = check.name.partition("[")
        if family != "accumulation" or not op:
            continue
        if first_op_failure is None and check.category == "accumulation":
            first_op_failure = check.name
        by_symbol.setdefault(op_symbol(op.rstrip("]")), check.name)
    # op -> the local-derivative[op] check that found its wrong derivative
    # (or the check that one is the same bug as: rdiv built from div)
    by_derivative: dict[str, str] = {}
    for check in report.failures:
        family, _, op = check.name.partition("[")
        if family == "local-derivative" and op:
            by_derivative.setdefault(op.rstrip("]"), check.same_as or check.name)
    by_cause: dict[str, str] = {}  # a confirmed cause -> its first check
    for check in report.failures:
        if check.same_as is not None:
            continue
        base = _explained_by(check, by_symbol, first_op_failure)
        if base is None:
            blamed = wrong_derivative_op(check.message)
            found = by_derivative.get(blamed) if blamed is not None else None
            base = found if found != check.name else None
        cause = confirmed_cause(check.message)
        if base is None and cause is not None:
            base = by_cause.setdefault(cause, check.name)
            if base == check.name:
                base = None
        if base is not None:
            check.same_as = base
            check.message += f" (the same bug as {base})"


def _explained_by(
    check: Check, by_symbol: dict[str, str], first_op_failure: str | None
) -> str | None:
    family, per_op, _ = check.name.partition("[")
    # accumulation[op] and the like are an op's own probe; deep-chain[N] is not.
    if family in COMPOSITE and (not per_op or family == "deep-chain"):
        if check.category != "accumulation":
            return None
        symbol = blamed_symbol(check.message)
        return by_symbol.get(symbol) if symbol is not None else None
    if family in STATEFUL and first_op_failure is not None:
        if any(cause in check.message for cause in OWN_CAUSE):
            return None
        return first_op_failure
    return None


def blame_the_root(report: EngineReport) -> None:
    """A failure marked as an earlier one's bug blames the op that one blames.

    A lecture engine with `=` in the backward of `*` also fails `x - x`,
    since `-` is `self + (-other)` and neg is `self * -1`. That failure's own
    hint would say "`=` instead of `+=` in the backward of `-`", which is
    false: it is marked `same_as` accumulation[mul], and now says `*`.
    """
    by_name = {check.name: check for check in report.checks}
    for check in report.failures:
        blamed = blamed_symbol(check.message)
        if blamed is None or check.same_as is None:
            continue
        root, seen = check, {check.name}
        while root.same_as is not None and root.same_as not in seen:
            seen.add(root.same_as)
            found = by_name.get(root.same_as)
            if found is None:
                break
            root = found
        truth = blamed_symbol(root.message)
        if truth is None or truth == blamed:
            continue
        old, new = overwrite_hint(blamed), overwrite_hint(truth)
        check.message = new + check.message[len(old) :]
        example = check.counterexample
        if example is not None and example.hint.startswith(old):
            example.hint = new + example.hint[len(old) :]
