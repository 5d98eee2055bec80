"""Arithmetic and reductions as functions (the class has only + and @)."""

import numpy as np

from nodespkg.core import Nodes, fit


def _node(x):
    return x if isinstance(x, Nodes) else Nodes(x)


def mul(a, b):
    a, b = _node(a), _node(b)
    return Nodes(
        a.data * b.data,
        (a, b),
        lambda g: (fit(g * b.data, a.shape), fit(g * a.data, b.shape)),
    )


def div(a, b):
    a, b = _node(a), _node(b)
    return Nodes(
        a.data / b.data,
        (a, b),
        lambda g: (fit(g / b.data, a.shape), fit(-g * a.data / b.data**2, b.shape)),
    )


def sum(t, dims, keep=False):
    out = t.data.sum(axis=dims, keepdims=keep)

    def rule(g):
        if not keep:
            g = np.expand_dims(g, dims)
        return (np.broadcast_to(g, t.shape).copy(),)

    return Nodes(out, (t,), rule)


def mean(t, dims, keep=False):
    n = t.shape[dims]
    out = t.data.mean(axis=dims, keepdims=keep)

    def rule(g):
        if not keep:
            g = np.expand_dims(g, dims)
        return (np.broadcast_to(g, t.shape) / n,)

    return Nodes(out, (t,), rule)


def exp(t):
    e = np.exp(t.data)
    return Nodes(e, (t,), lambda g: (g * e,))


def log(t):
    return Nodes(np.log(t.data), (t,), lambda g: (g / t.data,))
