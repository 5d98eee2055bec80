"""A correct engine over an array type of its own, without numpy (a fixture).

`Grid` keeps a flat list of floats and a shape; `Value` wraps a Grid. Only
same-shape arithmetic is offered: other shapes are refused with a message
before anything is computed. The checker must read Grids, recognise the
class as a tensor class although it is called `Value`, and judge the
refusals as unsupported, not as crashes.
"""

import math


class Grid:
    def __init__(self, rows):
        self.shape, self.flat = self._flatten(rows)

    @staticmethod
    def _flatten(rows):
        if isinstance(rows, Grid):
            return rows.shape, list(rows.flat)
        try:
            items = list(rows)
        except TypeError:
            return (), [float(rows)]
        if not items:
            return (0,), []
        parts = [Grid._flatten(item) for item in items]
        inner = parts[0][0]
        return (len(items), *inner), [x for _, flat in parts for x in flat]

    @classmethod
    def of(cls, shape, flat):
        grid = cls.__new__(cls)
        grid.shape, grid.flat = tuple(shape), list(flat)
        return grid

    def map(self, fn):
        return Grid.of(self.shape, [fn(x) for x in self.flat])

    def zip(self, other, fn):
        return Grid.of(
            self.shape, [fn(a, b) for a, b in zip(self.flat, other.flat, strict=True)]
        )

    def tolist(self):
        def build(shape, flat):
            if not shape:
                return flat[0]
            step = len(flat) // shape[0]
            return [
                build(shape[1:], flat[i * step : (i + 1) * step])
                for i in range(shape[0])
            ]

        return build(self.shape, self.flat)


class Value:
    def __init__(self, data, _prev=(), _rule=None):
        self.data = data if isinstance(data, Grid) else Grid(data)
        self.grad = Grid.of(self.data.shape, [0.0] * len(self.data.flat))
        self._prev = _prev
        self._rule = _rule

    def _same(self, other, op):
        if not isinstance(other, Value):
            raise TypeError(f"{op} takes two Values")
        if other.data.shape != self.data.shape:
            raise ValueError(
                f"{op} needs equal shapes, not {self.data.shape} and {other.data.shape}"
            )

    def __add__(self, other):
        self._same(other, "+")
        return Value(
            self.data.zip(other.data, lambda a, b: a + b),
            (self, other),
            lambda g: (g, g),
        )

    def __mul__(self, other):
        self._same(other, "*")
        a, b = self.data, other.data
        return Value(
            a.zip(b, lambda x, y: x * y),
            (self, other),
            lambda g: (g.zip(b, lambda u, y: u * y), g.zip(a, lambda u, x: u * x)),
        )

    def tanh(self):
        t = self.data.map(math.tanh)
        return Value(t, (self,), lambda g: (g.zip(t, lambda u, y: u * (1 - y * y)),))

    def exp(self):
        e = self.data.map(math.exp)
        return Value(e, (self,), lambda g: (g.zip(e, lambda u, y: u * y),))

    def sum(self):
        shape = self.data.shape
        total = math.fsum(self.data.flat)
        return Value(
            Grid.of((), [total]),
            (self,),
            lambda g: (Grid.of(shape, [g.flat[0]] * len(self.data.flat)),),
        )

    def backward(self, gradient=None):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev)
        ones = Grid.of(self.data.shape, [1.0] * len(self.data.flat))
        self.grad = ones if gradient is None else Grid(gradient)
        for node in reversed(order):
            if node._rule is not None:
                for parent, g in zip(node._prev, node._rule(node.grad), strict=True):
                    parent.grad = parent.grad.zip(g, lambda a, b: a + b)
