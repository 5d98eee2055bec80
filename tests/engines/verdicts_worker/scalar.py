"""A correct scalar engine whose tests plant one fault each by replacing a line.

Written for the worker-verdict tests (tests/test_worker_verdicts.py): every
line a test replaces ends with a `# <marker>` comment, so each variant is
still a plain engine file. `_stored` is the storage: identity keeps float64;
a variant rounds every result (or every leaf too) to float32 by a struct
round-trip, as engines that mimic float32 without numpy do.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Union

Operand = Union["Value", int, float]
ROUND_LEAVES = False  # leaves: round them too (else only results are rounded)


def _stored(x: Any) -> Any:
    return x  # storage


def _as_value(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


class Value:
    """A float, its gradient, the nodes it came from and how to pass gradients."""

    def __init__(self, data: Any, _children: tuple[Value, ...] = ()) -> None:
        self.data = _stored(data) if (_children or ROUND_LEAVES) else data
        self.grad = 0.0
        self._prev = _children
        self._backward: Callable[[], None] = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    def __add__(self, other: Operand) -> Value:
        o = _as_value(other)
        out = Value(self.data + o.data, (self, o))

        def _backward() -> None:
            self.grad += out.grad
            o.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Operand) -> Value:
        o = _as_value(other)
        out = Value(self.data * o.data, (self, o))  # mul forward

        def _backward() -> None:
            self.grad += o.data * out.grad
            o.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, k: float) -> Value:
        if isinstance(k, Value):
            return NotImplemented  # pow refusal
        out = Value(self.data**k, (self,))

        def _backward() -> None:
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        out = Value(-self.data, (self,))

        def _backward() -> None:
            self.grad -= out.grad

        out._backward = _backward
        return out

    def __sub__(self, other: Operand) -> Value:
        return self + (-_as_value(other))

    def __truediv__(self, other: Operand) -> Value:
        return self * _as_value(other) ** -1

    def __radd__(self, other: Operand) -> Value:
        return self + other

    def __rmul__(self, other: Operand) -> Value:
        return self * other

    def __rsub__(self, other: Operand) -> Value:
        return _as_value(other) - self

    def __rtruediv__(self, other: Operand) -> Value:
        return _as_value(other) / self

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,))  # tanh forward

        def _backward() -> None:
            self.grad += (1 - t * t) * out.grad  # tanh backward

        out._backward = _backward
        return out

    def exp(self) -> Value:
        e = math.exp(self.data)  # exp forward
        out = Value(e, (self,))

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        out = Value(math.log(self.data), (self,))

        def _backward() -> None:
            self.grad += out.grad / self.data  # log backward

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(self.data if self.data > 0 else 0.0, (self,))

        def _backward() -> None:
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        order: list[Value] = []
        seen: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


_ = struct  # used by the float32 variants of `_stored`
