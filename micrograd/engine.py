"""A scalar autograd engine: `Value` records operations and backpropagates.

Every `Value` remembers the op that produced it (`op`) and its operands
(`children`), so a graph can be walked, printed and drawn. `backward()` walks
an explicit topological order (no recursion), so graphs of any depth work.

Derivative rules live in `_BACKWARD`, one small function per op, instead of a
closure per node: creating a closure for every node costs more than one dict
lookup per node in `backward()`, and the table reads like the derivative
table in the docs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from numbers import Real
from typing import Union

Number = Union[int, float]
Operand = Union["Value", int, float]


class Value:
    """A scalar that records how it was computed, for reverse-mode autodiff.

    `data` is the float value, `grad` the derivative of the last `backward()`
    root with respect to this value. `op` names the operation that produced
    it ("" for a leaf) and `children` holds the operands in order.
    """

    # Slots make each node smaller and attribute access faster; `arg` holds
    # a constant an op needs (the exponent of `**`), so no closure is needed.
    __slots__ = ("data", "grad", "children", "op", "arg", "label")

    def __init__(
        self,
        data: Number,
        children: tuple[Value, ...] = (),
        op: str = "",
        arg: float = 0.0,
        label: str = "",
    ) -> None:
        if not isinstance(data, Real):
            raise TypeError(
                f"Value() needs a real number, got {type(data).__name__}: {data!r}"
            )
        self.data = float(data)
        self.grad = 0.0
        self.children = children
        self.op = op
        self.arg = arg
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        made_by = f", op={self.op!r}" if self.op else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g}{made_by})"

    # -- arithmetic ---------------------------------------------------------

    def __add__(self, other: Operand) -> Value:
        other = _as_value(other)
        return Value(self.data + other.data, (self, other), "+")

    def __mul__(self, other: Operand) -> Value:
        other = _as_value(other)
        return Value(self.data * other.data, (self, other), "*")

    def __sub__(self, other: Operand) -> Value:
        other = _as_value(other)
        return Value(self.data - other.data, (self, other), "-")

    def __truediv__(self, other: Operand) -> Value:
        other = _as_value(other)
        if other.data == 0.0:
            raise ZeroDivisionError(f"div: division by zero ({self.data!r} / 0.0)")
        return Value(self.data / other.data, (self, other), "/")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg")

    def __pos__(self) -> Value:
        return self

    def __pow__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            # A Value exponent is a**b = exp(b * log(a)), defined for a > 0.
            if self.data <= 0.0:
                raise ValueError(
                    f"pow: a Value exponent needs a positive base, got {self.data!r}"
                )
            return (other * self.log()).exp()
        if not isinstance(other, Real):
            return NotImplemented
        exponent = float(other)
        base = self.data
        if base == 0.0 and exponent < 0.0:
            raise ZeroDivisionError(
                f"pow: 0.0 cannot be raised to the negative power {exponent!r}"
            )
        if base < 0.0 and not exponent.is_integer():
            raise ValueError(
                f"pow: negative base {base!r} to the fractional power {exponent!r}"
            )
        try:
            result = base**exponent
        except OverflowError:
            raise OverflowError(f"pow: {base!r} ** {exponent!r} overflows") from None
        return Value(result, (self,), "**", exponent)

    def __radd__(self, other: Number) -> Value:
        return _as_value(other) + self

    def __rmul__(self, other: Number) -> Value:
        return _as_value(other) * self

    def __rsub__(self, other: Number) -> Value:
        return _as_value(other) - self

    def __rtruediv__(self, other: Number) -> Value:
        return _as_value(other) / self

    def __rpow__(self, other: Number) -> Value:
        return _as_value(other) ** self

    # -- functions ----------------------------------------------------------

    def tanh(self) -> Value:
        return Value(math.tanh(self.data), (self,), "tanh")

    def exp(self) -> Value:
        try:
            result = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp: overflow at {self.data!r}") from None
        return Value(result, (self,), "exp")

    def log(self) -> Value:
        if self.data <= 0.0:
            raise ValueError(f"log: argument must be positive, got {self.data!r}")
        return Value(math.log(self.data), (self,), "log")

    def relu(self) -> Value:
        return Value(self.data if self.data > 0.0 else 0.0, (self,), "relu")

    def sigmoid(self) -> Value:
        x = self.data
        # Two forms so that exp() never overflows, whatever the sign of x.
        if x >= 0.0:
            result = 1.0 / (1.0 + math.exp(-x))
        else:
            z = math.exp(x)
            result = z / (1.0 + z)
        return Value(result, (self,), "sigmoid")

    # -- graph --------------------------------------------------------------

    def walk(self) -> list[Value]:
        """Every node of this value's graph, operands before their users."""
        order: list[Value] = []
        seen: set[int] = {id(self)}
        # An explicit stack of (node, next child index) replaces recursion.
        stack: list[tuple[Value, Iterator[Value]]] = [(self, iter(self.children))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.children)))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    def backward(self) -> None:
        """Backpropagate from this value into every node of its graph.

        Intermediate gradients are recomputed from scratch on every call, and
        leaves accumulate: calling `backward()` twice gives the leaves exactly
        twice the gradient of one call, as in PyTorch.
        """
        order = self.walk()
        for node in order:
            if node.children:
                node.grad = 0.0
        if self.children:
            self.grad = 1.0
        else:
            self.grad += 1.0
        rules = _BACKWARD
        for node in reversed(order):
            if node.children:
                rules[node.op](node)

    def zero_grad(self) -> None:
        """Reset the gradient of every node in this value's graph to 0."""
        for node in self.walk():
            node.grad = 0.0


def _as_value(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


# -- derivative rules: each adds out.grad * d(out)/d(operand) to operands --


def _add_backward(out: Value) -> None:
    a, b = out.children
    a.grad += out.grad
    b.grad += out.grad


def _sub_backward(out: Value) -> None:
    a, b = out.children
    a.grad += out.grad
    b.grad -= out.grad


def _mul_backward(out: Value) -> None:
    a, b = out.children
    a.grad += b.data * out.grad
    b.grad += a.data * out.grad


def _div_backward(out: Value) -> None:
    a, b = out.children
    a.grad += out.grad / b.data
    b.grad -= out.grad * out.data / b.data


def _neg_backward(out: Value) -> None:
    out.children[0].grad -= out.grad


def _pow_backward(out: Value) -> None:
    (a,) = out.children
    n = out.arg
    if a.data == 0.0 and n < 1.0:
        raise ZeroDivisionError(f"pow: the derivative of x**{n!r} is infinite at 0.0")
    a.grad += n * a.data ** (n - 1.0) * out.grad


def _tanh_backward(out: Value) -> None:
    out.children[0].grad += (1.0 - out.data * out.data) * out.grad


def _exp_backward(out: Value) -> None:
    out.children[0].grad += out.data * out.grad


def _log_backward(out: Value) -> None:
    a = out.children[0]
    a.grad += out.grad / a.data


def _relu_backward(out: Value) -> None:
    if out.data > 0.0:
        out.children[0].grad += out.grad


def _sigmoid_backward(out: Value) -> None:
    s = out.data
    out.children[0].grad += s * (1.0 - s) * out.grad


_BACKWARD: dict[str, Callable[[Value], None]] = {
    "+": _add_backward,
    "-": _sub_backward,
    "*": _mul_backward,
    "/": _div_backward,
    "neg": _neg_backward,
    "**": _pow_backward,
    "tanh": _tanh_backward,
    "exp": _exp_backward,
    "log": _log_backward,
    "relu": _relu_backward,
    "sigmoid": _sigmoid_backward,
}
