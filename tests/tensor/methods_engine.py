"""A correct tensor engine that spells some ops only as methods (a test fixture).

`-a`, `a ** k`, `k - a` and `k / a` do not work: there is no `__neg__`,
`__pow__`, `__rsub__` or `__rtruediv__`. The engine has `a.neg()`,
`a.pow(k)`, `a.rsub(k)` (k - a) and `a.rdiv(k)` (k / a) instead, as torch
spells them. Gradients are unbroadcast; transpose is the `T` property.
Nothing here is wrong.
"""

import numpy as np


def unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    def __init__(self, data, _parents=(), _vjp=None):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._parents = _parents
        self._vjp = _vjp  # upstream gradient -> one gradient per parent

    @staticmethod
    def lift(x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def __add__(self, other):
        o = Tensor.lift(other)

        def vjp(g):
            return unbroadcast(g, self.data.shape), unbroadcast(g, o.data.shape)

        return Tensor(self.data + o.data, (self, o), vjp)

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        o = Tensor.lift(other)

        def vjp(g):
            return unbroadcast(g, self.data.shape), unbroadcast(-g, o.data.shape)

        return Tensor(self.data - o.data, (self, o), vjp)

    def __mul__(self, other):
        o = Tensor.lift(other)

        def vjp(g):
            return (
                unbroadcast(g * o.data, self.data.shape),
                unbroadcast(g * self.data, o.data.shape),
            )

        return Tensor(self.data * o.data, (self, o), vjp)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        o = Tensor.lift(other)

        def vjp(g):
            return (
                unbroadcast(g / o.data, self.data.shape),
                unbroadcast(-g * self.data / o.data**2, o.data.shape),
            )

        return Tensor(self.data / o.data, (self, o), vjp)

    def neg(self):
        return Tensor(-self.data, (self,), lambda g: (-g,))

    def pow(self, k):
        x = self.data
        return Tensor(x**k, (self,), lambda g: (g * k * x ** (k - 1),))

    def rsub(self, k):
        return Tensor.lift(k) - self

    def rdiv(self, k):
        return Tensor.lift(k) / self

    def __matmul__(self, other):
        a, b = self.data, other.data

        def vjp(g):
            a2 = a.reshape(1, -1) if a.ndim == 1 else a
            b2 = b.reshape(-1, 1) if b.ndim == 1 else b
            g2 = np.asarray(g).reshape(a2.shape[0], b2.shape[1])
            return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)

        return Tensor(a @ b, (self, other), vjp)

    def tanh(self):
        t = np.tanh(self.data)
        return Tensor(t, (self,), lambda g: (g * (1 - t * t),))

    def exp(self):
        e = np.exp(self.data)
        return Tensor(e, (self,), lambda g: (g * e,))

    def log(self):
        x = self.data
        return Tensor(np.log(x), (self,), lambda g: (g / x,))

    def relu(self):
        x = self.data
        return Tensor(np.maximum(x, 0.0), (self,), lambda g: (g * (x > 0),))

    def sigmoid(self):
        s = 1.0 / (1.0 + np.exp(-self.data))
        return Tensor(s, (self,), lambda g: (g * s * (1 - s),))

    def sum(self, axis=None, keepdims=False):
        shape = self.data.shape

        def vjp(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, shape).copy(),)

        return Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), vjp)

    def mean(self, axis=None, keepdims=False):
        n = self.data.size if axis is None else self.data.shape[axis]
        return self.sum(axis, keepdims) * (1.0 / n)

    def reshape(self, shape):
        old = self.data.shape
        return Tensor(self.data.reshape(shape), (self,), lambda g: (g.reshape(old),))

    @property
    def T(self):
        return Tensor(self.data.T, (self,), lambda g: (g.T,))

    def backward(self, grad=None):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        seed = np.ones_like(self.data) if grad is None else np.asarray(grad)
        self.grad = seed.reshape(self.data.shape).astype(np.float64)
        for node in reversed(order):
            if node._vjp is not None:
                for parent, g in zip(node._parents, node._vjp(node.grad), strict=True):
                    parent.grad = parent.grad + g
