"""A correct lazy tensor engine, in a style the checker must read (a fixture).

`Array` takes nested lists only (an ndarray is refused) and
`requires_grad=True`; values are computed on `realize()`, which returns
nested lists; gradients live in `.gradient` as lazy `Buffer`s;
`backprop()` runs backward from a one-element result only; `sum` and
`mean` keep dimensions by default (`axes=`, `keepdims=True`); `transpose`
needs both axes; `tanh` is a module function. Nothing here is wrong.
"""

import numpy as np


class Buffer:
    """Lazy data: a thunk run once, read as nested lists."""

    def __init__(self, thunk):
        self._thunk = thunk
        self._value = None

    def array(self):
        if self._value is None:
            self._value = np.asarray(self._thunk(), dtype=np.float64)
        return self._value

    @property
    def shape(self):
        return self.array().shape

    def realize(self):
        return self.array().tolist()


def unbroadcast(g, shape):
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1
    )
    return g.sum(axis=axes, keepdims=True).reshape(shape) if axes else g


class Array:
    def __init__(self, values, requires_grad=False, _parents=(), _rule=None):
        if isinstance(values, np.ndarray):
            raise TypeError("Array takes nested lists, not ndarrays")
        if isinstance(values, Buffer):
            self.buffer = values
        else:
            fixed = np.asarray(values, dtype=np.float64)
            self.buffer = Buffer(lambda: fixed)
        self.requires_grad = requires_grad or any(p.requires_grad for p in _parents)
        self.gradient = None
        self._parents = _parents
        self._rule = _rule

    @property
    def shape(self):
        return self.buffer.shape

    def realize(self):
        return self.buffer.realize()

    def _v(self):
        return self.buffer.array()

    @staticmethod
    def _wrap(x):
        return x if isinstance(x, Array) else Array(np.asarray(x, float).tolist())

    def _make(self, thunk, parents, rule):
        return Array(Buffer(thunk), _parents=parents, _rule=rule)

    def __add__(self, other):
        other = self._wrap(other)
        a, b = self, other
        return self._make(
            lambda: a._v() + b._v(),
            (a, b),
            lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)),
        )

    def __radd__(self, other):
        return self._wrap(other) + self

    def __neg__(self):
        a = self
        return self._make(lambda: -a._v(), (a,), lambda g: (-g,))

    def __sub__(self, other):
        return self + (-self._wrap(other))

    def __rsub__(self, other):
        return self._wrap(other) + (-self)

    def __mul__(self, other):
        a, b = self, self._wrap(other)
        return self._make(
            lambda: a._v() * b._v(),
            (a, b),
            lambda g: (
                unbroadcast(g * b._v(), a.shape),
                unbroadcast(g * a._v(), b.shape),
            ),
        )

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        a, b = self, self._wrap(other)
        return self._make(
            lambda: a._v() / b._v(),
            (a, b),
            lambda g: (
                unbroadcast(g / b._v(), a.shape),
                unbroadcast(-g * a._v() / b._v() ** 2, b.shape),
            ),
        )

    def __rtruediv__(self, other):
        return self._wrap(other) / self

    def __pow__(self, k):
        a = self
        return self._make(
            lambda: a._v() ** k, (a,), lambda g: (g * k * a._v() ** (k - 1),)
        )

    def exp(self):
        a = self
        return self._make(lambda: np.exp(a._v()), (a,), lambda g: (g * np.exp(a._v()),))

    def log(self):
        a = self
        return self._make(lambda: np.log(a._v()), (a,), lambda g: (g / a._v(),))

    def relu(self):
        a = self
        return self._make(
            lambda: np.maximum(a._v(), 0), (a,), lambda g: (g * (a._v() > 0),)
        )

    def sigmoid(self):
        return 1 / (1 + (-self).exp())

    def sum(self, axes=None, keepdims=True):
        a = self

        def rule(g):
            if not keepdims and axes is not None:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g, a.shape).copy(),)

        return self._make(lambda: a._v().sum(axis=axes, keepdims=keepdims), (a,), rule)

    def mean(self, axes=None, keepdims=True):
        a = self
        n = a.buffer.array().size if axes is None else a.shape[axes]

        def rule(g):
            if not keepdims and axes is not None:
                g = np.expand_dims(g, axes)
            return (np.broadcast_to(g, a.shape) / n,)

        return self._make(lambda: a._v().mean(axis=axes, keepdims=keepdims), (a,), rule)

    def reshape(self, shape):
        a = self
        return self._make(
            lambda: a._v().reshape(shape), (a,), lambda g: (g.reshape(a.shape),)
        )

    def transpose(self, dim0, dim1):
        a = self
        return self._make(
            lambda: np.swapaxes(a._v(), dim0, dim1),
            (a,),
            lambda g: (np.swapaxes(g, dim0, dim1),),
        )

    def __matmul__(self, other):
        a, b = self, other

        def rule(g):
            x, w = a._v(), b._v()
            x2 = x.reshape(1, -1) if x.ndim == 1 else x
            w2 = w.reshape(-1, 1) if w.ndim == 1 else w
            g2 = g.reshape(x2.shape[0], w2.shape[1])
            return (g2 @ w2.T).reshape(x.shape), (x2.T @ g2).reshape(w.shape)

        return self._make(lambda: a._v() @ b._v(), (a, b), rule)

    def backprop(self):
        if int(np.prod(self.shape)) != 1:
            raise ValueError("backprop() needs a one-element result")
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        grads = {id(self): np.ones(self.shape)}
        for node in reversed(order):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if not node._parents and node.requires_grad:
                old = node.gradient
                total = g if old is None else old.array() + g
                node.gradient = Buffer(lambda t=total: t)
            if node._rule is not None:
                for parent, pg in zip(node._parents, node._rule(g), strict=True):
                    grads[id(parent)] = grads.get(id(parent), 0) + pg


def tanh(t):
    return 2 * (2 * t).sigmoid() - 1
