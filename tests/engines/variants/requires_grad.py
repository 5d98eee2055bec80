"""Leaves need `requires_grad=True`; without it they keep no gradient (minitorch)."""

import math


class Value:
    def __init__(self, data, _children=(), requires_grad=False):
        self.data = data
        self.requires_grad = requires_grad or any(c.requires_grad for c in _children)
        self.grad = 0.0 if self.requires_grad else None
        self._prev = _children
        self._backward = lambda: None

    def _accumulate(self, amount):
        if self.requires_grad:
            self.grad += amount

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self._accumulate(out.grad)
            other._accumulate(out.grad)

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self._accumulate(other.data * out.grad)
            other._accumulate(self.data * out.grad)

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))

        def _backward():
            self._accumulate((1 - t * t) * out.grad)

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
