"""Expand a tensor program into the scalar expression DAG of its elements.

Broadcasting, reductions, matmul, reshape and transpose become index maps;
each leaf element is one variable (`a_0_1`), and the loss is
L = sum(y * R) with R a drawn constant tensor. The scalar references
(SymPy and mpmath, and the tolerance analysis) then apply unchanged. `max`
is a selection of its largest element, valid away from ties, which the
expansion refuses (`PointError`) so that the caller draws again.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mpmath

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph, Node
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.tensor.program import (
    BINARY,
    CONSTANT_OPS,
    REFLECTED_OPS,
    Shape,
    TensorProgram,
    size,
)

# Two candidates of a max closer than this (relative) are a tie: draw again.
TIE = 1e-2
_SCALAR_OP = {
    "add_k": "add_const", "sub_k": "sub_const", "mul_k": "mul_const",
    "div_k": "div_const", "pow_k": "pow", "radd_k": "radd", "rsub_k": "rsub",
    "rmul_k": "rmul", "rdiv_k": "rdiv",
}  # fmt: skip


def element_name(leaf: str, index: Sequence[int]) -> str:
    return "_".join([leaf, *map(str, index)])


def indices(shape: Shape) -> list[tuple[int, ...]]:
    """Every index of `shape` in C order (one empty index for 0-d)."""
    return list(itertools.product(*(range(d) for d in shape)))


def ravel(index: Sequence[int], shape: Shape) -> int:
    flat = 0
    for i, d in zip(index, shape, strict=True):
        flat = flat * d + i
    return flat


@dataclass
class Expansion:
    """The scalar graph of a program, and where each tensor element lives."""

    graph: Graph
    # per tensor node, the scalar node of each element (C order)
    elements: list[list[int]]
    # per leaf name, the variable name of each element (C order)
    variables: dict[str, list[str]]
    point: dict[str, float]


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.values: list[mpmath.mpf] = []

    def add(self, node: Node, value: mpmath.mpf) -> int:
        self.nodes.append(node)
        self.values.append(value)
        return len(self.nodes) - 1

    def op(self, name: str, *args: int, constant: float | None = None) -> int:
        try:
            value = OPS[name].apply_mp([self.values[a] for a in args], constant)
        except (ArithmeticError, ValueError) as err:
            raise PointError(f"{name} has no value here ({err})") from None
        return self.add(Node(name, tuple(args), constant), value)

    def total(self, items: Sequence[int]) -> int:
        out = items[0]
        for item in items[1:]:
            out = self.op("add", out, item)
        return out


def expand(
    program: TensorProgram,
    values: Mapping[str, Sequence[float]],
    projection: Sequence[float],
) -> Expansion:
    """The scalar graph of L = sum(y * R) at the leaf values given (flat, C order)."""
    b = _Builder()
    elements: list[list[int]] = []
    variables: dict[str, list[str]] = {}
    point: dict[str, float] = {}
    shapes = program.shapes
    for i, n in enumerate(program.nodes):
        shape = shapes[i]
        if n.op == "leaf":
            names = [element_name(n.name, ix) for ix in indices(shape)]
            variables[n.name] = names
            flat = values[n.name]
            elems = []
            for name, x in zip(names, flat, strict=True):
                point[name] = float(x)
                elems.append(b.add(Node("var", name=name), mpmath.mpf(x)))
            elements.append(elems)
            continue
        ins = [elements[a] for a in n.args]
        in_shapes = [shapes[a] for a in n.args]
        elements.append(_expand_node(b, n.op, n, ins, in_shapes, shape))
    out = elements[-1]
    if len(projection) != len(out):
        raise PointError("the projection R does not match the output's shape")
    terms = [
        b.op("mul_const", e, constant=float(r))
        for e, r in zip(out, projection, strict=True)
    ]
    b.total(terms)
    return Expansion(Graph(tuple(b.nodes)), elements, variables, point)


def _expand_node(
    b: _Builder,
    op: str,
    n: object,
    ins: list[list[int]],
    in_shapes: list[Shape],
    shape: Shape,
) -> list[int]:
    constant = getattr(n, "constant", None)
    if op in BINARY:
        scalar = "pow_var" if op == "pow" else op
        return [
            b.op(
                scalar,
                ins[0][source_element(ix, in_shapes[0])],
                ins[1][source_element(ix, in_shapes[1])],
            )
            for ix in indices(shape)
        ]
    if op in CONSTANT_OPS or op in REFLECTED_OPS:
        return [b.op(_SCALAR_OP[op], e, constant=constant) for e in ins[0]]
    if op in ("neg", "tanh", "exp", "log", "relu", "sigmoid"):
        return [b.op(op, e) for e in ins[0]]
    if op in ("sum", "mean", "max"):
        return _reduce(b, op, ins[0], in_shapes[0], getattr(n, "axis", None))
    if op == "matmul":
        return _matmul(b, ins, in_shapes)
    if op == "reshape":
        return list(ins[0])
    if op == "transpose":
        src = in_shapes[0]
        return [ins[0][ravel(tuple(reversed(ix)), src)] for ix in indices(shape)]
    raise PointError(f"cannot expand tensor op {op!r}")


def source_element(out_index: tuple[int, ...], shape: Shape) -> int:
    """The flat element of an operand of `shape` that broadcasts to `out_index`."""
    tail = out_index[len(out_index) - len(shape) :] if shape else ()
    return ravel(
        tuple(0 if d == 1 else i for i, d in zip(tail, shape, strict=True)), shape
    )


def _groups(shape: Shape, axis: int | None) -> list[list[int]]:
    """Flat input elements reduced into each output element (C order)."""
    if axis is None:
        return [list(range(size(shape)))]
    axis = axis % len(shape)
    rest = tuple(d for i, d in enumerate(shape) if i != axis)
    groups = []
    for ix in indices(rest):
        groups.append(
            [ravel((*ix[:axis], k, *ix[axis:]), shape) for k in range(shape[axis])]
        )
    return groups


def _reduce(
    b: _Builder, op: str, elems: list[int], shape: Shape, axis: int | None
) -> list[int]:
    out = []
    for group in _groups(shape, axis):
        items = [elems[g] for g in group]
        if op == "max":
            ranked = sorted(items, key=lambda e: b.values[e], reverse=True)
            if len(ranked) > 1:
                top, second = b.values[ranked[0]], b.values[ranked[1]]
                if abs(top - second) <= TIE * max(1, abs(top)):
                    raise PointError("max has a near-tie here")
            out.append(ranked[0])
            continue
        total = b.total(items)
        out.append(
            b.op("div_const", total, constant=float(len(items)))
            if op == "mean"
            else total
        )
    return out


def _matmul(b: _Builder, ins: list[list[int]], shapes: list[Shape]) -> list[int]:
    (a, c), (sa, sc) = ins, shapes
    rows = sa[0] if len(sa) == 2 else None
    cols = sc[1] if len(sc) == 2 else None
    inner = sa[-1]
    out = []
    for i in range(rows or 1):
        for j in range(cols or 1):
            terms = []
            for k in range(inner):
                left = a[i * inner + k] if rows is not None else a[k]
                right = c[k * cols + j] if cols is not None else c[k]
                terms.append(b.op("mul", left, right))
            out.append(b.total(terms))
    return out
