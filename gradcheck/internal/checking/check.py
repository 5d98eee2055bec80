"""The two entry points: check a whole engine, or check expressions.

`check_engine` runs the probes simplest first (values, each op alone, reuse,
chains, deep graphs, repeated backward, zero_grad) and then random graphs
from Hypothesis, whose failures come back shrunk. `check_expression`
compares an engine's gradients of given expressions with both references.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from gradcheck.errors import UsageError
from gradcheck.internal.checking.engine_client import (
    DEFAULT_IMPORT_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    Engine,
    load_engine,
)
from gradcheck.internal.checking.expressions import as_graph, check_expression_on
from gradcheck.internal.checking.families_run import Options, run_families
from gradcheck.internal.checking.family_names import CHECK_FAMILIES
from gradcheck.internal.checking.limits import DEPTH_CAP
from gradcheck.internal.checking.progress import Progress, TextProgress, in_notebook
from gradcheck.internal.checking.supervisor import DEFAULT_MEMORY_LIMIT
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.report import (
    EngineReport,
    ExpressionReport,
)


def _seed(seed: int | str | None) -> int:
    """The one seed policy (`gradcheck.seeds`): given, 0 under CI, or fresh."""
    from gradcheck.seeds import resolve_seed

    return resolve_seed(seed)


def check_engine(
    target: str | type | Any = None,
    *,
    examples: int = 200,
    seed: int | None = None,
    max_nodes: int = 30,
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
) -> EngineReport:
    """Check an engine: every probe, then `examples` random graphs.

    `target` is `path/to/file.py[:Class]`, `package.module[:Class]`, a Value
    class or a module (default: the built-in micrograd). `ops` restricts the
    ops used; `jobs` runs the random graphs in that many processes. `kind`
    is "scalar" or "tensor"; by default a class whose data is an array is
    checked as a tensor engine (at most 30 random programs), whatever its
    name, and the report says so.
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
            examples=min(examples, 30),
            seed=seed,
            time_limit_s=time_limit,
            api=dict(api) if api else None,
            op_names=dict(op_names) if op_names else None,
            op_defs=dict(op_defs) if op_defs else None,
            notes=notes,
        )
    if examples < 0 or max_nodes < 1 or jobs < 1 or time_limit <= 0:
        raise UsageError("examples >= 0, max_nodes >= 1, jobs >= 1 and time_limit > 0")
    seed = _seed(seed)
    start = time.perf_counter()
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
    with declared_ops(op_defs):  # `--op-def`: what an engine method computes
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
        return check_expression_on(loaded, graph, text, point, points, seed)
    finally:
        if not isinstance(engine, Engine):
            loaded.close()
