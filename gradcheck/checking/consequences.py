"""Failures that follow from a bug an op probe already found, marked as that bug.

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

from gradcheck.checking.hint_words import blamed_symbol, confirmed_cause, op_symbol
from gradcheck.report import Check, EngineReport

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
    by_cause: dict[str, str] = {}  # a confirmed cause -> its first check
    for check in report.failures:
        if check.same_as is not None:
            continue
        base = _explained_by(check, by_symbol, first_op_failure)
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
