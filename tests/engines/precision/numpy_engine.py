"""A correct micrograd-style engine whose numbers are numpy scalars.

`DTYPE` is the storage: numpy.float32 makes every value and every gradient
a float32, rounded after each op, as an engine written with numpy float32
would be. `GRAD_ARRAYS` keeps each gradient as a 0-d array updated in
place (`self.grad += ...`), the pattern that breaks when a checker resets
every node's `grad` to one shared object. The tests make variants of this
file (another dtype, a gelu form, a planted bug) by replacing the marked
lines; each variant is still a plain engine file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Union

import numpy as np

DTYPE: Any = np.float32  # storage
GRAD_ARRAYS = False  # gradients as 0-d arrays, updated in place
GELU_FORM = "erf"  # "erf" or "tanh"
LEAKY_SLOPE = 0.1  # leaky_relu's default slope
RELU_LEAK = 0.0  # relu's slope for x < 0 in backward (0 is right)

Operand = Union["Value", int, float]
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _lift(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


def _zero() -> Any:
    return np.zeros((), dtype=DTYPE) if GRAD_ARRAYS else DTYPE(0.0)


class Value:
    """A scalar of DTYPE, its gradient, and its backward rule."""

    def __init__(self, data: Any, _children: tuple[Value, ...] = ()) -> None:
        self.data = DTYPE(data)
        self.grad = _zero()
        self._prev = _children
        self._backward: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    def _node(self, data: Any, parts: tuple[tuple[Value, Any], ...]) -> Value:
        """A node whose gradient flows to each operand times its local slope."""
        out = Value(data, tuple(v for v, _ in parts))

        def _backward() -> None:
            for operand, slope in parts:
                operand.grad += DTYPE(slope) * out.grad

        out._backward = _backward
        return out

    def __add__(self, other: Operand) -> Value:
        o = _lift(other)
        return self._node(self.data + o.data, ((self, 1.0), (o, 1.0)))

    def __mul__(self, other: Operand) -> Value:
        o = _lift(other)
        return self._node(self.data * o.data, ((self, o.data), (o, self.data)))

    def __pow__(self, k: float) -> Value:
        if isinstance(k, Value):
            return NotImplemented
        x = self.data
        return self._node(x**k, ((self, k * x ** (k - 1)),))

    def __truediv__(self, other: Operand) -> Value:
        o = _lift(other)
        q = self.data / o.data
        return self._node(q, ((self, 1.0 / o.data), (o, -q / o.data)))

    def __rtruediv__(self, other: Operand) -> Value:
        return _lift(other) / self

    def __neg__(self) -> Value:
        return self._node(-self.data, ((self, -1.0),))

    def __sub__(self, other: Operand) -> Value:
        o = _lift(other)
        return self._node(self.data - o.data, ((self, 1.0), (o, -1.0)))

    def __rsub__(self, other: Operand) -> Value:
        return _lift(other) - self

    def __radd__(self, other: Operand) -> Value:
        return self + other

    def __rmul__(self, other: Operand) -> Value:
        return self * other

    def tanh(self) -> Value:
        t = np.tanh(self.data)
        return self._node(t, ((self, 1.0 - t * t),))

    def exp(self) -> Value:
        e = np.exp(self.data)
        return self._node(e, ((self, e),))

    def log(self) -> Value:
        return self._node(np.log(self.data), ((self, 1.0 / self.data),))

    def relu(self) -> Value:
        x = self.data
        slope = 1.0 if x > 0 else RELU_LEAK
        return self._node(x if x > 0 else DTYPE(0.0), ((self, slope),))

    def sigmoid(self) -> Value:
        x = self.data
        s = 1.0 / (1.0 + np.exp(-x)) if x >= 0 else np.exp(x) / (1.0 + np.exp(x))
        return self._node(s, ((self, s * (1.0 - s)),))

    def leaky_relu(self, slope: float = LEAKY_SLOPE) -> Value:
        x = self.data
        if x > 0:
            return self._node(x, ((self, 1.0),))
        return self._node(DTYPE(slope) * x, ((self, slope),))

    def gelu(self) -> Value:
        x = float(self.data)
        if GELU_FORM == "tanh":
            c = 0.044715
            t = math.tanh(_SQRT_2_OVER_PI * (x + c * x**3))
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * c * x * x)
            slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
            return self._gelu_node(0.5 * x * (1.0 + t), slope)
        phi = 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
        slope = phi + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)
        return self._gelu_node(x * phi, slope)

    def _gelu_node(self, data: float, slope: float) -> Value:
        out = Value(data, (self,))

        def _backward() -> None:
            self.grad += DTYPE(slope) * out.grad  # gelu backward

        out._backward = _backward
        return out

    def backward(self) -> None:
        """Reverse topological order, built with an explicit stack."""
        order: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = np.ones((), dtype=DTYPE) if GRAD_ARRAYS else DTYPE(1.0)
        for node in reversed(order):
            node._backward()
