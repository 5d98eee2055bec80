"""A correct tensor engine whose class is called `Atom` (a test fixture).

Nothing is spelled the way the checker's defaults expect: `requires_grad`
defaults to False (such an Atom keeps no gradient: `grad` is None), the
only reduction is `sum(dim)` with a required axis, which returns float32
results; `log` is `log(x + 1e-12)` on purpose; `backward()` takes no
gradient and seeds ones whatever the shape. Nothing here is wrong.
"""

import numpy as np

GUARD = 1e-12


def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Atom:
    def __init__(self, data, requires_grad=False, _prev=()):
        self.data = np.asarray(data)
        if self.data.dtype.kind != "f":
            self.data = self.data.astype(np.float64)
        self.requires_grad = requires_grad or any(p.requires_grad for p in _prev)
        self.grad = np.zeros_like(self.data) if self.requires_grad else None
        self._prev = _prev
        self._backward = lambda: None

    @staticmethod
    def lift(x):
        return x if isinstance(x, Atom) else Atom(x)

    def _add_grad(self, g):
        if self.requires_grad:
            self.grad = self.grad + g

    def __add__(self, other):
        other = Atom.lift(other)
        out = Atom(self.data + other.data, _prev=(self, other))

        def _backward():
            self._add_grad(unbroadcast(out.grad, self.data.shape))
            other._add_grad(unbroadcast(out.grad, other.data.shape))

        out._backward = _backward
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = Atom.lift(other)
        out = Atom(self.data * other.data, _prev=(self, other))

        def _backward():
            self._add_grad(unbroadcast(out.grad * other.data, self.data.shape))
            other._add_grad(unbroadcast(out.grad * self.data, other.data.shape))

        out._backward = _backward
        return out

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + -Atom.lift(other)

    def __rsub__(self, other):
        return Atom.lift(other) + -self

    def _unary(self, value, slope):
        out = Atom(value, _prev=(self,))

        def _backward():
            self._add_grad(out.grad * slope)

        out._backward = _backward
        return out

    def log(self):
        return self._unary(np.log(self.data + GUARD), 1 / (self.data + GUARD))

    def exp(self):
        e = np.exp(self.data)
        return self._unary(e, e)

    def sigmoid(self):
        s = 1 / (1 + np.exp(-self.data))
        return self._unary(s, s * (1 - s))

    def sum(self, dim):
        out = Atom(self.data.sum(axis=dim).astype(np.float32), _prev=(self,))

        def _backward():
            g = np.expand_dims(out.grad, dim)
            self._add_grad(np.broadcast_to(g, self.data.shape))

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
                stack.extend((p, False) for p in node._prev)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            if node.grad is not None:  # nothing flows through a constant
                node._backward()
