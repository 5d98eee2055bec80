"""What a wrong tensor gradient looks like, each sentence tested on the numbers.

Called when no kind of tensor bug explains a wrong gradient. Every hint is
a comparison that held on every element of the leaf's gradient: the
gradient an all-ones upstream gradient gives (the upstream gradient was
dropped), the right values in other places (the true gradient transposed
and read in the leaf's shape), a matmul's operand reshaped where its
transpose is needed, one factor at every element, or the truth times or
divided by the op's input or output. The op is named only when the
program has one op. Nothing matches: no hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from gradcheck.internal.tensor.points import Example
from gradcheck.internal.tensor.program import UNARY, Shape, TensorProgram

TOLERANCE = 1e-5  # relative; float32 engines included


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=1e-9)


def all_close(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))


def only_op(prog: TensorProgram) -> int | None:
    """The index of the program's one op, or None when it has several."""
    ops = [i for i, n in enumerate(prog.nodes) if n.op != "leaf"]
    return ops[0] if len(ops) == 1 else None


OP_WORDS = {
    "matmul": "@", "transpose": ".T", "sum": "sum", "mean": "mean", "max": "max",
    "reshape": "reshape", "add": "+", "sub": "-", "mul": "*", "div": "/",
    "pow": "**", "pow_k": "**",
}  # fmt: skip


def op_name(prog: TensorProgram, index: int) -> str:
    op = prog.nodes[index].op
    return OP_WORDS.get(op, op)


def gradient_hint(
    ex: Example,
    leaf: str,
    got: list[float],
    want: list[float],
    ones: list[float] | None,
    forward: Callable[[int], list[float]],
) -> str:
    """A sentence about `got` against `want` that the numbers bear out, or "".

    `ones` is the true gradient for an all-ones upstream gradient at the
    same point (None when unknown); `forward(i)` is node i's engine value.
    """
    prog = ex.program
    index = only_op(prog)
    who = f"{op_name(prog, index)}'s backward" if index is not None else "a backward"
    if (
        ones is not None
        and all_close(got, ones)
        and not all_close(ex.projection, [1.0] * len(ex.projection))
    ):
        return (
            f"the gradient of {leaf} is the one an all-ones upstream gradient gives "
            f"(as under .sum()), but the upstream gradient here is not all ones: "
            f"{who} drops the gradient it receives (multiply by out.grad)"
        )
    shape = next(n.shape for _, n in prog.leaves if n.name == leaf)
    if all_close(sorted(got), sorted(want)) and not all_close(got, want):
        said = f"the gradient of {leaf} has the right values in the wrong places"
        if len(shape) == 2 and all_close(got, transposed(want, shape)):
            said += (
                f": it is the true gradient transposed, read in {leaf}'s shape "
                f"{_shape(shape)} ({who} reshapes where a transpose is needed)"
            )
        return said
    if index is not None and prog.nodes[index].op == "matmul":
        said = _matmul_reshape(ex, index, leaf, got)
        if said:
            return said
    return _ratio_hint(ex, leaf, got, want, index, who, forward)


def transposed(values: list[float], shape: Shape) -> list[float]:
    rows, cols = shape
    return [values[r * cols + c] for c in range(cols) for r in range(rows)]


def _shape(shape: Shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _matmul(a: list[float], b: list[float], m: int, k: int, n: int) -> list[float]:
    return [
        sum(a[i * k + t] * b[t * n + j] for t in range(k))
        for i in range(m)
        for j in range(n)
    ]


def _matmul_reshape(ex: Example, index: int, leaf: str, got: list[float]) -> str:
    """a.reshape(k, m) @ R for b's gradient, R @ b.reshape(n, k) for a's."""
    prog = ex.program
    ia, ib = prog.nodes[index].args
    sa, sb = prog.shapes[ia], prog.shapes[ib]
    if len(sa) != 2 or len(sb) != 2 or (sa[0] == sa[1] and sb[0] == sb[1]):
        return ""
    (m, k), n = sa, sb[1]
    names = prog.nodes[ia].name, prog.nodes[ib].name
    r = ex.projection
    if leaf == names[1] and sa[0] != sa[1]:
        wrong = _matmul(ex.values[names[0]], r, k, m, n)
        if all_close(got, wrong):
            return (
                f"@'s backward uses {names[0]}.reshape({k}, {m}) where {names[0]}.T "
                f"is needed: the gradient of {leaf} equals "
                f"{names[0]}.reshape({k}, {m}) @ out.grad"
            )
    if leaf == names[0] and sb[0] != sb[1]:
        wrong = _matmul(r, ex.values[names[1]], m, n, k)
        if all_close(got, wrong):
            return (
                f"@'s backward uses {names[1]}.reshape({n}, {k}) where {names[1]}.T "
                f"is needed: the gradient of {leaf} equals "
                f"out.grad @ {names[1]}.reshape({n}, {k})"
            )
    return ""


def _ratio_hint(
    ex: Example,
    leaf: str,
    got: list[float],
    want: list[float],
    index: int | None,
    who: str,
    forward: Callable[[int], list[float]],
) -> str:
    """One factor at every element, or the truth times or over the input or output."""
    pairs = [(g, w) for g, w in zip(got, want, strict=True) if w != 0]
    if not pairs:
        return ""
    if all(close(g, 0.0) for g in got):
        return f"the gradient of {leaf} is zero at every element: {who} passes none"
    ratios = [g / w for g, w in pairs]
    if all(close(r, ratios[0]) for r in ratios):
        c = ratios[0]
        head = f"{who} is wrong: " if index is not None else ""
        if close(c, 0.0):
            return (
                f"{head}the gradient of {leaf} is zero at every element where the "
                "true gradient is not"
            )
        if close(c, -1.0):
            return f"{head}the gradient of {leaf} has the wrong sign at every element"
        return (
            f"{head}the gradient of {leaf} is {c:.6g} times the truth at every element"
        )
    if index is None:
        return ""
    node = ex.program.nodes[index]
    if node.op not in UNARY or ex.program.nodes[node.args[0]].op != "leaf":
        return ""  # elementwise on a leaf: input, output and gradient align
    name = ex.program.nodes[node.args[0]].name
    x = [v for v, w in zip(ex.values[name], want, strict=True) if w != 0]
    y = [v for v, w in zip(forward(index), want, strict=True) if w != 0]
    for values, what in ((x, f"its input {name}"), (y, "its output")):
        if all(close(r, v) for r, v in zip(ratios, values, strict=True)):
            return f"{who} gives the true gradient times {what}, at every element"
        if all(v != 0 and close(r, 1 / v) for r, v in zip(ratios, values, strict=True)):
            return f"{who} gives the true gradient divided by {what}, at every element"
    return ""
