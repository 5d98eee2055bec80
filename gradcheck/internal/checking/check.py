"""The two entry points: check a whole engine, or check expressions.

`check_engine` runs the probes simplest first (values, each op alone, reuse,
chains, deep graphs, repeated backward, zero_grad) and then random graphs
from Hypothesis, whose failures come back shrunk. `check_expression`
compares an engine's gradients of given expressions with both references.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gradcheck.errors import UsageError
from gradcheck.internal.checking import reproduce
from gradcheck.internal.checking.engine_client import (
    DEFAULT_IMPORT_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    Engine,
    load_engine,
)
from gradcheck.internal.checking.expressions import as_graph, check_expression_on
from gradcheck.internal.checking.families_run import Options, run_families
from gradcheck.internal.checking.family_names import (
    CHECK_FAMILIES,
    DEFAULT_EXAMPLES,
    TENSOR_EXAMPLES,
)
from gradcheck.internal.checking.limits import DEPTH_CAP
from gradcheck.internal.checking.progress import Progress, TextProgress, in_notebook
from gradcheck.internal.checking.supervisor import DEFAULT_MEMORY_LIMIT
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.report import (
    FAIL,
    EngineReport,
    ExpressionReport,
)

# The defaults a rerun command leaves out.
DEFAULT_MAX_NODES = 30


# Checks made while the engine loads, in every run: the cheapest family
# reruns them (`forms[gelu]`: a gelu that is neither form).
LOAD_CHECKS = {"forms": "defined"}


def only_family(only: str) -> str:
    """The family that runs check `only` (`accumulation[mul]` -> accumulation)."""
    family = only.partition("[")[0].strip()
    family = LOAD_CHECKS.get(family, family)
    if family not in CHECK_FAMILIES:
        raise UsageError(
            f"--only {only}: no check family {family!r}; known: "
            f"{', '.join(CHECK_FAMILIES)} (a check is FAMILY or FAMILY[NAME], "
            "as the report shows it)"
        )
    return family


def keep_only(report: EngineReport, only: str) -> None:
    """Keep the checks named `only` (all of the family for a bare family name)."""
    family = "[" not in only
    kept = [
        c
        for c in report.checks
        if c.name == only or (family and c.name.partition("[")[0] == only)
    ]
    # The range family makes a check only for an error; its limits count too.
    limits = [
        x
        for x in report.limits
        if x.name == only or (family and x.name.partition("[")[0] == only)
    ]
    if not kept and not limits:
        ran = ", ".join(c.name for c in report.checks) or "none"
        raise UsageError(f"--only {only}: no such check ran (its family ran: {ran})")
    names = {c.name for c in kept}
    for check in kept:
        if check.same_as is not None and check.same_as not in names:
            check.same_as = None  # the check it repeats is not shown
    report.checks = kept


def _seed(seed: int | str | None) -> int:
    """The one seed policy (`gradcheck.seeds`): given, 0 under CI, or fresh."""
    from gradcheck.seeds import resolve_seed

    return resolve_seed(seed)


# While checking, the youngest generation is collected after this many new
# objects instead of 700: the checker makes many short-lived mpmath numbers
# and few cycles, and each pass costs more than it frees.
CHECKING_THRESHOLD = 10_000


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """The cyclic collector set for a check, the caller's settings restored after.

    Everything alive when the check starts (the imported modules, the
    caller's data) is frozen (`gc.freeze`), so the collector's passes skip
    it; new objects are collected in larger steps. Left as it is when the
    caller has frozen objects of its own or turned the collector off.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(CHECKING_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def check_engine(
    target: str | type | Any = None,
    *,
    examples: int | None = None,
    seed: int | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    ops: Sequence[str] | None = None,
    jobs: int = 1,
    time_limit: float = DEFAULT_TIME_LIMIT,
    progress: Progress | None = None,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    strict: bool = False,
    min_depth: int | None = None,
    range_limit: float | None = None,
    api: Mapping[str, str] | None = None,
    op_names: Mapping[str, str] | None = None,
    checks: Sequence[str] | None = None,
    max_depth: int = DEPTH_CAP,
    op_defs: Mapping[str, str] | None = None,
    kind: str | None = None,
    only: str | None = None,
) -> EngineReport:
    """Check an engine: every probe, then `examples` random graphs.

    `target` is `path/to/file.py[:Class]`, `package.module[:Class]`, a Value
    class or a module (default: the built-in micrograd). `ops` restricts the
    ops used; `jobs` runs the random graphs in that many processes. `kind`
    is "scalar" or "tensor"; by default a class whose data is an array is
    checked as a tensor engine, whatever its name, and the report says so.
    `examples` defaults to 200 random graphs, or 30 random programs for a
    tensor engine. `only` reruns one check by the name the
    report shows (`accumulation[mul]`, or a family such as `propagation`):
    its family runs with the same seed, and the report keeps that check.
    """
    if kind not in (None, "scalar", "tensor"):
        raise UsageError(f"kind is 'scalar' or 'tensor', not {kind!r}")
    notes: list[str] = []
    if kind is None and target is not None and not isinstance(target, Engine):
        from gradcheck.internal.tensor.engine import why_tensor

        why = why_tensor(target, import_timeout=import_timeout)
        if why:
            kind = "tensor"
            notes.append(
                f"checked as a tensor engine: {why} (kind='scalar' checks it "
                "as a scalar one)"
            )
    if kind == "tensor":
        from gradcheck.internal.tensor.check import check_tensor_engine

        return check_tensor_engine(
            target,
            examples=TENSOR_EXAMPLES if examples is None else examples,
            seed=seed,
            time_limit_s=time_limit,
            api=dict(api) if api else None,
            op_names=dict(op_names) if op_names else None,
            op_defs=dict(op_defs) if op_defs else None,
            notes=notes,
        )
    if examples is None:
        examples = DEFAULT_EXAMPLES
    if examples < 0 or max_nodes < 1 or jobs < 1 or time_limit <= 0:
        raise UsageError("examples >= 0, max_nodes >= 1, jobs >= 1 and time_limit > 0")
    seed = _seed(seed)
    start = time.perf_counter()
    if only is not None:
        checks = [only_family(only)]
    if checks is not None:
        unknown_families = sorted(set(checks) - set(CHECK_FAMILIES))
        if unknown_families:
            raise UsageError(
                f"unknown check famil(ies): {', '.join(unknown_families)}; "
                f"known: {', '.join(CHECK_FAMILIES)}"
            )
    options = Options(
        min_depth, range_limit, strict, tuple(checks) if checks else None, max_depth
    )
    if progress is None:
        progress = TextProgress() if in_notebook() else None
    # `--op-def`: what an engine method computes
    with collector_tuned(), declared_ops(op_defs):
        engine = load_engine(
            target,
            time_limit,
            import_timeout=import_timeout,
            memory_limit=memory_limit,
            api=api,
            op_names=op_names,
        )
        try:
            report = run_families(
                engine,
                target,
                seed,
                start,
                examples,
                max_nodes,
                ops,
                jobs,
                progress,
                options,
            )
        finally:
            if not isinstance(target, Engine):
                engine.close()
    for name, text in (op_defs or {}).items():
        report.api[f"op {name}"] = f"declared {text}"
    reproduce.attach(engine, report.checks)
    rerun_options = {
        "--examples": examples if examples != DEFAULT_EXAMPLES else None,
        "--max-nodes": max_nodes if max_nodes != DEFAULT_MAX_NODES else None,
        "--ops": list(ops) if ops else None,
        "--api": dict(api) if api else None,
        "--op": dict(op_names) if op_names else None,
    }
    for check in report.failures:
        check.rerun = reproduce.rerun_argv(target, seed, check.name, rerun_options)
    if only is not None:
        keep_only(report, only)
    return report


def check_expression(
    expression: str | Graph,
    point: Mapping[str, float] | None = None,
    *,
    engine: Any = None,
    points: int = 1,
    seed: int | None = None,
) -> ExpressionReport:
    """Check one expression on an engine at `point`, or at `points` random points.

    Raises `ExpressionError` for a bad expression and `PointError` when the
    given point is incomplete or outside the domain.
    """

    graph = as_graph(expression)
    text = expression if isinstance(expression, str) else graph.to_text()
    loaded = load_engine(engine)
    try:
        report = check_expression_on(loaded, graph, text, point, points, seed)
        for result in report.results:
            if result.status == FAIL and result.counterexample is not None:
                example = result.counterexample
                example.reproduce = reproduce.example_snippet(
                    loaded, example, result.category
                )
        return report
    finally:
        if not isinstance(engine, Engine):
            loaded.close()
