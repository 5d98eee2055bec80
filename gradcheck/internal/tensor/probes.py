"""Targeted tensor probes, smallest first, grouped by what they exercise.

Each probe is one small program aimed at one way tensor engines go wrong;
run in this order, the first failing probe of a group is already a minimal
program for its bug. Groups are the checks of the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gradcheck.internal.tensor.program import ProgramBuilder, Shape, TensorProgram

UNARY_OPS = ("neg", "tanh", "exp", "log", "relu", "sigmoid")


@dataclass(frozen=True)
class Probe:
    group: str
    name: str
    program: TensorProgram


def _unary(op: str, shape: Shape = (2, 3)) -> TensorProgram:
    b = ProgramBuilder()
    b.op(op, b.leaf("a", shape))
    return b.build()


def _binary(op: str, sa: Shape, sb: Shape, same: bool = False) -> TensorProgram:
    b = ProgramBuilder()
    b.op(op, b.leaf("a", sa), b.leaf("a" if same else "b", sb))
    return b.build()


def _constant(op: str, k: float, shape: Shape = (2, 3)) -> TensorProgram:
    b = ProgramBuilder()
    b.op(op, b.leaf("a", shape), constant=k)
    return b.build()


def _reduce(op: str, shape: Shape, axis: int | None, keepdims: bool) -> TensorProgram:
    b = ProgramBuilder()
    b.reduce(op, b.leaf("a", shape), axis, keepdims)
    return b.build()


def _build(fn: Callable[[ProgramBuilder], object]) -> TensorProgram:
    b = ProgramBuilder()
    fn(b)
    return b.build()


def _identity() -> TensorProgram:
    b = ProgramBuilder()
    b.leaf("a", (2, 3))
    return b.build()


def _mlp(b: ProgramBuilder) -> None:
    x, w1, b1 = b.leaf("x", (2, 3)), b.leaf("W1", (3, 3)), b.leaf("b1", (3,))
    w2, b2 = b.leaf("W2", (3, 1)), b.leaf("b2", (1,))
    h = b.op("tanh", b.op("add", b.op("matmul", x, w1), b1))
    out = b.op("add", b.op("matmul", h, w2), b2)
    t = b.leaf("t", (2, 1))
    d = b.op("sub", out, t)
    b.reduce("mean", b.op("pow_k", d, constant=2.0))


def _reuse_broadcast(b: ProgramBuilder) -> None:
    a, m = b.leaf("a", (3,)), b.leaf("b", (2, 3))
    b.op("mul", b.op("add", m, a), a)


def _plus_unary(op: str) -> Callable[[ProgramBuilder], None]:
    def build(b: ProgramBuilder) -> None:
        a = b.leaf("a", (2, 3))
        b.op("add", a, b.op(op, a))

    return build


def _on_affine(op: str) -> Callable[[ProgramBuilder], None]:
    def build(b: ProgramBuilder) -> None:
        ab = b.op("mul", b.leaf("a", (2, 3)), b.leaf("b", (2, 3)))
        b.op(op, b.op("add", ab, b.leaf("c", (2, 3))))

    return build


def _on_scaled(op: str, k: float) -> Callable[[ProgramBuilder], None]:
    def build(b: ProgramBuilder) -> None:
        b.op(op, b.op("mul_k", b.leaf("a", (2, 3)), constant=k))

    return build


def _times_total(b: ProgramBuilder) -> None:
    a = b.leaf("a", (2, 3))
    b.op("mul", a, b.reduce("sum", a))


def _gram(b: ProgramBuilder) -> None:
    a = b.leaf("a", (2, 3))
    b.op("matmul", a, b.op("transpose", a))


def _linear_skip(b: ProgramBuilder) -> None:
    a = b.leaf("a", (2, 3))
    b.op("add", b.op("matmul", a, b.leaf("w", (3, 3))), a)


def _centre(b: ProgramBuilder) -> None:
    a = b.leaf("a", (2, 3))
    b.op("sub", a, b.reduce("mean", a, 1, True))


def probes() -> list[Probe]:
    """Every targeted probe, in the order they run."""
    out: list[Probe] = [Probe("elementwise", "y = a", _identity())]
    for op in UNARY_OPS:
        out.append(Probe("elementwise", f"{op}(a)", _unary(op)))
    for op, k in (("pow_k", 2.0), ("pow_k", 3.0), ("pow_k", -1.0)):
        out.append(Probe("elementwise", f"a ** {k:g}", _constant(op, k)))
    # Each op on a computed input: a backward that reads another node than
    # its own input (the input's parent, a leaf) is right on `op(a)` only.
    # `a * -2` flips every sign, so a mask or value taken from `a` is wrong
    # on every element; log needs a positive input.
    for op in UNARY_OPS:
        k = 2.0 if op == "log" else -2.0
        out.append(Probe("elementwise", f"{op}(a * {k:g})", _build(_on_scaled(op, k))))
        out.append(Probe("elementwise", f"{op}(a * b + c)", _build(_on_affine(op))))
    for op in ("add", "sub", "mul", "div", "pow"):
        out.append(Probe("elementwise", f"a {op} b", _binary(op, (2, 3), (2, 3))))
    for op, k in (("add_k", 2.0), ("sub_k", 2.0), ("mul_k", 3.0), ("div_k", 4.0),
                  ("radd_k", 2.0), ("rsub_k", 2.0), ("rmul_k", 3.0), ("rdiv_k", 2.0)):  # fmt: skip
        out.append(Probe("constants", op, _constant(op, k)))
    for op in ("sum", "mean", "max"):
        out.append(Probe("reductions", f"{op}()", _reduce(op, (2, 3), None, False)))
        for axis in (0, 1):
            for keep in (False, True):
                name = f"{op}(axis={axis}{', keepdims=True' if keep else ''})"
                out.append(Probe("reductions", name, _reduce(op, (2, 3), axis, keep)))
    for op in ("add", "mul"):
        for sa, sb in (((2, 3), (3,)), ((3,), (2, 3)), ((2, 3), (2, 1)),
                       ((2, 1), (2, 3)), ((2, 3), ()), ((), (2, 3)), ((3, 1), (3,))):  # fmt: skip
            out.append(Probe("broadcasting", f"{sa} {op} {sb}", _binary(op, sa, sb)))
    for sa, sb in (((2, 3), (3, 2)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 1)),
                   ((3,), (3,)), ((3,), (3, 3)), ((3, 3), (3,))):  # fmt: skip
        out.append(Probe("matmul", f"{sa} @ {sb}", _binary("matmul", sa, sb)))
    out.append(
        Probe(
            "shape",
            "a.reshape((3, 2))",
            _build(lambda b: b.reshape(b.leaf("a", (2, 3)), (3, 2))),
        )
    )
    out.append(
        Probe(
            "shape",
            "a.reshape((6,))",
            _build(lambda b: b.reshape(b.leaf("a", (2, 3)), (6,))),
        )
    )
    out.append(
        Probe("shape", "a.T", _build(lambda b: b.op("transpose", b.leaf("a", (2, 3)))))
    )
    for op in ("add", "mul"):
        out.append(
            Probe(
                "reuse",
                f"a {op} a",
                _binary(op, (2, 3), (2, 3), same=True),
            )
        )
    out.append(
        Probe(
            "reuse",
            "a * b + a",
            _build(
                lambda b: b.op(
                    "add",
                    b.op("mul", b.leaf("a", (2, 3)), b.leaf("b", (2, 3))),
                    b.leaf("a", (2, 3)),
                )
            ),
        )
    )
    out.append(
        Probe("reuse", "(b + a) * a through a broadcast", _build(_reuse_broadcast))
    )
    out.append(Probe("reuse", "a - a.mean(axis=1, keepdims=True)", _build(_centre)))
    for op in ("log", "exp", "tanh", "sigmoid", "relu"):  # add, never set
        out.append(Probe("reuse", f"a + {op}(a)", _build(_plus_unary(op))))
    out.append(Probe("reuse", "a * a.sum()", _build(_times_total)))
    out.append(Probe("reuse", "a @ a.T", _build(_gram)))
    out.append(Probe("reuse", "a @ w + a", _build(_linear_skip)))
    out.append(Probe("mlp", "tanh MLP with a mean squared loss", _build(_mlp)))
    return out
