"""A learner's engine file that does not import: fixture for tests/test_sources.py.

It imports a plotting module that is not installed and trains at import time.
"""

import math

import definitely_not_installed_xyz as plotting  # noqa: F401
from definitely_not_installed_xyz import draw

EPS = 1e-8


class Value:
    def __init__(self, data, _children=()):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = _children

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def backward(self):
        self.grad = 1.0
        todo = [self]
        while todo:
            node = todo.pop()
            node._backward()
            todo.extend(node._prev)


def tanh(self):
    t = math.tanh(self.data)
    out = Value(t, (self,))

    def _backward():
        self.grad += (1 - t * t) * out.grad

    out._backward = _backward
    return out


Value.tanh = tanh

weights = [Value(0.1), Value(-0.2)]
for step in range(1000):
    raise RuntimeError("training ran at import")
draw(weights[0])

if __name__ == "__main__":
    print("trained")
