"""backward() pushes each gradient down every path, accumulating with `+=`:
the gradients are right, but the time doubles with each y = y + y.
"""

import math


class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, n):
        assert isinstance(n, (int, float))
        out = Value(self.data**n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad

        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other**-1

    def __rtruediv__(self, other):
        return other * self**-1

    def backward(self):
        # Each gradient is pushed down every path separately, as a share:
        # right values (the shares add up), but 2**n steps for y = y + y.
        start, total = {}, {}
        stack = [(self, 1.0)]
        while stack:
            node, share = stack.pop()
            for v in (node, *node._prev):
                if id(v) not in start:
                    start[id(v)] = (v, v.grad)
                    total[id(v)] = 0.0
            total[id(node)] += share
            if not node._prev:
                continue
            kids = list({id(child): child for child in node._prev}.values())
            for child in kids:
                child.grad = 0.0
            node.grad = share
            node._backward()
            for child in kids:
                uses = sum(1 for c in node._prev if c is child)
                for _ in range(uses):
                    stack.append((child, child.grad / uses))
        for v, before in start.values():
            v.grad = before + total[id(v)]

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
