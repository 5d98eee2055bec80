"""A second correct tensor engine, in another style: op classes and a tape.

Each op is a `Function` subclass with `forward` on arrays and `backward`
returning one gradient per input. Data lives in `.value`, gradients are
Tensors, activations are module functions, reductions take `dim` and
`keepdim` (torch spelling), `reshape(*shape)` and `transpose()`. Guards the
checker against false alarms that depend on one engine's spelling.
"""

import numpy as np

DTYPE = np.float64


def reduce_to(grad, shape):
    """Sum a broadcast gradient back to `shape`."""
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad


class Function:
    def __init__(self, inputs, **params):
        self.inputs = inputs
        self.params = params

    @classmethod
    def apply(cls, *inputs, **params):
        inputs = tuple(
            x if isinstance(x, Tensor) else Tensor(x, requires_grad=False)
            for x in inputs
        )
        fn = cls(inputs, **params)
        fn.saved = [x.value for x in inputs]
        out = Tensor(fn.forward(*fn.saved))
        out.creator = fn
        return out


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        a, b = self.saved
        return reduce_to(g, a.shape), reduce_to(g, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.saved
        return reduce_to(g * b, a.shape), reduce_to(g * a, b.shape)


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.saved
        return reduce_to(g / b, a.shape), reduce_to(-g * a / b**2, b.shape)


class Pow(Function):
    def forward(self, a):
        return a ** self.params["k"]

    def backward(self, g):
        (a,) = self.saved
        k = self.params["k"]
        return (g * k * a ** (k - 1),)


class Unary(Function):
    def backward(self, g):
        (a,) = self.saved
        return (g * self.derivative(a),)


class Tanh(Unary):
    forward = staticmethod(np.tanh)

    def derivative(self, a):
        return 1 - np.tanh(a) ** 2


class Exp(Unary):
    forward = staticmethod(np.exp)
    derivative = staticmethod(np.exp)


class Log(Unary):
    forward = staticmethod(np.log)

    def derivative(self, a):
        return 1 / a


class Relu(Unary):
    def forward(self, a):
        return np.where(a > 0, a, 0.0)

    def derivative(self, a):
        return (a > 0).astype(a.dtype)


class Sigmoid(Unary):
    def forward(self, a):
        return 1 / (1 + np.exp(-a))

    def derivative(self, a):
        s = 1 / (1 + np.exp(-a))
        return s * (1 - s)


class Sum(Function):
    def forward(self, a):
        return a.sum(axis=self.params["dim"], keepdims=self.params["keepdim"])

    def backward(self, g):
        (a,) = self.saved
        dim = self.params["dim"]
        if dim is not None and not self.params["keepdim"]:
            g = np.expand_dims(g, dim)
        return (np.broadcast_to(g, a.shape) * self.scale(a),)

    def scale(self, a):
        return 1.0


class Mean(Sum):
    def forward(self, a):
        return a.mean(axis=self.params["dim"], keepdims=self.params["keepdim"])

    def scale(self, a):
        dim = self.params["dim"]
        return 1.0 / (a.size if dim is None else a.shape[dim])


class Max(Function):
    def forward(self, a):
        return a.max(axis=self.params["dim"], keepdims=self.params["keepdim"])

    def backward(self, g):
        (a,) = self.saved
        dim = self.params["dim"]
        top = a.max(axis=dim, keepdims=True)
        if dim is not None and not self.params["keepdim"]:
            g = np.expand_dims(g, dim)
        return (np.where(a == top, 1.0, 0.0) * g,)


class MatMul(Function):
    def forward(self, a, b):
        return a @ b

    def backward(self, g):
        a, b = self.saved
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = g.reshape(a2.shape[0], b2.shape[1])
        return (g2 @ b2.T).reshape(a.shape), (a2.T @ g2).reshape(b.shape)


class Reshape(Function):
    def forward(self, a):
        return a.reshape(self.params["shape"])

    def backward(self, g):
        return (g.reshape(self.saved[0].shape),)


class Transpose(Function):
    def forward(self, a):
        return a.T

    def backward(self, g):
        return (g.T,)


class Tensor:
    def __init__(self, value, requires_grad=False):
        self.value = np.asarray(value, dtype=DTYPE)
        self.requires_grad = requires_grad
        self.grad = None
        self.creator = None

    def __add__(self, other):
        return Add.apply(self, other)

    def __radd__(self, other):
        return Add.apply(other, self)

    def __sub__(self, other):
        return Add.apply(self, Mul.apply(other, -1.0))

    def __rsub__(self, other):
        return Add.apply(other, Mul.apply(self, -1.0))

    def __mul__(self, other):
        return Mul.apply(self, other)

    def __rmul__(self, other):
        return Mul.apply(other, self)

    def __truediv__(self, other):
        return Div.apply(self, other)

    def __rtruediv__(self, other):
        return Div.apply(other, self)

    def __neg__(self):
        return Mul.apply(self, -1.0)

    def __pow__(self, k):
        return Pow.apply(self, k=k)

    def __matmul__(self, other):
        return MatMul.apply(self, other)

    def sum(self, dim=None, keepdim=False):
        return Sum.apply(self, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        return Mean.apply(self, dim=dim, keepdim=keepdim)

    def max(self, dim=None, keepdim=False):
        return Max.apply(self, dim=dim, keepdim=keepdim)

    def reshape(self, *shape):
        return Reshape.apply(self, shape=shape)

    def transpose(self):
        return Transpose.apply(self)

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                if node.creator is not None:
                    stack.extend((x, False) for x in node.creator.inputs)
        grads = {id(self): np.ones_like(self.value)}
        for node in reversed(order):
            g = grads.get(id(node))
            if g is None:
                continue
            if node.requires_grad and node.creator is None:
                node.grad = Tensor(g)
            if node.creator is not None:
                for x, gx in zip(
                    node.creator.inputs, node.creator.backward(g), strict=True
                ):
                    grads[id(x)] = grads[id(x)] + gx if id(x) in grads else gx


def tanh(t):
    return Tanh.apply(t)


def exp(t):
    return Exp.apply(t)


def log(t):
    return Log.apply(t)


def relu(t):
    return Relu.apply(t)


def sigmoid(t):
    return Sigmoid.apply(t)
