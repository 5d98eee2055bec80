"""The gradient read through a `grad()` method."""

import math


class Value:
    def __init__(self, data, _children=()):
        self.data = data
        self._g = 0.0
        self._prev = _children
        self._backward = lambda: None

    def grad(self):
        return self._g

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self._g += out._g
            other._g += out._g

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self._g += other.data * out._g
            other._g += self.data * out._g

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))

        def _backward():
            self._g += (1 - t * t) * out._g

        out._backward = _backward
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self._g = 1.0
        for node in reversed(order):
            node._backward()
