"""The data read through a `data()` method."""

import math


class Value:
    def __init__(self, data, _children=()):
        self._d = data
        self.grad = 0.0
        self._prev = _children
        self._backward = lambda: None

    def data(self):
        return self._d

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self._d + other._d, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self._d * other._d, (self, other))

        def _backward():
            self.grad += other._d * out.grad
            other.grad += self._d * out.grad

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = math.tanh(self._d)
        out = Value(t, (self,))

        def _backward():
            self.grad += (1 - t * t) * out.grad

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
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
