"""Activations as functions of the package."""

import numpy as np

from nodespkg.core import Nodes


def tanh(t):
    y = np.tanh(t.data)
    return Nodes(y, (t,), lambda g: (g * (1 - y**2),))


def sigmoid(t):
    s = 1 / (1 + np.exp(-t.data))
    return Nodes(s, (t,), lambda g: (g * s * (1 - s),))


def relu(t):
    return Nodes(np.maximum(t.data, 0), (t,), lambda g: (g * (t.data > 0),))
