"""Name a tensor failure: which kind of bug, which elements, and a hint.

The verdict says what is wrong in numbers; this module tests hypotheses
against them, most specific first: a reused input that is right once
untied (accumulation), a reflected op whose value is the forward op's, a
gradient of the broadcast shape (broadcasting backward, with the axes to
sum), a matmul with a 1-D operand, a gradient that is an integer multiple
of the truth along a reduced axis (reduction scaling), and a derivative
evaluated at the op's output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from gradcheck.errors import PointError
from gradcheck.internal.tensor.engine import TensorEngine
from gradcheck.internal.tensor.gradient_hints import gradient_hint
from gradcheck.internal.tensor.hypotheses import (
    broadcast_alone,
    broadcast_operands,
    kept_passes,
    matmul_cause,
    named_broadcast,
    own_broadcast,
    passes_with,
    shape_text,
    sum_text,
    summed,
    untie,
    untied_passes,
)
from gradcheck.internal.tensor.judge import FAIL, Verdict, true_gradient
from gradcheck.internal.tensor.points import Example, example
from gradcheck.internal.tensor.program import (
    REDUCTIONS,
    Shape,
    TensorProgram,
)

# Kinds of tensor findings, and the report category each one counts under.
KINDS = {
    "broadcasting": "propagation",
    "matmul-1d": "propagation",
    "reduction-scaling": "local-derivative",
    "accumulation": "accumulation",
    "derivative-at-output": "local-derivative",
    "reflected-op": "value",
    "value": "value",
    "local-derivative": "local-derivative",
    "zero-grad": "zero-grad",
    "crash": "crash",
}
TITLES = {
    "broadcasting": "broadcasting backward",
    "matmul-1d": "matmul with a 1-D operand",
    "reduction-scaling": "reduction scaling",
    "accumulation": "accumulation",
    "derivative-at-output": "derivative evaluated at the output",
    "reflected-op": "wrong forward value of a reflected op",
    "value": "wrong forward value",
    "local-derivative": "wrong gradient",
    "zero-grad": "no gradient",
    "crash": "crash",
}
SHOWN = 3  # wrong elements listed per finding


@dataclass
class Finding:
    kind: str
    message: str
    hint: str
    wrong: list[dict[str, object]]

    @property
    def category(self) -> str:
        return KINDS[self.kind]


def relative_error(got: float, want: float) -> float:
    """|got - want| / |want| (the absolute error when want is 0)."""
    return abs(got - want) / abs(want) if want else abs(got - want)


def _elements(verdict: Verdict) -> tuple[str, list[dict[str, object]]]:
    """The wrong elements: shown with every digit and their relative error."""
    rows: list[dict[str, object]] = [
        {
            "where": w.where,
            "index": list(w.index),
            "got": w.got,
            "want": w.want,
            "tolerance": w.tolerance,
            "relative_error": relative_error(w.got, w.want),
        }
        for w in verdict.wrong
    ]
    shown = ", ".join(
        f"{w.where}[{','.join(map(str, w.index))}] = {w.got!r} (want {w.want!r}, "
        f"relative error {relative_error(w.got, w.want):.2g})"
        for w in verdict.wrong[:SHOWN]
    )
    more = len(verdict.wrong) - SHOWN
    return shown + (f" and {more} more" if more > 0 else ""), rows


def diagnose(
    engine: TensorEngine, ex: Example, verdict: Verdict, rng: random.Random
) -> Finding:
    """The named finding for a failing verdict on `ex`."""
    prog = ex.program
    shown, rows = _elements(verdict)
    if (
        prog.has_reuse
        and verdict.reason in ("gradient", "shape", "crash")
        and untied_passes(engine, ex, rng)
    ):
        reused = ", ".join(n.name for i, n in prog.leaves if prog.uses(i) > 1)
        return Finding(
            "accumulation",
            f"wrong only when an input is reused: with {reused} used once per place the program is right"
            + (f"; {shown}" if shown else ""),
            "accumulate with += in every backward (never =), and add each contribution once",
            rows,
        )
    if verdict.reason == "value":
        return _value_finding(ex, verdict, shown, rows)
    if verdict.reason == "crash":
        return _crash_finding(engine, ex, verdict, rng)
    if verdict.reason == "no-grad":
        return Finding(
            "zero-grad", f"{verdict.leaf} has no gradient after backward()", "", rows
        )
    if verdict.reason == "shape":
        return _shape_finding(engine, ex, verdict, rows, rng)
    return _gradient_finding(engine, ex, verdict, shown, rows, rng)


def _value_finding(
    ex: Example, verdict: Verdict, shown: str, rows: list[dict[str, object]]
) -> Finding:
    prog = ex.program
    node = prog.nodes[verdict.node or 0]
    if node.op in ("rsub_k", "rdiv_k") and verdict.run is not None:
        source = verdict.run.data[node.args[0]].values
        got = verdict.run.data[verdict.node or 0].values
        k = float(node.constant or 0.0)
        forward = (
            [a - k for a in source] if node.op == "rsub_k" else [a / k for a in source]
        )
        if all(
            math.isclose(g, f, rel_tol=1e-6, abs_tol=1e-9)
            for g, f in zip(got, forward, strict=True)
        ):
            sym = "-" if node.op == "rsub_k" else "/"
            return Finding(
                "reflected-op",
                f"{_k(k)} {sym} a computes a {sym} {_k(k)}; {shown}",
                f"__r{'sub' if sym == '-' else 'truediv'}__(self, other) must compute other {sym} self, "
                "not reuse the forward op",
                rows,
            )
    if node.op == "matmul" and verdict.detail and _matmul_1d(prog):
        return Finding(
            "matmul-1d",
            f"node {verdict.node} ({prog.nodes[verdict.node or 0].op}) "
            f"of a 1-D operand has {verdict.detail}",
            "numpy's rule: a 1-D operand of @ is a vector, not a row or a column; "
            "its axis is dropped from the result (and its gradient is an outer product)",
            rows,
        )
    detail = verdict.detail or shown
    return Finding(
        "value",
        f"node {verdict.node} ({node.op}) has a wrong value: {detail}",
        "",
        rows,
    )


def _k(k: float) -> str:
    return str(int(k)) if k.is_integer() else repr(k)


def _broadcasts(prog: TensorProgram) -> list[tuple[str, Shape, Shape]]:
    """(leaf name, leaf shape, broadcast shape) for leaves broadcast by a binary op."""
    return [
        (prog.nodes[a].name, prog.shapes[a], prog.shapes[i])
        for i, a in broadcast_operands(prog)
        if prog.nodes[a].op == "leaf"
    ]


def _broadcast_cause(
    engine: TensorEngine, prog: TensorProgram, rng: random.Random
) -> str | None:
    """A broadcast operand, leaf or computed, shown to be the cause by its op alone."""
    for node, operand in broadcast_operands(prog):
        said = broadcast_alone(engine, prog, node, operand, rng)
        if said:
            return said
    return None


def _matmul_1d(prog: TensorProgram) -> bool:
    return any(
        n.op == "matmul" and any(len(prog.shapes[a]) == 1 for a in n.args)
        for n in prog.nodes
    )


MATMUL_HINT = (
    "a 1-D operand has no transpose (.T of a vector does nothing): form the outer product "
    "(np.outer, or reshape to a column) for the 2-D operand's gradient"
)
BROADCAST_HINT = "unbroadcast: sum the upstream gradient over the broadcast axes back to the operand's shape"


def _crash_finding(
    engine: TensorEngine, ex: Example, verdict: Verdict, rng: random.Random
) -> Finding:
    prog = ex.program
    fault = verdict.fault
    phase = str(getattr(fault, "phase", "") or "")
    text = str(getattr(fault, "text", None) or getattr(fault, "message", "") or "")
    kind_name = str(getattr(fault, "type_name", "crash"))
    where = str(getattr(fault, "location", "") or "")
    said = (
        (text if text.startswith(kind_name) else f"{kind_name}: {text}")
        + (f" at {where}" if where else "")
        + (f" ({phase})" if phase else "")
    )
    if "backward" in phase:
        for leaf, shape, out in _broadcasts(prog):
            if passes_with(engine, ex, {leaf: out}, rng):
                return Finding(
                    "broadcasting",
                    f"backward() raised {said}; {leaf} {shape_text(shape)} is broadcast "
                    f"to {shape_text(out)}, and with {leaf} of shape {shape_text(out)} the "
                    f"program is right: its gradient needs {sum_text(shape, out)}",
                    BROADCAST_HINT,
                    [],
                )
    cause = matmul_cause(engine, ex, rng) if "backward" in phase else None
    if cause:
        return Finding(
            "matmul-1d", f"backward() raised {said}; {cause}", MATMUL_HINT, []
        )
    if "backward" in phase:
        named = named_broadcast(prog, text)
        if named:
            return Finding("broadcasting", f"backward() raised {said}; {named}",
                           BROADCAST_HINT, [])  # fmt: skip
        own = own_broadcast(prog, text)
        if own:
            return Finding("broadcasting", f"backward() raised {said}; {own}",
                           BROADCAST_HINT, [])  # fmt: skip
        if kept_passes(engine, ex, rng):
            return Finding(
                "broadcasting",
                f"backward() raised {said}; with keepdims=True the program is right",
                REDUCTION_AXIS_HINT,
                [],
            )
        alone = _broadcast_cause(engine, prog, rng)
        if alone:
            return Finding("broadcasting", f"backward() raised {said}; {alone}",
                           BROADCAST_HINT, [])  # fmt: skip
    return Finding("crash", f"the engine raised {said}", "", [])


REDUCTION_AXIS_HINT = (
    "a reduction over an axis without keepdims must put the axis back "
    "(np.expand_dims) before broadcasting the upstream gradient to its input"
)


def _shape_finding(
    engine: TensorEngine,
    ex: Example,
    verdict: Verdict,
    rows: list[dict[str, object]],
    rng: random.Random,
) -> Finding:
    prog = ex.program
    leaf = verdict.leaf or "?"
    got = verdict.grad_shape or ()
    want = next(n.shape for _, n in prog.leaves if n.name == leaf)
    head = (
        f"the gradient of {leaf} has shape {shape_text(got)}, "
        f"its leaf {shape_text(want)}"
    )
    for name, shape, out in _broadcasts(prog):
        if name != leaf:
            continue
        grad = verdict.run.grads.get(leaf) if verdict.run else None
        back = summed(grad.values, got, want) if grad is not None else None
        truth = true_gradient(ex, leaf)
        if back is not None and all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)
            for a, b in zip(back, truth, strict=True)
        ):
            said = f"summing it ({sum_text(shape, out)}) gives the right gradient"
        else:
            said = (
                f"{leaf} is broadcast to {shape_text(out)}; "
                f"it needs {sum_text(shape, out)}"
            )
        return Finding("broadcasting", f"{head}: {said}", BROADCAST_HINT, rows)
    cause = matmul_cause(engine, ex, rng)
    if cause:
        return Finding("matmul-1d", f"{head}; {cause}", MATMUL_HINT, rows)
    return Finding("local-derivative", head, "", rows)


def _gradient_finding(
    engine: TensorEngine,
    ex: Example,
    verdict: Verdict,
    shown: str,
    rows: list[dict[str, object]],
    rng: random.Random,
) -> Finding:
    prog = ex.program
    leaf = verdict.leaf or "?"
    cause = matmul_cause(engine, ex, rng)
    if cause:
        return Finding(
            "matmul-1d",
            f"wrong gradient of {leaf}: {shown}; {cause}",
            MATMUL_HINT,
            rows,
        )
    scaling = _reduction_ratio(prog, verdict)
    if scaling:
        return Finding("reduction-scaling", f"{scaling}; {shown}", "divide by the reduced axis's length in backward "
                       "(with and without keepdims)", rows)  # fmt: skip
    at_output = _derivative_at_output(ex, verdict)
    if at_output:
        return Finding(
            "derivative-at-output",
            f"the gradient of {leaf} equals {at_output}'(y) with y = {at_output}(a), not {at_output}'(a); {shown}",
            f"{at_output}'s backward receives its output: use it as the output (e.g. s * (1 - s)), "
            f"do not apply {at_output} to it again",
            rows,
        )
    for name, shape, out in _broadcasts(prog):
        if name == leaf and passes_with(engine, ex, {name: out}, rng):
            return Finding(
                "broadcasting",
                f"wrong gradient of {leaf} {shape_text(shape)}, broadcast to {shape_text(out)} "
                f"(with {leaf} of shape {shape_text(out)} the program is right): "
                f"it needs {sum_text(shape, out)}; {shown}",
                BROADCAST_HINT,
                rows,
            )
    alone = _broadcast_cause(engine, prog, rng)
    if alone:
        return Finding("broadcasting", f"wrong gradient of {leaf}: {shown}; {alone}",
                       BROADCAST_HINT, rows)  # fmt: skip
    hint = _tested_hint(ex, verdict, rng)
    return Finding("local-derivative", f"wrong gradient of {leaf}: {shown}", hint, rows)


def _tested_hint(ex: Example, verdict: Verdict, rng: random.Random) -> str:
    """What the wrong gradient looks like, when a comparison bears it out."""
    run, leaf = verdict.run, verdict.leaf or ""
    grad = run.grads.get(leaf) if run is not None else None
    if run is None or grad is None:
        return ""
    try:
        ones_ex = example(
            ex.program, rng, values=ex.values, projection=[1.0] * len(ex.projection)
        )
        ones: list[float] | None = true_gradient(ones_ex, leaf)
    except PointError:
        ones = None
    return gradient_hint(
        ex,
        leaf,
        list(grad.values),
        true_gradient(ex, leaf),
        ones,
        lambda i: list(run.data[i].values),
    )


def _reduction_ratio(prog: TensorProgram, verdict: Verdict) -> str | None:
    """'... n times the truth ...' when every element is off by one integer ratio."""
    reduced = [
        (n, prog.shapes[n.args[0]])
        for n in prog.nodes
        if n.op in REDUCTIONS and n.op != "max"
    ]
    if not reduced or not verdict.wrong:
        return None
    ratios = [w.got / w.want for w in verdict.wrong if w.want != 0]
    if not ratios or max(ratios) - min(ratios) > 1e-6 * max(1.0, abs(ratios[0])):
        return None
    r = ratios[0]
    for node, shape in reduced:
        lengths = shape if node.axis is None else (shape[node.axis],)
        total = 1
        for d in lengths:
            total *= d
        call = f"{node.op}({'' if node.axis is None else f'axis={node.axis}'}{', keepdims=True' if node.keepdims else ''})"
        for n in {total, *lengths}:
            if n > 1 and math.isclose(r, n, rel_tol=1e-6):
                return f"the gradient is {n} times the truth at every element: {call} reduces {n} elements"
            if n > 1 and math.isclose(r, 1 / n, rel_tol=1e-6):
                return f"the gradient is 1/{n} of the truth at every element: {call} reduces {n} elements"
    return None


_AT_OUTPUT: dict[str, Callable[[float], float]] = {
    "tanh": lambda y: 1 - math.tanh(y) ** 2,
    "sigmoid": lambda y: (1 / (1 + math.exp(-y))) * (1 - 1 / (1 + math.exp(-y))),
    "exp": math.exp,
    "log": lambda y: 1 / y if y else math.inf,
}


def _derivative_at_output(ex: Example, verdict: Verdict) -> str | None:
    """The op f when the gradient of f(a) equals R * f'(f(a))."""
    prog = ex.program
    if (
        len(prog.nodes) != 2
        or prog.nodes[1].op not in _AT_OUTPUT
        or verdict.run is None
    ):
        return None
    op = prog.nodes[1].op
    outputs = verdict.run.data[1].values
    got = verdict.run.grads[verdict.leaf or ""]
    if got is None:
        return None
    for g, y, r in zip(got.values, outputs, ex.projection, strict=True):
        try:
            alt = r * _AT_OUTPUT[op](y)
        except (OverflowError, ValueError):
            return None
        if not math.isclose(g, alt, rel_tol=1e-6, abs_tol=1e-12):
            return None
    return op


__all__ = ["FAIL", "KINDS", "TITLES", "Finding", "diagnose", "untie"]
