"""Another spelling of the contract, with `=` for `+=` in `*`'s backward.

`Scalar`, not `Value`; the number in `.value`, the gradient in `.gradient`;
`backprop()`; leaves track gradients only with `requires_grad=True`.
"""

import math


class Scalar:
    def __init__(self, value, _children=(), requires_grad=False):
        self.value = value
        self.requires_grad = requires_grad or any(c.requires_grad for c in _children)
        self.gradient = 0.0 if self.requires_grad else None
        self._prev = _children
        self._backward = lambda: None

    def _put(self, amount, accumulate=True):
        if self.requires_grad:
            self.gradient = self.gradient + amount if accumulate else amount

    def __add__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.value + other.value, (self, other))

        def _backward():
            self._put(out.gradient)
            other._put(out.gradient)

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.value * other.value, (self, other))

        def _backward():
            self._put(other.value * out.gradient, accumulate=False)
            other._put(self.value * out.gradient, accumulate=False)

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def tanh(self):
        t = math.tanh(self.value)
        out = Scalar(t, (self,))

        def _backward():
            self._put((1 - t * t) * out.gradient)

        out._backward = _backward
        return out

    def backprop(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.gradient = 1.0
        for node in reversed(order):
            node._backward()
