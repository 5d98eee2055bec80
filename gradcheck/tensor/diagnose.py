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
import re
from collections.abc import Callable
from dataclasses import dataclass

from gradcheck.errors import ExpressionError, PointError
from gradcheck.tensor.engine import TensorEngine
from gradcheck.tensor.expand import indices, source_element
from gradcheck.tensor.judge import FAIL, PASS, Verdict, judge_run, true_gradient
from gradcheck.tensor.points import Example, example
from gradcheck.tensor.program import (
    BINARY,
    REDUCTIONS,
    Shape,
    TensorProgram,
    TNode,
    broadcast,
    broadcast_axes,
    size,
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


def _shape(shape: Shape) -> str:
    return (
        f"({shape[0]},)" if len(shape) == 1 else "(" + ",".join(map(str, shape)) + ")"
    )


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
        and _untied_passes(engine, ex, rng)
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


def _untied_passes(engine: TensorEngine, ex: Example, rng: random.Random) -> bool:
    """Whether the program is right when each reuse of a leaf is its own leaf."""
    untied, values = untie(ex.program, ex.values)
    try:
        copy = example(untied, rng, values=values, projection=ex.projection)
    except PointError:
        return False
    result = engine.run_many([(untied, copy.values, ex.projection)])[0]
    return judge_run(copy, result, engine.unit_roundoff).status == PASS


def untie(
    program: TensorProgram, values: dict[str, list[float]]
) -> tuple[TensorProgram, dict[str, list[float]]]:
    """The program with every further use of a leaf replaced by a copy of it."""
    nodes: list[TNode] = []
    new_index: dict[int, int] = {}
    out_values: dict[str, list[float]] = {}
    leaves = {i for i, _ in program.leaves}
    used: dict[int, int] = {}
    for i, n in enumerate(program.nodes):
        if n.op == "leaf":
            new_index[i] = len(nodes)
            nodes.append(n)
            out_values[n.name] = values[n.name]
            continue
        args = []
        for a in n.args:
            if a in leaves:
                used[a] = used.get(a, 0) + 1
                if used[a] > 1:
                    leaf = program.nodes[a]
                    name = f"{leaf.name}{used[a]}"
                    nodes.append(TNode("leaf", name=name, shape=leaf.shape))
                    out_values[name] = values[leaf.name]
                    args.append(len(nodes) - 1)
                    continue
            args.append(new_index[a])
        new_index[i] = len(nodes)
        nodes.append(
            TNode(
                n.op,
                tuple(args),
                n.name,
                n.shape,
                n.constant,
                n.axis,
                n.keepdims,
                n.new_shape,
            )
        )
    return TensorProgram(tuple(nodes)), out_values


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
    out = []
    for i, n in enumerate(prog.nodes):
        if n.op in BINARY:
            for a in n.args:
                if prog.nodes[a].op == "leaf" and prog.shapes[a] != prog.shapes[i]:
                    out.append((prog.nodes[a].name, prog.shapes[a], prog.shapes[i]))
    return out


def _sum_text(leaf: Shape, out: Shape) -> str:
    missing, ones = broadcast_axes(leaf, out)
    parts = []
    if missing:
        parts.append(f"sum over axis {', '.join(map(str, missing))}")
    if ones:
        parts.append(f"sum over axis {', '.join(map(str, ones))} with keepdims")
    return " then ".join(parts) or "no sum needed"


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


def _passes_with(
    engine: TensorEngine, ex: Example, shapes: dict[str, Shape], rng: random.Random
) -> bool:
    """Whether the program is right with some leaves given other shapes."""
    nodes = tuple(
        TNode("leaf", name=n.name, shape=shapes[n.name])
        if n.op == "leaf" and n.name in shapes
        else n
        for n in ex.program.nodes
    )
    try:
        other = TensorProgram(nodes)
        copy = example(other, rng, projection=None)
    except (PointError, ExpressionError):
        return False
    result = engine.run_many([(other, copy.values, copy.projection)])[0]
    return judge_run(copy, result, engine.unit_roundoff).status == PASS


def _matrix_shapes(prog: TensorProgram) -> dict[str, Shape]:
    """Each 1-D leaf operand of @ as a matrix: a row on the left, a column on the right."""
    out: dict[str, Shape] = {}
    for n in prog.nodes:
        if n.op != "matmul":
            continue
        for side, a in enumerate(n.args):
            node, shape = prog.nodes[a], prog.shapes[a]
            if node.op == "leaf" and len(shape) == 1:
                out[node.name] = (1, shape[0]) if side == 0 else (shape[0], 1)
    return out


def _matmul_cause(engine: TensorEngine, ex: Example, rng: random.Random) -> str | None:
    """How the 1-D operand is shown to be the cause, or None when it is not."""
    shapes = _matrix_shapes(ex.program)
    if not shapes:
        return None
    if not _passes_with(engine, ex, shapes, rng):
        return None
    said = ", ".join(f"{k} as a {_shape(v)} matrix" for k, v in shapes.items())
    return f"with {said} the program is right"


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
            if _passes_with(engine, ex, {leaf: out}, rng):
                return Finding(
                    "broadcasting",
                    f"backward() raised {said}; {leaf} {_shape(shape)} is broadcast "
                    f"to {_shape(out)}, and with {leaf} of shape {_shape(out)} the "
                    f"program is right: its gradient needs {_sum_text(shape, out)}",
                    BROADCAST_HINT,
                    [],
                )
    cause = _matmul_cause(engine, ex, rng) if "backward" in phase else None
    if cause:
        return Finding(
            "matmul-1d", f"backward() raised {said}; {cause}", MATMUL_HINT, []
        )
    if "backward" in phase:
        named = _named_broadcast(prog, text)
        if named:
            return Finding("broadcasting", f"backward() raised {said}; {named}",
                           BROADCAST_HINT, [])  # fmt: skip
        own = _own_broadcast(prog, text)
        if own:
            return Finding("broadcasting", f"backward() raised {said}; {own}",
                           BROADCAST_HINT, [])  # fmt: skip
        if _kept_passes(engine, ex, rng):
            return Finding(
                "broadcasting",
                f"backward() raised {said}; with keepdims=True the program is right",
                REDUCTION_AXIS_HINT,
                [],
            )
    return Finding("crash", f"the engine raised {said}", "", [])


REDUCTION_AXIS_HINT = (
    "a reduction over an axis without keepdims must put the axis back "
    "(np.expand_dims) before broadcasting the upstream gradient to its input"
)


def _shape_words(shape: Shape) -> set[str]:
    """How an error message may write `shape`: (2,1), (2, 1), (3,)."""
    if len(shape) == 1:
        return {f"({shape[0]},)"}
    return {
        "(" + ",".join(map(str, shape)) + ")",
        "(" + ", ".join(map(str, shape)) + ")",
    }


def _named_broadcast(prog: TensorProgram, text: str) -> str | None:
    """An operand broadcast by the program whose two shapes the error names."""
    names = prog.to_text().split("  [")[0]
    for i, n in enumerate(prog.nodes):
        if n.op not in BINARY:
            continue
        for a in n.args:
            shape, out = prog.shapes[a], prog.shapes[i]
            if shape == out or not shape:
                continue
            if any(w in text for w in _shape_words(shape)) and any(
                w in text for w in _shape_words(out)
            ):
                who = _text_name(prog, a)
                return (
                    f"the error names {who}'s shape {_shape(shape)} and the shape "
                    f"{_shape(out)} it is broadcast to (in `{names}`): its gradient "
                    f"needs {_sum_text(shape, out)}"
                )
    return None


def _text_name(prog: TensorProgram, index: int) -> str:
    """The name `to_text` gives node `index`: its leaf name, or t1, t2, ..."""
    node = prog.nodes[index]
    if node.op == "leaf":
        return node.name
    return f"t{sum(1 for n in prog.nodes[:index] if n.op != 'leaf') + 1}"


_SHAPE = re.compile(r"\(((?:\d+,? ?)*)\)")


def _own_broadcast(prog: TensorProgram, text: str) -> str | None:
    """numpy's broadcast error naming a shape no operand of the program has."""
    if "broadcast" not in text:
        return None
    named = [
        tuple(int(d) for d in m.group(1).replace(" ", "").split(",") if d)
        for m in _SHAPE.finditer(text)
    ]
    known = set(prog.shapes)
    strange = [shape for shape in named if shape not in known]
    targets = [shape for shape in named if shape in known and shape]
    if not strange or not targets:
        return None
    return (
        f"the error names an operand of shape {_shape(strange[0])} broadcast to "
        f"{_shape(targets[0])}, and no tensor of the program has that shape: the "
        "engine broadcast an operand of its own (a Python number it wrapped), and "
        "that operand's gradient keeps the broadcast shape"
    )


def _kept_passes(engine: TensorEngine, ex: Example, rng: random.Random) -> bool:
    """Whether the program is right with keepdims=True on its axis reductions."""
    prog = ex.program
    if not any(n.op in REDUCTIONS and n.axis is not None and not n.keepdims
               for n in prog.nodes[-1:]):  # fmt: skip
        return False
    nodes = tuple(
        TNode(n.op, n.args, n.name, n.shape, n.constant, n.axis, True, n.new_shape)
        if n.op in REDUCTIONS and n.axis is not None
        else n
        for n in prog.nodes
    )
    try:
        kept = TensorProgram(nodes)
        copy = example(kept, rng, values=ex.values)
    except (PointError, ExpressionError):
        return False
    result = engine.run_many([(kept, copy.values, copy.projection)])[0]
    return judge_run(copy, result, engine.unit_roundoff).status == PASS


def _summed(values: list[float], got: Shape, leaf: Shape) -> list[float] | None:
    """The engine's gradient of shape `got` summed back to `leaf`, or None."""
    try:
        if broadcast(leaf, got) != got or len(values) != size(got):
            return None
    except ExpressionError:
        return None
    out = [0.0] * size(leaf)
    for index, value in zip(indices(got), values, strict=True):
        out[source_element(index, leaf)] += value
    return out


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
    head = f"the gradient of {leaf} has shape {_shape(got)}, its leaf {_shape(want)}"
    for name, shape, out in _broadcasts(prog):
        if name != leaf:
            continue
        grad = verdict.run.grads.get(leaf) if verdict.run else None
        summed = _summed(grad.values, got, want) if grad is not None else None
        truth = true_gradient(ex, leaf)
        if summed is not None and all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)
            for a, b in zip(summed, truth, strict=True)
        ):
            said = f"summing it ({_sum_text(shape, out)}) gives the right gradient"
        else:
            said = f"{leaf} is broadcast to {_shape(out)}; it needs {_sum_text(shape, out)}"
        return Finding("broadcasting", f"{head}: {said}", BROADCAST_HINT, rows)
    cause = _matmul_cause(engine, ex, rng)
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
    cause = _matmul_cause(engine, ex, rng)
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
        if name == leaf and _passes_with(engine, ex, {name: out}, rng):
            return Finding(
                "broadcasting",
                f"wrong gradient of {leaf} {_shape(shape)}, broadcast to {_shape(out)} "
                f"(with {leaf} of shape {_shape(out)} the program is right): "
                f"it needs {_sum_text(shape, out)}; {shown}",
                BROADCAST_HINT,
                rows,
            )
    return Finding("local-derivative", f"wrong gradient of {leaf}: {shown}", "", rows)


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
