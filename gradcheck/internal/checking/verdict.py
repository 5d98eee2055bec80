"""The verdict on one engine, one graph, one point: pass, fail or inconclusive.

This module compares the engine with the references and gives the
counterexample, with the words for crashes, hangs and wrong forward values.
A wrong gradient comes out with no category: `gradcheck.internal.checking.judge`
asks `diagnosis` for one, which reruns small graphs through `verdict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import mpmath

from gradcheck.errors import PointError
from gradcheck.internal.checking.constant_shift import shift_hint
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
    Run,
    WorkerCrash,
)
from gradcheck.internal.checking.hint_words import swapped_operands
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.references import Reference, reference
from gradcheck.internal.refs.tolerance import SAFETY
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, Counterexample, GradientRow

DIGITS_SHOWN = 30


def digits(value: object) -> str:
    """A reference value with 30 significant digits, trailing zeros kept."""
    with mpmath.workdps(DIGITS_SHOWN + 10):
        return str(mpmath.nstr(value, DIGITS_SHOWN, strip_zeros=False))


# The category of a wrong gradient before diagnosis.
UNDIAGNOSED = ""


@dataclass
class Outcome:
    """The verdict on one example, with its category and explanation."""

    status: str
    category: str | None = None
    hint: str = ""
    counterexample: Counterexample | None = None
    run: Run | None = None
    reference: Reference | None = None


def verdict(
    engine: Engine,
    graph: Graph,
    point: Mapping[str, float],
    *,
    ref: Reference | None = None,
    formulas: Mapping[str, str] | None = None,
    values_only: bool = False,
    ran: Run | EngineFault | WorkerCrash | None = None,
) -> Outcome:
    """Run `graph` on `engine` at `point` and compare with both references.

    With `values_only`, only the forward values are judged (no backward).
    `ran`: the engine's answer on this example, already asked for in a batch
    (see `prepare`); it is then not run again. A wrong gradient is a FAIL
    with category "" (`UNDIAGNOSED`): `judge.judge` finds its category.
    """
    point = {k: float(v) for k, v in point.items()}
    early = (
        prepare(engine, graph, point) if ref is None else _screen(engine, graph, ref)
    )
    if isinstance(early, Outcome):
        return early
    ref = early
    try:
        if isinstance(ran, BaseException):
            raise ran
        run = ran if ran is not None else engine.run(graph, point, not values_only)
    except EngineFault as fault:
        if fault.type_name == "ApiError":  # the checker's adapter, not the engine
            return Outcome(
                INCONCLUSIVE,
                hint=f"not checked: the checker's adapter failed ({fault.text})",
                reference=ref,
            )
        category, hint = fault_hint(fault, graph)
        return _crashed(graph, point, ref, category, hint, fault.text)
    except WorkerCrash as crash:
        if crash.timeout and len(graph.ops_used()) == 1:
            engine.hung_ops |= graph.ops_used()
        hint = crash_hint(crash, graph)
        return _crashed(graph, point, ref, "crash", hint, crash.message)

    bad_value = _first_wrong_value(graph, run, ref)
    if bad_value is not None:
        return failed_outcome(
            graph,
            point,
            run,
            ref,
            gradient_rows(graph, run, ref, formulas),
            "value",
            _value_hint(graph, run, ref, bad_value),
            bad_value,
        )
    # The rows (30 digits of each reference, as text) only for a failure:
    # formatting them for every passing example cost more than judging it.
    if values_only or _gradients_ok(graph, run, ref):
        return Outcome(PASS, run=run, reference=ref)
    rows = gradient_rows(graph, run, ref, formulas)
    divergent = first_divergent(graph, run, ref)
    hint = "the gradients are wrong"  # no category without a diagnosis
    return failed_outcome(graph, point, run, ref, rows, UNDIAGNOSED, hint, divergent)


def prepare(
    engine: Engine, graph: Graph, point: Mapping[str, float]
) -> Reference | Outcome:
    """The example's reference, or the verdict it gets without running it.

    An example outside the domain, where the references disagree, or past a
    measured limit is inconclusive before the engine sees it.
    """
    try:
        ref = reference(graph, point, unit_roundoff=engine.unit_roundoff)
    except PointError as err:
        return Outcome(INCONCLUSIVE, hint=str(err))
    return _screen(engine, graph, ref)


# How the hint of an example left out because one of its ops hangs begins.
NOT_RUN = "not run: "


def _screen(engine: Engine, graph: Graph, ref: Reference) -> Reference | Outcome:
    hung = graph.ops_used() & engine.hung_ops
    if hung:
        return Outcome(
            INCONCLUSIVE,
            hint=f"{NOT_RUN}{', '.join(sorted(hung))} hangs on its own (see above)",
            reference=ref,
        )
    if not ref.conclusive:
        return Outcome(INCONCLUSIVE, hint=ref.disagreement or "", reference=ref)
    beyond = beyond_limits(engine, graph, ref)
    if beyond:
        return Outcome(INCONCLUSIVE, hint=beyond, reference=ref)
    return ref


def beyond_limits(engine: Engine, graph: Graph, ref: Reference) -> str:
    """Why this example is past a measured range limit ('' when it is not).

    A random graph can feed tanh an input of 16,000 (x + x, fifteen times);
    an engine whose tanh overflows above 355 then fails there, but that is
    the limit already reported, not a new error.
    """
    if engine.range_bounds.keys().isdisjoint(graph.ops_used()):
        return ""  # most examples: none of its ops has a limit
    for node in graph.nodes:
        bounds = engine.range_bounds.get(node.op)
        if not bounds or not node.args:
            continue
        x = ref.value(node.args[0])
        for bound in bounds:  # one per side that fails (x >= 710, x <= -710)
            if (bound > 0 and x >= bound * 0.999) or (bound < 0 and x <= bound * 0.999):
                return f"{node.op} at {x:.4g}, past its measured limit ({bound:.4g})"
    return ""


def fault_hint(fault: EngineFault, graph: Graph) -> tuple[str, str]:
    """(category, hint) for an exception the engine raised on `graph`."""
    if fault.type_name == "RecursionError":
        return "propagation", (
            f"RecursionError on a graph {graph.depth()} deep: backward() or its "
            "topological sort recurses over the graph's depth; walk it with an "
            "explicit stack instead"
        )
    where = f" at {fault.location}" if fault.location else ""
    during = f" {fault.phase}" if fault.phase else ""
    hint = f"the engine raised {fault.text}{where}{during}"
    if fault.cause:
        hint += f": {fault.cause}"
    return "crash", hint


def crash_hint(crash: WorkerCrash, graph: Graph) -> str:
    """The words for a worker that died or hung on `graph`."""
    size = f"a {graph.depth():,}-deep graph" if graph.depth() > 50 else graph.to_text()
    if len(size) > 80:
        size = f"a graph of {len(graph):,} nodes"
    where = f" {crash.phase}" if crash.phase else ""
    if crash.timeout:
        return f"the engine hangs{where} on {size} ({crash.message})"
    return f"{crash.message}{where} on {size}: the worker died and was restarted"


# The two loops below run on every example: they read plain lists and
# compute each tolerance as `Bounds.value_tolerance` and `grad_tolerance` do
# (SAFETY * bound + floor, the same float), as a method call per node showed.


def _gradients_ok(graph: Graph, run: Run, ref: Reference) -> bool:
    """Every variable's gradient within its tolerance (as `GradientRow.ok`)."""
    grads, gradients = run.grads, ref.symbolic.gradients
    bound, floor = ref.bounds.grad, ref.bounds.floor
    for i, node in enumerate(graph.nodes):
        if node.op != "var":
            continue
        backprop = grads[i]
        if backprop is None:
            return False
        exact = float(gradients[node.name])
        if not abs(backprop - exact) <= SAFETY * bound[i] + floor:
            return False
    return True


def gradient_rows(
    graph: Graph,
    run: Run | None,
    ref: Reference,
    formulas: Mapping[str, str] | None = None,
) -> list[GradientRow]:
    rows = []
    for i, node in enumerate(graph.nodes):
        if node.op != "var":
            continue
        exact = ref.symbolic.gradients[node.name]
        tol = ref.bounds.grad_tolerance(i)
        backprop = run.grads[i] if run is not None else None
        error = abs(backprop - float(exact)) if backprop is not None else None
        ok = error is not None and error <= tol
        rows.append(
            GradientRow(
                node.name,
                backprop,
                digits(exact),
                digits(ref.numeric.gradients[node.name]),
                (formulas or {}).get(node.name),
                error,
                tol,
                ok,
            )
        )
    return rows


def _counterexample(
    graph: Graph,
    point: dict[str, float],
    run: Run | None,
    ref: Reference,
    rows: list[GradientRow],
    divergent: int | None,
    hint: str,
    error: str | None = None,
) -> Counterexample:
    return Counterexample(
        graph=graph,
        point=dict(point),
        value_backprop=run.data[-1] if run is not None else None,
        value_reference=digits(ref.symbolic.value),
        gradients=rows,
        divergent_node=divergent,
        hint=hint,
        engine_grads=list(run.grads) if run is not None else None,
        reference_adjoints=[float(a) for a in ref.symbolic.adjoints],
        error=error,
    )


def failed_outcome(
    graph: Graph,
    point: dict[str, float],
    run: Run,
    ref: Reference,
    rows: list[GradientRow],
    category: str,
    hint: str,
    divergent: int | None,
) -> Outcome:
    example = _counterexample(graph, point, run, ref, rows, divergent, hint)
    return Outcome(FAIL, category, hint, example, run, ref)


def _crashed(
    graph: Graph,
    point: dict[str, float],
    ref: Reference,
    category: str,
    hint: str,
    error: str,
) -> Outcome:
    rows = gradient_rows(graph, None, ref)
    example = _counterexample(graph, point, None, ref, rows, None, hint, error)
    return Outcome(FAIL, category, hint, example, None, ref)


def _first_wrong_value(graph: Graph, run: Run, ref: Reference) -> int | None:
    """The first node whose forward value is outside its tolerance, if any."""
    data, bound, floor = run.data, ref.bounds.value, ref.bounds.floor
    exact = ref.floats or [ref.value(i) for i in range(len(graph.nodes))]
    for i in range(len(graph.nodes)):
        if not abs(data[i] - exact[i]) <= SAFETY * bound[i] + floor:
            return i
    return None


def _value_hint(graph: Graph, run: Run, ref: Reference, index: int) -> str:
    label = graph.node_labels()[index]
    node = graph.nodes[index]
    hint = (
        f"the forward value of {label} is {run.data[index]!r}, "
        f"but it should be {ref.value(index)!r}"
    )
    if node.op in ("rsub", "rdiv") and node.args:
        a, c = ref.value(node.args[0]), node.constant or 0.0
        swapped = a - c if node.op == "rsub" else (a / c if c else None)
        if swapped is not None and close(run.data[index], swapped):
            hint += f": {swapped_operands(node.op)}"
    elif len(node.args) == 1:  # log(x + 1e-6) by design: say how to declare it
        shifted = shift_hint(node.op, [(run.data[node.args[0]], run.data[index])])
        if shifted:
            hint += f": {shifted}"
    return hint


def leaf_only(graph: Graph, run: Run) -> bool:
    """True when the engine kept no gradient on some inner node (None, not 0)."""
    return any(
        missing and graph.nodes[i].op != "var" for i, missing in enumerate(run.missing)
    )


def grad_ok(run: Run, ref: Reference, i: int) -> bool:
    """Node `i`'s gradient is within its tolerance of the reference adjoint."""
    return abs(run.grads[i] - ref.adjoint(i)) <= ref.bounds.grad_tolerance(i)


def first_divergent(graph: Graph, run: Run, ref: Reference) -> int:
    """The first node, walking back from the output, with a wrong gradient."""
    for i in range(len(graph.nodes) - 1, -1, -1):
        if not abs(run.grads[i] - ref.adjoint(i)) <= ref.bounds.grad_tolerance(i):
            return i
    return graph.output  # cannot happen when some variable is wrong


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    """Equal to a relative `rel`."""
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
