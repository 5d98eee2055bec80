"""Hypotheses about a tensor failure, each tested on the engine before it is said.

A finding names a cause only with evidence: the program is right when each
reuse of a leaf is its own leaf (accumulation), when a broadcast leaf already
has the broadcast shape (broadcasting), when a 1-D operand of @ is a matrix
(matmul-1d), when a reduction keeps its axis; or numpy's own error names the
two shapes of a broadcast. Each function reruns the engine on a variant of
the program, or reads the evidence, and answers yes or no (or the words that
say what was shown).
"""

from __future__ import annotations

import random
import re

from gradcheck.errors import ExpressionError, PointError
from gradcheck.internal.tensor.engine import TensorEngine
from gradcheck.internal.tensor.expand import indices, source_element
from gradcheck.internal.tensor.judge import PASS, judge_run
from gradcheck.internal.tensor.points import Example, example
from gradcheck.internal.tensor.program import (
    BINARY,
    REDUCTIONS,
    ProgramBuilder,
    Shape,
    TensorProgram,
    TNode,
    broadcast,
    broadcast_axes,
    size,
)


def shape_text(shape: Shape) -> str:
    return (
        f"({shape[0]},)" if len(shape) == 1 else "(" + ",".join(map(str, shape)) + ")"
    )


def untied_passes(engine: TensorEngine, ex: Example, rng: random.Random) -> bool:
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


def sum_text(leaf: Shape, out: Shape) -> str:
    missing, ones = broadcast_axes(leaf, out)
    parts = []
    if missing:
        parts.append(f"sum over axis {', '.join(map(str, missing))}")
    if ones:
        parts.append(f"sum over axis {', '.join(map(str, ones))} with keepdims")
    return " then ".join(parts) or "no sum needed"


def passes_with(
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


def broadcast_operands(prog: TensorProgram) -> list[tuple[int, int]]:
    """(node, operand) for each operand of a binary op that the op broadcasts:
    a leaf or a computed tensor whose shape is not the op's output shape."""
    return [
        (i, a)
        for i, n in enumerate(prog.nodes)
        if n.op in BINARY
        for a in n.args
        if prog.shapes[a] != prog.shapes[i]
    ]


def _alone(prog: TensorProgram, node: int, operand: int, full: bool) -> TensorProgram:
    """Node `node`'s op on leaves x, y of its operands' shapes; with `full`,
    the broadcast operand already of the output's shape."""
    b = ProgramBuilder()
    args = [
        b.leaf(name, prog.shapes[node] if full and a == operand else prog.shapes[a])
        for name, a in zip("xy", prog.nodes[node].args, strict=False)
    ]
    b.op(prog.nodes[node].op, *args)
    return b.build()


def _passes(engine: TensorEngine, prog: TensorProgram, rng: random.Random) -> bool:
    copy = example(prog, rng)
    result = engine.run_many([(prog, copy.values, copy.projection)])[0]
    return judge_run(copy, result, engine.unit_roundoff).status == PASS


def broadcast_alone(
    engine: TensorEngine,
    prog: TensorProgram,
    node: int,
    operand: int,
    rng: random.Random,
) -> str | None:
    """How the op's broadcast of `operand` is shown to be the cause, or None.

    For a computed operand, whose shape no rerun of the whole program can
    change: the op alone on leaves of the same shapes fails, and with that
    operand already of the output's shape it is right.
    """
    try:
        as_is, full = (_alone(prog, node, operand, f) for f in (False, True))
        if _passes(engine, as_is, rng) or not _passes(engine, full, rng):
            return None
    except (PointError, ExpressionError):
        return None
    side = "xy"[prog.nodes[node].args.index(operand)]
    shape, out = prog.shapes[operand], prog.shapes[node]
    return (
        f"{_text_name(prog, operand)} {shape_text(shape)} is broadcast to "
        f"{shape_text(out)}; the op alone, `{as_is.to_text()}`, fails too, and with "
        f"{side} of shape {shape_text(out)} it is right: the gradient of the "
        f"broadcast operand needs {sum_text(shape, out)}"
    )


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


def matmul_cause(engine: TensorEngine, ex: Example, rng: random.Random) -> str | None:
    """How the 1-D operand is shown to be the cause, or None when it is not."""
    shapes = _matrix_shapes(ex.program)
    if not shapes:
        return None
    if not passes_with(engine, ex, shapes, rng):
        return None
    said = ", ".join(f"{k} as a {shape_text(v)} matrix" for k, v in shapes.items())
    return f"with {said} the program is right"


def _shape_words(shape: Shape) -> set[str]:
    """How an error message may write `shape`: (2,1), (2, 1), (3,), shape ()."""
    if not shape:  # a bare "()" is too common in messages to count alone
        return {"shape ()", "shapes ()"}
    if len(shape) == 1:
        return {f"({shape[0]},)"}
    return {
        "(" + ",".join(map(str, shape)) + ")",
        "(" + ", ".join(map(str, shape)) + ")",
    }


def named_broadcast(prog: TensorProgram, text: str) -> str | None:
    """An operand broadcast by the program whose two shapes the error names."""
    names = prog.to_text().split("  [")[0]
    for i, n in enumerate(prog.nodes):
        if n.op not in BINARY:
            continue
        for a in n.args:
            shape, out = prog.shapes[a], prog.shapes[i]
            if shape == out:
                continue
            if any(w in text for w in _shape_words(shape)) and any(
                w in text for w in _shape_words(out)
            ):
                who = _text_name(prog, a)
                return (
                    f"the error names {who}'s shape {shape_text(shape)} and the shape "
                    f"{shape_text(out)} it is broadcast to (in `{names}`): its gradient "
                    f"needs {sum_text(shape, out)}"
                )
    return None


def _text_name(prog: TensorProgram, index: int) -> str:
    """The name `to_text` gives node `index`: its leaf name, or t1, t2, ..."""
    node = prog.nodes[index]
    if node.op == "leaf":
        return node.name
    return f"t{sum(1 for n in prog.nodes[:index] if n.op != 'leaf') + 1}"


_SHAPE = re.compile(r"\(((?:\d+,? ?)*)\)")


def own_broadcast(prog: TensorProgram, text: str) -> str | None:
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
        f"the error names an operand of shape {shape_text(strange[0])} broadcast to "
        f"{shape_text(targets[0])}, and no tensor of the program has that shape: the "
        "engine broadcast an operand of its own (a Python number it wrapped), and "
        "that operand's gradient keeps the broadcast shape"
    )


def kept_passes(engine: TensorEngine, ex: Example, rng: random.Random) -> bool:
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


def summed(values: list[float], got: Shape, leaf: Shape) -> list[float] | None:
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


__all__ = [
    "broadcast_alone",
    "broadcast_operands",
    "kept_passes",
    "matmul_cause",
    "named_broadcast",
    "own_broadcast",
    "passes_with",
    "shape_text",
    "sum_text",
    "summed",
    "untie",
    "untied_passes",
]
