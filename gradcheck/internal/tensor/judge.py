"""Compare one tensor run with the references, element by element.

Forward values first (node by node, so the first wrong node is named), then
each leaf's gradient: its shape against the leaf's before its values. The
tolerances are the scalar analysis's bounds of each element, scaled by the
engine's unit roundoff (float32 engines are judged at float32).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gradcheck.internal.checking.engine_client import EngineFault, WorkerCrash
from gradcheck.internal.refs.tolerance import UNIT
from gradcheck.internal.tensor.engine import (
    CheckerFailure,
    Result,
    TensorRun,
    Unsupported,
)
from gradcheck.internal.tensor.expand import indices
from gradcheck.internal.tensor.points import Example
from gradcheck.internal.tensor.program import Shape

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Wrong:
    """One wrong element: a leaf's gradient or a node's value."""

    where: str
    index: tuple[int, ...]
    got: float
    want: float
    tolerance: float


@dataclass
class Verdict:
    """What is wrong in one run, as numbers (the diagnosis names it)."""

    status: str
    reason: str = ""  # crash, unsupported, value, shape, no-grad, gradient
    node: int | None = None  # first node with a wrong value
    leaf: str | None = None  # first leaf with a wrong gradient
    grad_shape: Shape | None = None
    wrong: list[Wrong] = field(default_factory=list)
    fault: EngineFault | WorkerCrash | None = None
    run: TensorRun | None = None
    detail: str = ""
    others: list[str] = field(
        default_factory=list
    )  # further leaves with wrong gradients


def _close(got: float, want: float, tol: float) -> bool:
    return abs(got - want) <= tol


def judge_run(ex: Example, result: Result, unit_roundoff: float) -> Verdict:
    """The verdict on one run of `ex.program`."""
    if isinstance(result, Unsupported):
        return Verdict(SKIP, "unsupported", detail=result.reason)
    if isinstance(result, CheckerFailure):
        return Verdict(SKIP, "checker", detail=result.reason)
    if isinstance(result, EngineFault | WorkerCrash):
        return Verdict(FAIL, "crash", fault=result)
    # float32 results (of any node, or a gradient) are judged at float32
    scale = max(1.0, max(unit_roundoff, result.unit_roundoff) / UNIT)
    ref, prog, expansion = ex.reference, ex.program, ex.expansion
    values = ref.symbolic.values
    for i, data in enumerate(result.data):
        shape = prog.shapes[i]
        if tuple(data.shape) != shape:
            return Verdict(
                FAIL,
                "value",
                node=i,
                run=result,
                detail=f"data of shape {data.shape}, expected {shape}",
            )
        wrong = []
        for ix, elem, got in zip(
            indices(shape), expansion.elements[i], data.values, strict=True
        ):
            want = float(values[elem])
            tol = scale * ref.bounds.value_tolerance(elem) + scale * UNIT * abs(want)
            if not _close(got, want, tol):
                wrong.append(Wrong(f"node {i}", ix, got, want, tol))
        if wrong:
            return Verdict(FAIL, "value", node=i, wrong=wrong, run=result)
    index_of = {n.name: k for k, n in enumerate(ref.graph.nodes) if n.op == "var"}
    first: Verdict | None = None
    others: list[str] = []
    for _, leaf in prog.leaves:
        verdict = _judge_leaf(ex, result, leaf.name, leaf.shape, index_of, scale)
        if verdict is None:
            continue
        if first is None:
            first = verdict
        else:
            others.append(leaf.name)
    if first is None:
        return Verdict(PASS, run=result)
    first.others = others
    return first


def _judge_leaf(
    ex: Example,
    result: TensorRun,
    name: str,
    shape: Shape,
    index_of: dict[str, int],
    scale: float,
) -> Verdict | None:
    grad = result.grads.get(name)
    if grad is None:
        return Verdict(FAIL, "no-grad", leaf=name, run=result)
    if tuple(grad.shape) != shape:
        return Verdict(
            FAIL, "shape", leaf=name, grad_shape=tuple(grad.shape), run=result
        )
    wrong = []
    ref = ex.reference
    for ix, var, got in zip(
        indices(shape), ex.expansion.variables[name], grad.values, strict=True
    ):
        want = float(ref.gradient(var))
        tol = scale * ref.bounds.grad_tolerance(index_of[var])
        if not _close(got, want, tol):
            wrong.append(Wrong(name, ix, got, want, tol))
    if wrong:
        return Verdict(FAIL, "gradient", leaf=name, wrong=wrong, run=result)
    return None


def true_gradient(ex: Example, leaf: str) -> list[float]:
    return [float(ex.reference.gradient(name)) for name in ex.expansion.variables[leaf]]
