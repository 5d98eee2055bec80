"""A correct micrograd-style engine that the hostile engines build on.

Every hostile engine in this folder subclasses `Value` and overrides one op
(or does something at import); all else stays correct, so the only thing
that can change a verdict is the hostile part. Results are built with
`type(self)`, so an op overridden in a subclass is used throughout a graph.
The backward pass walks an explicit order: the deep-chain probe must not
depend on the recursion limit (one hostile engine lowers it to 60).
Math functions are bound at import, before any engine can replace them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

_tanh, _exp, _log = math.tanh, math.exp, math.log


class Value:
    """A scalar, the operands it came from, and how to pass its gradient on."""

    def __init__(self, data: float, _children: tuple[Value, ...] = ()) -> None:
        self.data = data
        self.grad = 0.0
        self._prev = _children
        self._backward: Callable[[], None] = _nothing

    def _lift(self, other: Any) -> Value:
        return other if isinstance(other, Value) else type(self)(other)

    def _new(self, data: float, *children: Value) -> Value:
        return type(self)(data, children)

    def __add__(self, other: Any) -> Value:
        other = self._lift(other)
        out = self._new(self.data + other.data, self, other)

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = self._lift(other)
        out = self._new(self.data * other.data, self, other)

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, n: float) -> Value:
        out = self._new(self.data**n, self)

        def _backward() -> None:
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        t = _tanh(self.data)
        out = self._new(t, self)

        def _backward() -> None:
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        e = _exp(self.data)
        out = self._new(e, self)

        def _backward() -> None:
            self.grad += e * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        out = self._new(_log(self.data), self)

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = self._new(self.data if self.data > 0 else 0.0, self)

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    def __neg__(self) -> Value:
        return self * -1

    def __radd__(self, other: Any) -> Value:
        return self + other

    def __sub__(self, other: Any) -> Value:
        return self + (-self._lift(other))

    def __rsub__(self, other: Any) -> Value:
        return self._lift(other) + (-self)

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __truediv__(self, other: Any) -> Value:
        return self * self._lift(other) ** -1

    def __rtruediv__(self, other: Any) -> Value:
        return self._lift(other) * self**-1

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"


def _nothing() -> None:
    return None


def hostile_backward(op: Callable[[Value], Value], act: Callable[[], None]) -> Any:
    """`op` whose backward step first does `act` (the hostile part)."""

    def method(self: Value) -> Value:
        out = op(self)
        correct = out._backward

        def _backward() -> None:
            act()
            correct()

        out._backward = _backward
        return out

    method.__name__ = op.__name__
    return method
