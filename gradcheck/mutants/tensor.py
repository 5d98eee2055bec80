"""A gallery of buggy numpy tensor engines: one real bug each (`gradcheck mutants --tensor`).

Every mutant is the correct closure-style engine `TENSOR_BASE_ENGINE` (the
tests check it as one of the correct engines) with one small edit taken from
the bugs measured in public tensor engines (issue 13): no unbroadcast, an
unbroadcast that sums over axis 0 only, `.T` of a 1-D operand in matmul,
`mean(axis)` not divided by the axis length, the sigmoid derivative taken at
the output, `k - a` computing `a - k` and `k / a` computing `a / k`, and a
gradient assigned instead of accumulated (in `*` and in `sum`). Each names the tensor finding kind the checker must report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gradcheck.mutants import apply_edits, unified_diff

__all__ = [
    "TENSOR_BASE_ENGINE",
    "TENSOR_MUTANTS",
    "TensorMutant",
    "tensor_mutant_named",
]

TENSOR_BASE_ENGINE: str = '''\
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
'''


@dataclass(frozen=True)
class TensorMutant:
    """The base tensor engine with one bug, and the finding kind it must give."""

    name: str
    category: str  # a kind of gradcheck.internal.tensor.diagnose.KINDS
    description: str
    edits: tuple[tuple[str, str], ...]

    @property
    def module_name(self) -> str:
        return self.name.replace("-", "_")

    def source(self) -> str:
        """The buggy engine's source; refuses an edit whose text is not there exactly once."""
        return apply_edits(
            TENSOR_BASE_ENGINE, self.edits, f"tensor mutant {self.name!r}"
        )

    def diff(self) -> str:
        return unified_diff(
            TENSOR_BASE_ENGINE, self.source(), "tensor_engine.py", self.module_name
        )

    def write(self, directory: Path) -> Path:
        path = Path(directory) / f"{self.module_name}.py"
        path.write_text(self.source(), encoding="utf-8")
        return path


_UNBROADCAST_BODY = """\
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad
"""

_MATMUL_BACKWARD = """\
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
"""

_MEAN = """\
    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else self.data.shape[axis]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)
"""

TENSOR_MUTANTS: tuple[TensorMutant, ...] = (
    TensorMutant(
        "no-unbroadcast",
        "broadcasting",
        "a broadcast operand gets the upstream gradient in the broadcast shape: no unbroadcast at all",
        ((_UNBROADCAST_BODY, "    return grad\n"),),
    ),
    TensorMutant(
        "unbroadcast-axis-0",
        "broadcasting",
        "unbroadcast sums over axis 0 only: a row bias works, (2,1), (3,1) and 0-d operands break",
        (
            (
                _UNBROADCAST_BODY,
                "    if grad.shape != tuple(shape):\n        grad = grad.sum(axis=0)\n    return grad\n",
            ),
        ),
    ),
    TensorMutant(
        "matmul-1d-transpose",
        "matmul-1d",
        "matmul's backward uses .T on a 1-D operand, which does nothing: no outer product is formed",
        (
            (
                _MATMUL_BACKWARD,
                "            self.grad += out.grad @ other.data.T\n"
                "            other.grad += self.data.T @ out.grad\n",
            ),
        ),
    ),
    TensorMutant(
        "mean-axis-not-divided",
        "reduction-scaling",
        "mean(axis) without keepdims sends the upstream gradient back undivided by the axis length",
        (
            (
                _MEAN,
                """\
    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else self.data.shape[axis]
        out = Tensor(self.data.mean(axis=axis, keepdims=keepdims), (self,))

        def _backward():
            g = out.grad
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            else:
                g = g / count
            self.grad += np.broadcast_to(g, self.data.shape)

        out._backward = _backward
        return out
""",
            ),
        ),
    ),
    TensorMutant(
        "sigmoid-at-output",
        "derivative-at-output",
        "the sigmoid derivative applies sigmoid to its output again: s(s(x)) * (1 - s(s(x)))",
        (
            (
                "        return self._unary(s, s * (1 - s))\n",
                "        d = 1 / (1 + np.exp(-s))\n        return self._unary(s, d * (1 - d))\n",
            ),
        ),
    ),
    TensorMutant(
        "rsub-aliased",
        "reflected-op",
        "the reflected subtraction reuses the forward one: k - a computes a - k",
        (
            (
                "        return Tensor.wrap(other) + (-self)\n",
                "        return self - other\n",
            ),
        ),
    ),
    TensorMutant(
        "rdiv-aliased",
        "reflected-op",
        "the reflected division reuses the forward one: k / a computes a / k",
        (
            (
                "        return Tensor.wrap(other) * self**-1\n",
                "        return self * Tensor.wrap(other) ** -1\n",
            ),
        ),
    ),
    TensorMutant(
        "sum-grad-overwrites",
        "accumulation",
        "sum assigns its gradient (=) instead of accumulating (+=): wrong when its input is also used elsewhere",
        (
            (
                "            self.grad += np.broadcast_to(g, self.data.shape)\n",
                "            self.grad = np.broadcast_to(g, self.data.shape) + 0.0\n",
            ),
        ),
    ),
    TensorMutant(
        "mul-grad-overwrites",
        "accumulation",
        "multiplication assigns its gradients (=) instead of accumulating (+=): wrong when an input is reused",
        (
            (
                "            self.grad += unbroadcast(other.data * out.grad, self.data.shape)\n"
                "            other.grad += unbroadcast(self.data * out.grad, other.data.shape)\n",
                "            self.grad = unbroadcast(other.data * out.grad, self.data.shape)\n"
                "            other.grad = unbroadcast(self.data * out.grad, other.data.shape)\n",
            ),
        ),
    ),
)


def tensor_mutant_named(name: str) -> TensorMutant:
    """The tensor mutant called `name`; KeyError lists the known names."""
    for mutant in TENSOR_MUTANTS:
        if mutant.name == name:
            return mutant
    known = ", ".join(m.name for m in TENSOR_MUTANTS)
    raise KeyError(f"no tensor mutant {name!r} (known: {known})")
