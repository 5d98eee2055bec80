"""A small numpy tensor autograd engine, micrograd-style: one closure per op.

Every Tensor keeps its operands in `_prev` and a `_backward` closure; a
broadcast operand gets its gradient back through `unbroadcast`, which sums
over the axes numpy added or stretched.
"""

import numpy as np


def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, undoing numpy broadcasting."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Tensor:
    def __init__(self, data, _children=(), requires_grad=True):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self.requires_grad = requires_grad
        self._backward = lambda: None
        self._prev = tuple(_children)

    @staticmethod
    def wrap(x):
        return x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)

    def __add__(self, other):
        other = Tensor.wrap(other)
        out = Tensor(self.data + other.data, (self, other))

        def _backward():
            self.grad += unbroadcast(out.grad, self.data.shape)
            other.grad += unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = Tensor.wrap(other)
        out = Tensor(self.data * other.data, (self, other))

        def _backward():
            self.grad += unbroadcast(other.data * out.grad, self.data.shape)
            other.grad += unbroadcast(self.data * out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __pow__(self, k):
        out = Tensor(self.data**k, (self,))

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        return self * Tensor.wrap(other) ** -1

    def __rtruediv__(self, other):
        return Tensor.wrap(other) * self**-1

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Tensor.wrap(other))

    def __rsub__(self, other):
        return Tensor.wrap(other) + (-self)

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __matmul__(self, other):
        out = Tensor(self.data @ other.data, (self, other))

        def _backward():
            a, b, g = self.data, other.data, out.grad
            if a.ndim == 1 and b.ndim == 1:
                self.grad += g * b
                other.grad += g * a
            elif a.ndim == 1:
                self.grad += b @ g
                other.grad += np.outer(a, g)
            elif b.ndim == 1:
                self.grad += np.outer(g, b)
                other.grad += a.T @ g
            else:
                self.grad += g @ b.T
                other.grad += a.T @ g

        out._backward = _backward
        return out

    def _unary(self, value, derivative):
        out = Tensor(value, (self,))

        def _backward():
            self.grad += derivative * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = np.tanh(self.data)
        return self._unary(t, 1 - t**2)

    def exp(self):
        e = np.exp(self.data)
        return self._unary(e, e)

    def log(self):
        return self._unary(np.log(self.data), 1 / self.data)

    def relu(self):
        return self._unary(np.maximum(self.data, 0), (self.data > 0) * 1.0)

    def sigmoid(self):
        s = 1 / (1 + np.exp(-self.data))
        return self._unary(s, s * (1 - s))

    def sum(self, axis=None, keepdims=False):
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,))

        def _backward():
            g = out.grad
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            self.grad += np.broadcast_to(g, self.data.shape)

        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else self.data.shape[axis]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims=False):
        out = Tensor(self.data.max(axis=axis, keepdims=keepdims), (self,))

        def _backward():
            top = self.data.max(axis=axis, keepdims=True)
            g = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += (self.data == top) * g

        out._backward = _backward
        return out

    def reshape(self, shape):
        out = Tensor(self.data.reshape(shape), (self,))

        def _backward():
            self.grad += out.grad.reshape(self.data.shape)

        out._backward = _backward
        return out

    @property
    def T(self):
        out = Tensor(self.data.T, (self,))

        def _backward():
            self.grad += out.grad.T

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
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            node._backward()
