"""Tensor programs: engine-independent plain data, like the scalar `Graph`.

A program is a list of nodes in topological order. Leaves are named and
shaped; every other node is an op on earlier nodes with a few parameters
(a Python constant, an axis, a shape). Shapes follow numpy's rules and are
inferred here, once, so the expansion, the worker and the diagnosis agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcheck.errors import ExpressionError

Shape = tuple[int, ...]

UNARY = ("neg", "tanh", "exp", "log", "relu", "sigmoid")
BINARY = ("add", "sub", "mul", "div", "pow")  # pow: a ** b, both tensors
# tensor OP constant, and constant OP tensor (the reflected dunders)
CONSTANT_OPS = ("add_k", "sub_k", "mul_k", "div_k", "pow_k")
REFLECTED_OPS = ("radd_k", "rsub_k", "rmul_k", "rdiv_k")
REDUCTIONS = ("sum", "mean", "max")
SHAPE_OPS = ("reshape", "transpose")
OPS = (
    *UNARY,
    *BINARY,
    *CONSTANT_OPS,
    *REFLECTED_OPS,
    *REDUCTIONS,
    "matmul",
    *SHAPE_OPS,
)
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


@dataclass(frozen=True)
class TNode:
    """A leaf (`op == "leaf"`) or an op on earlier nodes."""

    op: str
    args: tuple[int, ...] = ()
    name: str = ""
    shape: Shape = ()
    constant: float | None = None
    axis: int | None = None
    keepdims: bool = False
    new_shape: Shape | None = None


@dataclass(frozen=True)
class TensorProgram:
    """Nodes in topological order; the last is the output `y`."""

    nodes: tuple[TNode, ...]
    shapes: tuple[Shape, ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shapes", tuple(infer_shapes(self.nodes)))

    @property
    def leaves(self) -> list[tuple[int, TNode]]:
        return [(i, n) for i, n in enumerate(self.nodes) if n.op == "leaf"]

    @property
    def output_shape(self) -> Shape:
        return self.shapes[-1]

    def uses(self, index: int) -> int:
        return sum(n.args.count(index) for n in self.nodes)

    @property
    def has_reuse(self) -> bool:
        return any(self.uses(i) > 1 for i, _ in self.leaves)

    def ops_used(self) -> set[str]:
        return {n.op for n in self.nodes if n.op != "leaf"}

    def to_plain(self) -> list[list[Any]]:
        """The nodes as JSON data for the worker."""
        return [
            [n.op, list(n.args), n.name, list(self.shapes[i]), n.constant, n.axis,
             n.keepdims, None if n.new_shape is None else list(n.new_shape)]
            for i, n in enumerate(self.nodes)
        ]  # fmt: skip

    def to_text(self) -> str:
        """numpy-like source: `t1 = a + b; y = t1.sum(axis=0)`."""
        names: list[str] = []
        lines: list[str] = []
        for i, n in enumerate(self.nodes):
            if n.op == "leaf":
                names.append(n.name)
                continue
            text = _node_text(n, [names[a] for a in n.args])
            if i == len(self.nodes) - 1:
                lines.append(f"y = {text}")
            else:
                names.append(f"t{len(lines) + 1}")
                lines.append(f"{names[-1]} = {text}")
        if not lines:
            lines.append(f"y = {names[-1]}")
        shapes = ", ".join(f"{n.name}{_shape_text(n.shape)}" for _, n in self.leaves)
        return f"{'; '.join(lines)}  [{shapes}]"

    def __str__(self) -> str:
        return self.to_text()


def _shape_text(shape: Shape) -> str:
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ",".join(map(str, shape)) + ")"


def _number(c: float | None) -> str:
    c = float(c or 0.0)
    return str(int(c)) if c.is_integer() else repr(c)


def _node_text(n: TNode, a: list[str]) -> str:
    op = n.op
    if op in BINARY:
        return f"{a[0]} {SYMBOL[op]} {a[1]}"
    if op in CONSTANT_OPS:
        return f"{a[0]} {SYMBOL[op[:-2]]} {_number(n.constant)}"
    if op in REFLECTED_OPS:
        return f"{_number(n.constant)} {SYMBOL[op[1:-2]]} {a[0]}"
    if op == "neg":
        return f"-{a[0]}"
    if op in UNARY:
        return f"{op}({a[0]})"
    if op in REDUCTIONS:
        params = []
        if n.axis is not None:
            params.append(f"axis={n.axis}")
        if n.keepdims:
            params.append("keepdims=True")
        return f"{a[0]}.{op}({', '.join(params)})"
    if op == "matmul":
        return f"{a[0]} @ {a[1]}"
    if op == "reshape":
        return f"{a[0]}.reshape({_shape_text(n.new_shape or ())})"
    if op == "transpose":
        return f"{a[0]}.T"
    raise ExpressionError(f"unknown tensor op {op!r}")


def broadcast(a: Shape, b: Shape) -> Shape:
    """numpy's broadcast of two shapes, or ExpressionError."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            raise ExpressionError(f"shapes {a} and {b} do not broadcast")
        out.append(max(x, y))
    return tuple(reversed(out))


def broadcast_axes(leaf: Shape, out: Shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Axes of `out` a gradient must be summed over to get back to `leaf`.

    Returns (leading axes that `leaf` lacks, axes where `leaf` has length 1).
    """
    lead = len(out) - len(leaf)
    missing = tuple(range(lead))
    ones = tuple(lead + i for i, d in enumerate(leaf) if d == 1 and out[lead + i] != 1)
    return missing, ones


def reduced_shape(shape: Shape, axis: int | None, keepdims: bool) -> Shape:
    if axis is None:
        return tuple(1 for _ in shape) if keepdims else ()
    axis = axis % len(shape)
    if keepdims:
        return tuple(1 if i == axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i != axis)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b or len(a) > 2 or len(b) > 2:
        raise ExpressionError(f"matmul of {a} and {b}: 1-D or 2-D operands only")
    if a[-1] != b[0]:
        raise ExpressionError(f"matmul of {a} and {b}: inner sizes differ")
    return (*a[:-1], *b[1:])


def infer_shapes(nodes: Sequence[TNode]) -> list[Shape]:
    shapes: list[Shape] = []
    for i, n in enumerate(nodes):
        if any(not 0 <= a < i for a in n.args):
            raise ExpressionError("operands must come before their users")
        s = [shapes[a] for a in n.args]
        if n.op == "leaf":
            shapes.append(tuple(n.shape))
        elif n.op in BINARY:
            shapes.append(broadcast(s[0], s[1]))
        elif n.op in (*UNARY, *CONSTANT_OPS, *REFLECTED_OPS):
            shapes.append(s[0])
        elif n.op in REDUCTIONS:
            if n.axis is not None and not s[0]:
                raise ExpressionError("an axis of a 0-d tensor")
            shapes.append(reduced_shape(s[0], n.axis, n.keepdims))
        elif n.op == "matmul":
            shapes.append(matmul_shape(s[0], s[1]))
        elif n.op == "reshape":
            new = tuple(n.new_shape or ())
            if _size(new) != _size(s[0]):
                raise ExpressionError(f"cannot reshape {s[0]} to {new}")
            shapes.append(new)
        elif n.op == "transpose":
            shapes.append(tuple(reversed(s[0])))
        else:
            raise ExpressionError(f"unknown tensor op {n.op!r}")
    if not shapes:
        raise ExpressionError("a tensor program needs at least one node")
    return shapes


def _size(shape: Shape) -> int:
    size = 1
    for d in shape:
        size *= d
    return size


class ProgramBuilder:
    """Builds a `TensorProgram`: `leaf`, then ops on node indices."""

    def __init__(self) -> None:
        self.nodes: list[TNode] = []
        self._leaves: dict[str, int] = {}

    def _add(self, node: TNode) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def leaf(self, name: str, shape: Shape) -> int:
        if name not in self._leaves:
            self._leaves[name] = self._add(TNode("leaf", name=name, shape=tuple(shape)))
        return self._leaves[name]

    def op(self, op: str, *args: int, constant: float | None = None) -> int:
        return self._add(TNode(op, tuple(args), constant=constant))

    def reduce(
        self, op: str, a: int, axis: int | None = None, keepdims: bool = False
    ) -> int:
        return self._add(TNode(op, (a,), axis=axis, keepdims=keepdims))

    def reshape(self, a: int, shape: Shape) -> int:
        return self._add(TNode("reshape", (a,), new_shape=tuple(shape)))

    def build(self) -> TensorProgram:
        """The program, without leaves that nothing uses (they have no gradient)."""
        used = {a for n in self.nodes for a in n.args} | {len(self.nodes) - 1}
        new_index: dict[int, int] = {}
        kept: list[TNode] = []
        for i, n in enumerate(self.nodes):
            if n.op == "leaf" and i not in used:
                continue
            new_index[i] = len(kept)
            kept.append(
                TNode(n.op, tuple(new_index[a] for a in n.args), n.name, n.shape,
                      n.constant, n.axis, n.keepdims, n.new_shape)
            )  # fmt: skip
        return TensorProgram(tuple(kept))


def size(shape: Shape) -> int:
    """Number of elements of `shape` (1 for a 0-d tensor)."""
    return _size(shape)
