"""The node class: data, gradient, and a backward pass over a recorded graph."""

import numpy as np


def fit(grad, shape):
    """Sum a gradient of a broadcast shape back to `shape`."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Nodes:
    def __init__(self, data, parents=(), rule=None):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self.parents = parents
        self.rule = rule  # upstream -> one gradient per parent

    @property
    def shape(self):
        return self.data.shape

    def __add__(self, other):
        other = other if isinstance(other, Nodes) else Nodes(other)
        return Nodes(
            self.data + other.data,
            (self, other),
            lambda g: (fit(g, self.shape), fit(g, other.shape)),
        )

    def __radd__(self, other):
        return self + other

    def __matmul__(self, other):
        a, b = self.data, other.data

        def rule(g):
            a2 = a.reshape(1, -1) if a.ndim == 1 else a
            b2 = b.reshape(-1, 1) if b.ndim == 1 else b
            g2 = g.reshape(a2.shape[0], b2.shape[1])
            return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)

        return Nodes(a @ b, (self, other), rule)

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            if node.rule is not None:
                for parent, g in zip(node.parents, node.rule(node.grad), strict=True):
                    parent.grad = parent.grad + g
