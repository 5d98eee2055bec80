"""A minitorch-style scalar: `Scalar` with `.derivative`, filled on leaves only.

Inner nodes keep `derivative = None`; backward() carries the derivatives in
a dict keyed by id and hands them to the leaves at the end. Three planted
bugs, one per op: `*` gives d/dy the value of x, `-` gives d/dy the wrong
sign, and tanh assigns its contribution (`=`) instead of adding it.
"""

import math


class Scalar:
    def __init__(self, v, parents=(), chain=None):
        self.data = float(v)
        self.derivative = None
        self.parents = tuple(parents)
        self.chain = chain  # d_out -> one contribution per parent

    def is_leaf(self):
        return not self.parents

    def accumulate_derivative(self, d):
        self.derivative = (self.derivative or 0.0) + d

    @staticmethod
    def _lift(x):
        return x if isinstance(x, Scalar) else Scalar(x)

    def __add__(self, b):
        b = self._lift(b)
        return Scalar(self.data + b.data, (self, b), lambda d: (d, d))

    def __radd__(self, b):
        return self + b

    def __mul__(self, b):
        b = self._lift(b)
        x, y = self.data, b.data
        # Bug: d/dy is x, without the upstream d.
        return Scalar(x * y, (self, b), lambda d: (y * d, x))

    def __rmul__(self, b):
        return self * b

    def __sub__(self, b):
        b = self._lift(b)
        # Bug: d/dy is +d, as for addition.
        return Scalar(self.data - b.data, (self, b), lambda d: (d, d))

    def __neg__(self):
        return Scalar(-self.data, (self,), lambda d: (-d,))

    def exp(self):
        e = math.exp(self.data)
        return Scalar(e, (self,), lambda d: (e * d,))

    def tanh(self):
        t = math.tanh(self.data)
        out = Scalar(t, (self,), lambda d: ((1 - t * t) * d,))
        out.overwrites = True  # Bug: its contribution is assigned, not added
        return out

    def backward(self, d_output=1.0):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        derivs = {id(self): d_output}
        for node in reversed(order):
            d = derivs.pop(id(node), 0.0)
            if node.is_leaf():
                node.accumulate_derivative(d)
                continue
            for parent, part in zip(node.parents, node.chain(d), strict=True):
                if getattr(node, "overwrites", False):
                    derivs[id(parent)] = part
                else:
                    derivs[id(parent)] = derivs.get(id(parent), 0.0) + part
