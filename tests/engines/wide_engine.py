"""A correct micrograd-style engine with every op of the checker's table.

It exists to show that the references and their tolerances never flag a
correct float64 implementation of the newer ops: `x ** y` with a Value
exponent, `c ** x`, sin, cos, sqrt, abs, softplus, leaky_relu, both gelu
forms and erf. The formulas are the ones a careful engine writer would
choose (stable softplus and sigmoid, `math.tanh`, `math.erf`), written
independently of the references. Each node keeps a `_backward` closure, as
in the lecture, but the topological sort walks an explicit stack.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Union

Operand = Union["Value", int, float]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def _lift(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Value:
    """A scalar, its gradient, and how to pass a gradient to its operands."""

    def __init__(
        self, data: float, _children: tuple[Value, ...] = (), _op: str = ""
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self._prev = _children
        self._op = _op
        self._backward: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    def _unary(self, data: float, slope: float, op: str) -> Value:
        """A one-operand node whose local derivative is `slope`."""
        out = Value(data, (self,), op)

        def _backward() -> None:
            self.grad += slope * out.grad

        out._backward = _backward
        return out

    # -- operators ------------------------------------------------------------

    def __add__(self, other: Operand) -> Value:
        o = _lift(other)
        out = Value(self.data + o.data, (self, o), "+")

        def _backward() -> None:
            self.grad += out.grad
            o.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Operand) -> Value:
        o = _lift(other)
        out = Value(self.data * o.data, (self, o), "*")

        def _backward() -> None:
            self.grad += o.data * out.grad
            o.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Operand) -> Value:
        o = _lift(other)
        out = Value(self.data / o.data, (self, o), "/")

        def _backward() -> None:
            self.grad += out.grad / o.data
            o.grad += -out.data / o.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Operand) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        n = float(other)
        x = self.data
        out = Value(x**n, (self,), "**")

        def _backward() -> None:
            self.grad += n * x ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def _pow_value(self, other: Value) -> Value:
        """a ** b with both operands nodes (a > 0): d/db = a**b * log(a)."""
        a, b = self.data, other.data
        out = Value(math.pow(a, b), (self, other), "**")

        def _backward() -> None:
            self.grad += b * math.pow(a, b - 1) * out.grad
            other.grad += out.data * math.log(a) * out.grad

        out._backward = _backward
        return out

    def __rpow__(self, base: float) -> Value:
        c = float(base)
        data = math.pow(c, self.data)
        return self._unary(data, data * math.log(c), "rpow")

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Operand) -> Value:
        return self + (-_lift(other))

    def __radd__(self, other: float) -> Value:
        return self + other

    def __rsub__(self, other: float) -> Value:
        return Value(other) - self

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __rtruediv__(self, other: float) -> Value:
        return Value(other) / self

    def __abs__(self) -> Value:
        x = self.data
        return self._unary(abs(x), 1.0 if x > 0 else -1.0, "abs")

    # -- functions --------------------------------------------------------------

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")

    def exp(self) -> Value:
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def relu(self) -> Value:
        x = self.data
        return self._unary(max(x, 0.0), 1.0 if x > 0 else 0.0, "relu")

    def sigmoid(self) -> Value:
        s = _sigmoid(self.data)
        return self._unary(s, s * (1.0 - s), "sigmoid")

    def sin(self) -> Value:
        return self._unary(math.sin(self.data), math.cos(self.data), "sin")

    def cos(self) -> Value:
        return self._unary(math.cos(self.data), -math.sin(self.data), "cos")

    def sqrt(self) -> Value:
        r = math.sqrt(self.data)
        return self._unary(r, 0.5 / r, "sqrt")

    def softplus(self) -> Value:
        x = self.data
        # log(1 + e**x) without overflow or the loss of log(1 + tiny)
        data = max(x, 0.0) + math.log1p(math.exp(-abs(x)))
        return self._unary(data, _sigmoid(x), "softplus")

    def leaky_relu(self, slope: float = 0.01) -> Value:
        x = self.data
        if x > 0:
            return self._unary(x, 1.0, "leaky_relu")
        return self._unary(slope * x, slope, "leaky_relu")

    def erf(self) -> Value:
        x = self.data
        slope = 2.0 / math.sqrt(math.pi) * math.exp(-x * x)
        return self._unary(math.erf(x), slope, "erf")

    def gelu(self, approximate: str = "none") -> Value:
        """x * Phi(x); `approximate="tanh"` gives the tanh form, as in PyTorch."""
        x = self.data
        if approximate == "tanh":
            u = _SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)
            t = math.tanh(u)
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * x * x)
            slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
            return self._unary(0.5 * x * (1.0 + t), slope, "gelu")
        phi = 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
        density = _INV_SQRT_2PI * math.exp(-0.5 * x * x)
        return self._unary(x * phi, phi + x * density, "gelu")

    # -- backward -----------------------------------------------------------------

    def backward(self) -> None:
        """Reverse-mode pass over a topological order built without recursion."""
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
