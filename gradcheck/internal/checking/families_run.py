"""Run the check families on a loaded engine, simplest first, into a report.

Values, each op alone, reuse, chains, complexity, depth, range, repeated
backward, the nn checks, then the random graphs; the ops that failed their
own checks are left out of the depth chains and range probes. Then one bug
is made one finding (`marking`, `nondeterminism`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gradcheck.errors import EngineError, UsageError
from gradcheck.internal.checking.chains import Pair
from gradcheck.internal.checking.complexity import complexity_probe
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
)
from gradcheck.internal.checking.limits import (
    depth_findings,
    depth_pairs,
    range_findings,
)
from gradcheck.internal.checking.locations import locate_failures
from gradcheck.internal.checking.marking import (
    blame_the_root,
    mark_consequences,
    mark_derived_failures,
    mark_repeated_failures,
)
from gradcheck.internal.checking.method_forms import storage_limit
from gradcheck.internal.checking.nondeterminism import mark_nondeterministic
from gradcheck.internal.checking.probes import (
    DEEP,
    accumulation_probe,
    deep_probe,
    local_derivative_probe,
    op_accumulation_probe,
    propagation_probe,
    value_probe,
)
from gradcheck.internal.checking.progress import Progress
from gradcheck.internal.checking.random_graphs import random_graph_check
from gradcheck.internal.checking.stateful import (
    NN_CHECKS,
    nn_probes,
    repeated_backward_probe,
)
from gradcheck.internal.expr.ops import OPS
from gradcheck.report import (
    FAIL,
    PASS,
    SKIP,
    Check,
    EngineReport,
    Limit,
)


def run_families(
    engine: Engine,
    target: Any,
    seed: int,
    start: float,
    examples: int,
    max_nodes: int,
    ops: Sequence[str] | None,
    jobs: int,
    progress: Progress | None,
    options: Options,
) -> EngineReport:
    min_depth, range_limit = options.min_depth, options.range_limit
    if not {"add", "mul"} & set(engine.supported):
        raise EngineError(
            f"engine {engine.target!r} has no usable ops: + or * between two "
            "Values is needed to build any graph"
            + "".join(
                f"; {op}: {why}"
                for op, why in engine.unsupported.items()
                if op in ("add", "mul")
            )
            + "".join(
                f"; {op}: {b.get('message')}"
                for op, b in engine.broken.items()
                if op in ("add", "mul")
            )
            # The loader's own advice, when it saw a stub: which cell to pick.
            + "".join(f"; {n}" for n in engine.notes if "exercise stub" in n)
        )
    if ops is not None:
        unknown = sorted(set(ops) - set(OPS))
        if unknown:
            raise UsageError(
                f"unknown op(s): {', '.join(unknown)}; known: {', '.join(OPS)}"
            )
        engine.supported = tuple(n for n in engine.supported if n in set(ops))
    report = _new_report(engine, seed)
    report.strict = options.strict
    report.checks.extend(engine.form_checks)
    storage = storage_limit(engine)
    if storage is not None:
        report.limits.append(storage)
    wanted = options.wanted

    def rng(family: str) -> random.Random:
        # One stream per family: running some families tries the same examples.
        return random.Random(f"{seed}:{family}")

    if wanted("defined"):
        report.checks.extend(broken_op_checks(engine))
    if wanted("value"):
        report.checks.extend(nested_value_checks(engine))
        report.checks.append(value_probe(engine, rng("value")))
    if wanted("local-derivative"):
        # x * c goes first: the other ops are scaled by it to test out.grad use.
        order = sorted(engine.supported, key=lambda name: name != "mul_const")
        scale = True
        family_rng = rng("local-derivative")
        for name in order:
            check = local_derivative_probe(engine, family_rng, name, scale)
            scale = scale and not (name == "mul_const" and check.status == FAIL)
            report.checks.append(check)
    if wanted("accumulation"):
        family_rng = rng("accumulation")
        # `+` first: every other op is probed combined with it. Then `*`:
        # learners build `-`, neg and `/` from it, so its bug is named first.
        first = {"add": 0, "mul": 1}
        for name in sorted(engine.supported, key=lambda name: first.get(name, 2)):
            report.checks.append(op_accumulation_probe(engine, family_rng, name))
        report.checks.append(accumulation_probe(engine, family_rng))
    if wanted("propagation"):
        report.checks.append(propagation_probe(engine, rng("propagation")))
    if wanted("complexity"):
        report.checks.append(complexity_probe(engine))
    # Ops that failed a check of their own: depth chains are built without
    # them, and their range probes would only repeat the error.
    failed_ops = _ops_that_failed(report.checks)
    good_ops = [op for op in engine.supported if op not in failed_ops]
    if wanted("depth") or wanted("deep-chain"):
        hung_before = engine.hung
        pairs = depth_pairs(engine, good_ops)
        # The deep probe's chain is the depth search's first (DEEP links):
        # judged first, a chain found right is not built again to measure
        # depth, and the probe is not run twice at that length.
        early = deep_probe(engine, pairs, DEEP) if wanted("deep-chain") else None
        depth_check, depth_limit = depth_findings(
            engine,
            options.max_depth,
            min_depth=min_depth,
            good_ops=good_ops,
            works_at=DEEP if early is not None and early.status == PASS else 0,
        )
        if wanted("depth"):
            report.checks.append(depth_check)
            if depth_limit is not None:
                report.limits.append(depth_limit)
        if wanted("deep-chain"):
            report.checks.append(
                _deep_chain_check(engine, pairs, depth_limit, early=early)
            )
        if depth_limit is not None:
            # A deadline missed beyond the normal depth is the limit measured,
            # not a hang: the random graphs (a few dozen nodes) still run.
            engine.hung = hung_before
    if wanted("range"):
        range_checks, range_limits = range_findings(
            engine, range_limit, frozenset(failed_ops)
        )
        report.checks.extend(range_checks)
        report.limits.extend(range_limits)
        for limit in range_limits:  # later examples past a limit are not errors
            op = limit.name.partition("[")[2].rstrip("]")
            if limit.name.startswith("range[") and limit.bound is not None:
                bounds = engine.range_bounds.get(op, ())
                engine.range_bounds[op] = (*bounds, limit.bound)  # one a side
    if wanted("repeated-backward"):
        repeated, semantics = repeated_backward_probe(engine, rng("repeated"))
        report.checks.append(repeated)
        report.info["repeated backward"] = semantics
    nn_wanted = [n for n in NN_CHECKS if wanted(n)]
    if nn_wanted:
        report.checks.extend(
            c for c in nn_probes(engine, rng("nn")) if c.name in nn_wanted
        )
    if not wanted("random-graphs"):
        pass
    elif examples and engine.hung:
        report.checks.append(
            Check(
                "random-graphs", "crash", SKIP, "skipped: the engine hangs (see above)"
            )
        )
    elif examples:
        report.checks.append(
            random_graph_check(
                engine,
                target,
                seed=seed,
                examples=examples,
                max_nodes=max_nodes,
                jobs=jobs,
                progress=progress,
                known_categories={
                    c.category for c in report.checks if c.status == FAIL
                },
            )
        )
    mark_nondeterministic(engine, report.checks)
    mark_derived_failures(engine, report)
    mark_consequences(report)
    mark_repeated_failures(report)
    blame_the_root(report)
    locate_failures(engine, report)
    report.output_tail = engine.output
    report.seconds = time.perf_counter() - start
    return report


def _ops_that_failed(checks: Sequence[Check]) -> set[str]:
    """Ops named by a failing check (`local-derivative[tanh]`), or whose
    graph is the failing value check's counterexample."""
    failed: set[str] = set()
    for check in checks:
        if check.status != FAIL:
            continue
        op = check.name.partition("[")[2].rstrip("]")
        if op in OPS:
            failed.add(op)
        elif check.counterexample is not None and not check.name.startswith(
            ("accumulation", "propagation")
        ):
            failed |= check.counterexample.graph.ops_used()
    return failed


# The deep chain runs this far below a measured depth limit: the search ran
# the same chain in a worker whose stack may be a few frames shallower.
DEPTH_MARGIN = 0.95


def _deep_chain_check(
    engine: Engine,
    pairs: tuple[Pair, ...],
    depth_limit: Limit | None,
    early: Check | None = None,
) -> Check:
    """The deep probe: the depth search's chain, judged against the references.

    Below a measured depth limit, on the very chain the search measured. A
    recursion error or a dead worker there is still the limit (reported
    once, under `depth`), never a second error. `early` is the probe already
    run at DEEP links, used when that is still the length.
    """
    depth = DEEP
    if depth_limit is not None:
        depth = min(DEEP, int((depth_limit.bound or 0) * DEPTH_MARGIN))
    depth -= depth % 2  # whole pairs: the chain gives back its input
    check = early if early is not None and depth == DEEP else None
    if check is None:
        check = deep_probe(engine, pairs, depth)
    if depth_limit is not None and check.status == FAIL:
        example = check.counterexample
        text = f"{check.message} {example.error if example else ''}"
        if (
            "RecursionError" in text
            or "worker died" in text
            or check.category == "crash"
        ):
            return Check(
                check.name,
                "propagation",
                SKIP,
                "not judged: the chain is near the measured depth limit "
                f"({text.strip()})",
            )
    return check


@dataclass(frozen=True)
class Options:
    min_depth: int | None
    range_limit: float | None
    strict: bool
    checks: tuple[str, ...] | None
    max_depth: int

    def wanted(self, family: str) -> bool:
        """Whether `checks=` asks for this family (all when not given)."""
        return self.checks is None or family in self.checks


def _new_report(engine: Engine, seed: int) -> EngineReport:
    """An empty report that says where and how the engine ran."""
    unsupported = dict(engine.unsupported)
    unsupported.update(engine.capabilities)
    return EngineReport(
        engine.target,
        seed,
        list(engine.supported),
        unsupported,
        isolated=engine.isolated,
        engine_file=engine.file,
        notes=list(engine.notes),
        api=dict(engine.api),
        not_checked=list(engine.not_checked),
        broken={op: str(b.get("message")) for op, b in engine.broken.items()},
    )


def broken_op_checks(engine: Engine) -> list[Check]:
    """Ops the class defines but that raise, hang or kill the worker: crash
    errors, not "unsupported"."""
    checks = []
    for op, broken in engine.broken.items():
        fault = EngineFault(broken)
        where = f" at {fault.location}" if fault.location else ""
        message = f"{op} is defined but raises {fault.text}{where}"
        if broken.get("crash"):  # hung or killed the worker while detected
            message = fault.text
        elif fault.cause:
            message += f": {fault.cause}"
        elif fault.type_name == "NameError":
            message = f"{op}: {fault.text}"
        checks.append(Check(f"defined[{op}]", "crash", FAIL, message, examples=1))
    return checks


def nested_value_checks(engine: Engine) -> list[Check]:
    """Ops whose result holds a Value in `.data`: value errors of that op
    (the worker reads the number inside, so its derivative is still judged)."""
    return [
        Check(f"value[{op}]", "value", FAIL, nested, examples=1)
        for op, nested in engine.nested.items()
    ]
