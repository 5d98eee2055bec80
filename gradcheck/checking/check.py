"""The two entry points: check a whole engine, or check expressions.

`check_engine` runs the probes simplest first (values, each op alone, reuse,
chains, deep graphs, repeated backward, zero_grad) and then random graphs
from Hypothesis, whose failures come back shrunk. `check_expression`
compares an engine's gradients of given expressions with both references.
"""

from __future__ import annotations

import random
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from gradcheck.checking.chains import Pair
from gradcheck.checking.complexity import complexity_probe
from gradcheck.checking.consequences import mark_consequences
from gradcheck.checking.engines import (
    DEFAULT_IMPORT_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    Engine,
    EngineFault,
    load_engine,
)
from gradcheck.checking.families import CHECK_FAMILIES
from gradcheck.checking.judge import judge
from gradcheck.checking.limits import (
    DEPTH_CAP,
    depth_findings,
    depth_pairs,
    range_findings,
)
from gradcheck.checking.opforms import storage_limit
from gradcheck.checking.probes import (
    DEEP,
    accumulation_probe,
    deep_probe,
    local_derivative_probe,
    op_accumulation_probe,
    propagation_probe,
    value_probe,
)
from gradcheck.checking.progress import Progress, TextProgress, in_notebook
from gradcheck.checking.rebuild import mark_nondeterministic
from gradcheck.checking.stateful import NN_CHECKS, nn_probes, repeated_backward_probe
from gradcheck.checking.supervisor import DEFAULT_MEMORY_LIMIT
from gradcheck.checking.targets import SourceTarget
from gradcheck.checking.verdict import gradient_rows
from gradcheck.errors import EngineError, PointError, UsageError
from gradcheck.expr.graph import Graph
from gradcheck.expr.ops import OPS
from gradcheck.refs.declarations import declared_ops
from gradcheck.refs.points import sample_point
from gradcheck.refs.references import domain_problem, reference
from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    SKIP,
    Check,
    EngineReport,
    ExpressionReport,
    ExpressionResult,
    Limit,
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
) -> EngineReport:
    """Check an engine: every probe, then `examples` random graphs.

    `target` is `path/to/file.py[:Class]`, `package.module[:Class]`, a Value
    class or a module (default: the built-in micrograd). `ops` restricts the
    ops used; `jobs` runs the random graphs in that many processes.
    """
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
    options = _Options(
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
            report = _check_loaded(
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


def _check_loaded(
    engine: Engine,
    target: Any,
    seed: int,
    start: float,
    examples: int,
    max_nodes: int,
    ops: Sequence[str] | None,
    jobs: int,
    progress: Progress | None,
    options: _Options,
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
        )
    if ops is not None:
        unknown = sorted(set(ops) - set(OPS))
        if unknown:
            raise UsageError(
                f"unknown op(s): {', '.join(unknown)}; known: {', '.join(OPS)}"
            )
        engine.supported = tuple(n for n in engine.supported if n in set(ops))
    report = _new_report(engine, seed)
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
        depth_check, depth_limit = depth_findings(
            engine, options.max_depth, min_depth=min_depth, good_ops=good_ops
        )
        if wanted("depth"):
            report.checks.append(depth_check)
            if depth_limit is not None:
                report.limits.append(depth_limit)
        if wanted("deep-chain"):
            report.checks.append(
                _deep_chain_check(engine, depth_pairs(engine, good_ops), depth_limit)
            )
    if wanted("range"):
        range_checks, range_limits = range_findings(
            engine, range_limit, frozenset(failed_ops)
        )
        report.checks.extend(range_checks)
        report.limits.extend(range_limits)
        for limit in range_limits:  # later examples past a limit are not errors
            op = limit.name.partition("[")[2].rstrip("]")
            if limit.name.startswith("range[") and limit.bound is not None:
                engine.range_bounds[op] = limit.bound
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
    _mark_repeated_failures(report)
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
    engine: Engine, pairs: tuple[Pair, ...], depth_limit: Limit | None
) -> Check:
    """The deep probe: the depth search's chain, judged against the references.

    Below a measured depth limit, on the very chain the search measured. A
    recursion error or a dead worker there is still the limit (reported
    once, under `depth`), never a second error.
    """
    depth = DEEP
    if depth_limit is not None:
        depth = min(DEEP, int((depth_limit.bound or 0) * DEPTH_MARGIN))
    depth -= depth % 2  # whole pairs: the chain gives back its input
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
class _Options:
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


def mark_derived_failures(engine: Engine, report: EngineReport) -> None:
    """A failing op that the engine builds from another failing op is that bug.

    The lecture builds `-` as self + (-other) and neg as self * -1: a wrong
    `*` then fails every one of them. The worker traced which of the class's
    methods each op calls; a failure of such an op, in the category its base
    op already failed in, is marked `same_as` the base op's check.
    """
    from gradcheck.worker.apply import SPELLING

    ops_of: dict[str, list[str]] = {}
    for op, (_, _, spelling) in SPELLING.items():
        ops_of.setdefault(spelling.removeprefix("method:"), []).append(op)
    failed: dict[tuple[str, str], str] = {}  # earlier failures only
    for check in report.failures:
        op = check.name.partition("[")[2].rstrip("]")
        if not op or op not in SPELLING:
            continue
        methods = engine.built_from.get(op, [])
        own = SPELLING[op][2].removeprefix("method:")  # x * 3 is __mul__ too
        for method in [*methods, own]:
            base = next(
                (
                    failed[(b, check.category)]
                    for b in ops_of.get(method, [])
                    if b != op and (b, check.category) in failed
                ),
                None,
            )
            if base is not None and check.same_as is None:
                check.same_as = base
                calls = ", ".join(methods or [own])
                check.message += f" ({op} calls {calls}: the same bug as {base})"
                break
        failed.setdefault((op, check.category), check.name)


def _mark_repeated_failures(report: EngineReport) -> None:
    """Mark failures whose minimal example repeats an earlier failure's.

    A wrong tanh derivative also fails the chains and the random graphs;
    they shrink to the same `tanh(x)`, which the report shows only once.
    """
    seen: dict[tuple[str, str], str] = {}
    for check in report.failures:
        example = check.counterexample
        key = (check.category, example.expression if example else check.message)
        if key in seen:
            check.same_as = seen[key]
        else:
            seen[key] = check.name
    failures = report.failures
    report.info["distinct problems found"] = str(count_distinct(failures))
    if failures:
        first = failures[0]
        report.info["first failure"] = f"{first.name} ({first.category})"


def count_distinct(failures: Sequence[Check]) -> int:
    """Failures that are not the same problem seen again.

    Two failures are one problem when they have the same category and either
    the same counterexample up to its constants (x*y*2 and x*y*(-1.75)) or
    the same message (a backward() that does nothing fails every probe alike).
    """
    shapes: set[tuple[str, str]] = set()
    messages: set[tuple[str, str]] = set()
    count = 0
    for check in failures:
        if check.same_as is not None and "the same bug as" in check.message:
            continue  # an op built from another failing op
        example = check.counterexample
        shape = (check.category, _shape(example.graph) if example else check.name)
        message = (check.category, check.message)
        if shape not in shapes and message not in messages:
            count += 1
        shapes.add(shape)
        messages.add(message)
    return count


def _shape(graph: Graph) -> str:
    """The graph's text with every constant replaced by the same one."""
    nodes = tuple(
        replace(node, constant=None if node.constant is None else 2.0)
        for node in graph.nodes
    )
    return Graph(nodes).to_text()


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
    from gradcheck.checking.random_graphs import run_random_graphs

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
    range_bounds: dict[str, float],
) -> Check:
    from gradcheck.checking.random_graphs import run_random_graphs

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

    graph = _as_graph(expression)
    text = expression if isinstance(expression, str) else graph.to_text()
    loaded = load_engine(engine)
    try:
        return _check_expression_on(loaded, graph, text, point, points, seed)
    finally:
        if not isinstance(engine, Engine):
            loaded.close()


def _check_expression_on(
    loaded: Engine,
    graph: Graph,
    text: str,
    point: Mapping[str, float] | None,
    points: int,
    seed: int | None,
) -> ExpressionReport:
    from gradcheck.refs.symbolic import derivative_formulas

    missing = sorted(graph.ops_used() - set(loaded.supported))
    if missing:
        reasons = "; ".join(
            f"{op}: {loaded.unsupported.get(op, '?')}" for op in missing
        )
        raise UsageError(f"the engine {loaded.target} does not support {reasons}")
    seed = _seed(seed)
    report = ExpressionReport(loaded.target, seed)
    formulas, _ = derivative_formulas(graph)
    rng = random.Random(seed)
    if point is not None:
        chosen = [_given_point(graph, point)]
    else:
        if points < 1:
            raise UsageError("points must be at least 1")
        chosen = []
        for _ in range(points):
            drawn = sample_point(graph, rng, tries=200)
            if drawn is None:
                raise PointError(f"found no point where {text} is defined and smooth")
            chosen.append(drawn)
    for at in chosen:
        report.results.append(_check_at(loaded, graph, text, at, formulas))
    return report


def _as_graph(expression: str | Graph) -> Graph:
    if isinstance(expression, Graph):
        return expression
    if not isinstance(expression, str):
        raise UsageError(
            f"expected an expression string or a Graph, got {type(expression).__name__}"
        )
    from gradcheck.expr.parser import parse

    return parse(expression)


def _given_point(graph: Graph, point: Mapping[str, float]) -> dict[str, float]:
    missing = [v for v in graph.variables if v not in point]
    if missing:
        raise PointError(f"no value given for {', '.join(missing)}")
    unknown = sorted(set(point) - set(graph.variables))
    if unknown:
        raise PointError(f"{', '.join(unknown)} is not a variable of the expression")
    at = {v: float(point[v]) for v in graph.variables}
    problem = domain_problem(graph, at)
    if problem is not None:
        shown = ", ".join(f"{k}={v:g}" for k, v in at.items())
        raise PointError(f"{problem} (at {shown})")
    return at


def _check_at(
    engine: Engine,
    graph: Graph,
    text: str,
    point: dict[str, float],
    formulas: Mapping[str, str],
) -> ExpressionResult:
    outcome = judge(engine, graph, point, formulas=formulas)
    ref = outcome.reference or reference(
        graph, point, unit_roundoff=engine.unit_roundoff
    )
    run = outcome.run
    rows = gradient_rows(graph, run, ref, formulas)
    if outcome.counterexample is not None:
        rows = outcome.counterexample.gradients
    status = outcome.status
    return ExpressionResult(
        expression=text,
        graph=graph,
        point=point,
        value_backprop=run.data[-1] if run is not None else None,
        value_reference=_digits(ref.symbolic.value),
        gradients=rows,
        status=status if status in (PASS, FAIL) else INCONCLUSIVE,
        category=outcome.category,
        message=outcome.hint,
        counterexample=outcome.counterexample,
    )


def _digits(value: Any) -> str:
    from gradcheck.checking.verdict import digits

    return digits(value)
