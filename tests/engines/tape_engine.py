"""A second correct engine, written unlike the lecture, for testing the checker.

Where the lecture engine keeps a `_backward` closure per node and sorts the
graph depth-first, this one

* records each op's local partial derivatives at forward time, like a
  Wengert list with its local Jacobians (`_parents`, `_partials`);
* orders the backward pass with Kahn's algorithm: count how many consumers
  every node has, and release a node once all of them have passed their
  gradient down. Nothing recurses, whatever the depth;
* keeps adjoints in a dict during the pass and adds them to `.grad` at the end,
  so calling `backward()` twice gives exactly twice the gradients everywhere;
* stores `data` as given (ints stay ints) and starts `grad` at the int 0;
* uses different formulas: division and subtraction are ops of their own,
  tanh' is sech(x)**2 from the input, computed without overflow, sigmoid goes
  through exp(-|x|), and the power rule is n * x**n / x away from zero.

It has no neural-network layer: the checker must cope with engines without
`MLP`.
"""

from __future__ import annotations

import math
from typing import Union

Number = int | float
Operand = Union["Value", int, float]


def _lift(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


class Value:
    """A scalar on the tape: its value, its operands and d(self)/d(operand)."""

    __slots__ = ("_op", "_parents", "_partials", "data", "grad")

    def __init__(
        self,
        data: Number,
        _parents: tuple[Value, ...] = (),
        _partials: tuple[Number, ...] = (),
        _op: str = "",
    ) -> None:
        self.data = data
        self.grad: Number = 0
        self._parents = _parents
        self._partials = _partials
        self._op = _op

    def __repr__(self) -> str:
        return f"Value({self.data!r}, grad={self.grad!r})"

    # -- binary ops ----------------------------------------------------------

    def __add__(self, other: Operand) -> Value:
        o = _lift(other)
        return Value(self.data + o.data, (self, o), (1, 1), "add")

    def __sub__(self, other: Operand) -> Value:
        o = _lift(other)
        return Value(self.data - o.data, (self, o), (1, -1), "sub")

    def __mul__(self, other: Operand) -> Value:
        o = _lift(other)
        return Value(self.data * o.data, (self, o), (o.data, self.data), "mul")

    def __truediv__(self, other: Operand) -> Value:
        o = _lift(other)
        q = self.data / o.data
        # d(a/b)/db = -(a/b)/b: no b*b, which could overflow or underflow.
        return Value(q, (self, o), (1 / o.data, -q / o.data), "div")

    def __pow__(self, n: Number) -> Value:
        if isinstance(n, Value) or not isinstance(n, (int, float)):
            return NotImplemented
        x = self.data
        if x < 0 and not float(n).is_integer():
            raise ValueError(f"({x!r}) ** {n!r} is not real")
        y = x**n
        if x != 0 and y != 0 and math.isfinite(y):
            slope = n * y / x
        else:
            slope = n * x ** (n - 1)
        return Value(y, (self,), (slope,), "pow")

    def __radd__(self, other: Number) -> Value:
        return _lift(other) + self

    def __rsub__(self, other: Number) -> Value:
        return _lift(other) - self

    def __rmul__(self, other: Number) -> Value:
        return _lift(other) * self

    def __rtruediv__(self, other: Number) -> Value:
        return _lift(other) / self

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1,), "neg")

    # -- functions -----------------------------------------------------------

    def tanh(self) -> Value:
        x = self.data
        # sech(x)**2 = 4z / (1 + z)**2 with z = exp(-2|x|) <= 1: no overflow,
        # and no cancellation as in 1 - tanh(x)**2 for large |x|.
        z = math.exp(-2.0 * abs(x))
        return Value(math.tanh(x), (self,), (4.0 * z / (1.0 + z) ** 2,), "tanh")

    def exp(self) -> Value:
        y = math.exp(self.data)
        return Value(y, (self,), (y,), "exp")

    def log(self) -> Value:
        x = self.data
        if x <= 0:
            raise ValueError(f"log({x!r}) is not defined")
        return Value(math.log(x), (self,), (1 / x,), "log")

    def relu(self) -> Value:
        x = self.data
        return Value(x if x > 0 else 0, (self,), (1 if x > 0 else 0,), "relu")

    def sigmoid(self) -> Value:
        x = self.data
        z = math.exp(-abs(x))  # in (0, 1]: never overflows
        s = 1 / (1 + z) if x >= 0 else z / (1 + z)
        # sigmoid'(x) = z / (1 + z)**2 for either sign of x.
        return Value(s, (self,), (z / (1 + z) ** 2,), "sigmoid")

    # -- backward --------------------------------------------------------------

    def backward(self) -> None:
        """Add d(self)/d(node) to `node.grad` for every node of the graph."""
        # Count, for every node, the edges from its consumers (a * a counts 2).
        consumers: dict[int, int] = {id(self): 0}
        stack = [self]
        while stack:
            node = stack.pop()
            for parent in node._parents:
                key = id(parent)
                if key in consumers:
                    consumers[key] += 1
                else:
                    consumers[key] = 1
                    stack.append(parent)

        # Kahn's algorithm: a node is ready once every consumer has passed on
        # its share, so its adjoint is complete when it is released.
        adjoint: dict[int, float] = {id(self): 1.0}
        ready = [self]
        while ready:
            node = ready.pop()
            g = adjoint.pop(id(node))
            node.grad += g
            for parent, partial in zip(node._parents, node._partials, strict=True):
                key = id(parent)
                adjoint[key] = adjoint.get(key, 0.0) + g * partial
                consumers[key] -= 1
                if consumers[key] == 0:
                    ready.append(parent)
