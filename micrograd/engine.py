"""A scalar autograd engine: `Value` records operations and backpropagates.

Every `Value` remembers the op that produced it (`op`) and its operands
(`children`), so a graph can be walked, printed and drawn. `backward()` walks
an explicit topological order (no recursion), so graphs of any depth work.

Derivative rules live in one table (`micrograd.rules`), one small function
per op, instead of a closure per node: creating a closure for every node
costs more than one dict lookup per node in `backward()`, and the table reads
like the derivative table in the docs. Each op is a method here and a rule
of the same name there; the ops are those of gradcheck's op table, with its
conventions at kinks and the same definitions (gelu is the erf form).

Speed tricks, each measured with `benchmarks/engine.py` and explained where
it is used: slots, operands in two slots, a visit mark instead of a `seen`
set, `+` and `*` built and differentiated inline (they are most nodes of
real graphs), and a fast path for number exponents.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import TypeAlias

from micrograd.rules import BACKWARD as _BACKWARD
from micrograd.rules import BINARY as _BINARY
from micrograd.rules import GELU_CUBIC, GELU_SCALE, SQRT_HALF, logistic

Number: TypeAlias = "int | float"
Operand: TypeAlias = "Value | int | float"


class Value:
    """A scalar that records how it was computed, for reverse-mode autodiff.

    `data` is the float value, `grad` the derivative of the last `backward()`
    root with respect to this value. `op` names the operation that produced
    it ("" for a leaf) and `children` holds the operands in order.

    Like any micrograd, not thread-safe: gradients are plain attributes and
    graph walks mark the nodes they visit, so one graph should be walked or
    backpropagated by one thread at a time.
    """

    # Slots make each node smaller and attribute access faster. The operands
    # sit in two slots instead of a tuple: one object less per node, which is
    # less memory and fewer garbage-collector passes on big graphs. `arg`
    # holds a constant an op needs (the exponent of `**`): no closure needed.
    # `_mark` is the visit mark of the last graph walk (see
    # `_topological_order`).
    __slots__ = ("_a", "_b", "_mark", "arg", "data", "grad", "label", "op")

    # `_a` is None for leaves and `_b` is None for unary ops; both are typed
    # as Value so that the hot loops need no None checks for mypy.
    _a: Value
    _b: Value
    _mark: object

    def __init__(
        self,
        data: Number,
        children: tuple[Value, ...] = (),
        op: str = "",
        arg: float = 0.0,
        label: str = "",
    ) -> None:
        # Plain floats skip the isinstance(Real) check, which costs ~250 ns.
        if type(data) is not float:
            if not isinstance(data, Real):
                raise TypeError(
                    f"Value() needs a real number, got {type(data).__name__}: {data!r}"
                )
            data = float(data)
        if op or children:
            arity = 2 if op in _BINARY else 1
            if op not in _BACKWARD or len(children) != arity:
                raise ValueError(
                    f"Value(): op {op!r} with {len(children)} operand(s) is not an op"
                )
        self.data = data
        self.grad = 0.0
        self._a, self._b = (*children, None, None)[:2]  # type: ignore[assignment]
        self.op = op
        self.arg = arg
        self.label = label
        self._mark = None

    @property
    def children(self) -> tuple[Value, ...]:
        """The operands, in order: () for a leaf, (a,) or (a, b) otherwise."""
        if self._a is None:
            return ()
        return (self._a,) if self._b is None else (self._a, self._b)

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        made_by = f", op={self.op!r}" if self.op else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g}{made_by})"

    # -- arithmetic ---------------------------------------------------------

    def __add__(self, other: Operand) -> Value:
        if not isinstance(other, Value):
            other = Value(other)
        # `_node` written out: + and * are most nodes of real graphs, and
        # skipping one Python call makes building them ~5% faster.
        out = _new(Value)
        out.data = self.data + other.data
        out.grad = 0.0
        out._a = self
        out._b = other
        out.op = "+"
        out.arg = 0.0
        out.label = ""
        out._mark = None
        return out

    def __mul__(self, other: Operand) -> Value:
        if not isinstance(other, Value):
            other = Value(other)
        out = _new(Value)  # `_node` written out, as in __add__.
        out.data = self.data * other.data
        out.grad = 0.0
        out._a = self
        out._b = other
        out.op = "*"
        out.arg = 0.0
        out.label = ""
        out._mark = None
        return out

    def __sub__(self, other: Operand) -> Value:
        if not isinstance(other, Value):
            other = Value(other)
        return _node(self.data - other.data, "-", self, other)

    def __truediv__(self, other: Operand) -> Value:
        if not isinstance(other, Value):
            other = Value(other)
        if other.data == 0.0:
            raise ZeroDivisionError(f"div: division by zero ({self.data!r} / 0.0)")
        return _node(self.data / other.data, "/", self, other)

    def __neg__(self) -> Value:
        return _node(-self.data, "neg", self)

    def __pos__(self) -> Value:
        return self

    def __pow__(self, other: Operand) -> Value:
        # Plain int/float exponents skip both isinstance checks below (the
        # Real one is an ABC check that costs more than the whole op).
        if type(other) is not float and type(other) is not int:
            if isinstance(other, Value):
                return self._pow_value(other)
            if not isinstance(other, Real):
                return NotImplemented
        exponent = float(other)
        base = self.data
        if base <= 0.0:
            if base == 0.0 and exponent < 0.0:
                raise ZeroDivisionError(
                    f"pow: 0.0 cannot be raised to the negative power {exponent!r}"
                )
            if base < 0.0 and not exponent.is_integer():
                raise ValueError(
                    f"pow: negative base {base!r} to the fractional power {exponent!r}"
                )
        try:
            result = base**exponent
        except OverflowError:
            raise OverflowError(f"pow: {base!r} ** {exponent!r} overflows") from None
        return _node(result, "**", self, None, exponent)

    def _pow_value(self, other: Value) -> Value:
        """a ** b with a Value exponent: exp(b log a), so real only for a > 0."""
        if self.data <= 0.0:
            raise ValueError(
                f"pow: a Value exponent needs a positive base, got {self.data!r}"
            )
        return _node(_power(self.data, other.data), "pow", self, other)

    def __radd__(self, other: Number) -> Value:
        return Value(other) + self

    def __rmul__(self, other: Number) -> Value:
        return Value(other) * self

    def __rsub__(self, other: Number) -> Value:
        return Value(other) - self

    def __rtruediv__(self, other: Number) -> Value:
        return Value(other) / self

    def __rpow__(self, other: Number) -> Value:
        # c ** a for a number c: one node that keeps c in `arg`, so that no
        # gradient is computed for a constant (it could overflow for nothing).
        if not isinstance(other, Real):
            return NotImplemented
        base = float(other)
        if base <= 0.0:
            raise ValueError(
                f"rpow: the base of c ** Value must be positive, got {base!r}"
            )
        return _node(_power(base, self.data), "rpow", self, None, base)

    def __abs__(self) -> Value:
        """|x|, for the builtin abs(); its slope at 0 is taken as -1."""
        return _node(abs(self.data), "abs", self)

    # -- functions ----------------------------------------------------------

    def tanh(self) -> Value:
        """The hyperbolic tangent, in (-1, 1)."""
        return _node(math.tanh(self.data), "tanh", self)

    def exp(self) -> Value:
        """e to this value; `OverflowError` above about 709.78."""
        try:
            result = math.exp(self.data)
        except OverflowError:
            raise OverflowError(f"exp: overflow at {self.data!r}") from None
        return _node(result, "exp", self)

    def log(self) -> Value:
        """The natural logarithm; `ValueError` unless the value is positive."""
        if self.data <= 0.0:
            raise ValueError(f"log: argument must be positive, got {self.data!r}")
        return _node(math.log(self.data), "log", self)

    def relu(self) -> Value:
        """max(x, 0); its derivative at 0 is taken as 0."""
        return _node(self.data if self.data > 0.0 else 0.0, "relu", self)

    def sigmoid(self) -> Value:
        """1 / (1 + e**-x), in (0, 1), computed without overflow."""
        result = logistic(self.data)
        return _node(result, "sigmoid", self)

    def sin(self) -> Value:
        """The sine (radians)."""
        return _node(math.sin(self.data), "sin", self)

    def cos(self) -> Value:
        """The cosine (radians)."""
        return _node(math.cos(self.data), "cos", self)

    def sqrt(self) -> Value:
        """The square root; `ValueError` for a negative value."""
        if self.data < 0.0:
            raise ValueError(f"sqrt: argument must not be negative, got {self.data!r}")
        return _node(math.sqrt(self.data), "sqrt", self)

    def softplus(self) -> Value:
        """log(1 + e**x), computed without overflow or lost digits."""
        x = self.data
        # max(x, 0) + log1p(e**-|x|): exp never overflows and log1p keeps
        # the digits that log(1 + tiny) would lose.
        return _node(max(x, 0.0) + math.log1p(math.exp(-abs(x))), "softplus", self)

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """x for x > 0, else slope * x (PyTorch's default slope, 0.01)."""
        x, slope = self.data, float(slope)
        return _node(x if x > 0.0 else slope * x, "leaky_relu", self, None, slope)

    def gelu(self, approximate: str = "none") -> Value:
        """x * Phi(x), Phi the normal CDF; `approximate="tanh"` as in PyTorch."""
        x = self.data
        if approximate == "tanh":
            inner = GELU_SCALE * (x + GELU_CUBIC * x * x * x)
            return _node(0.5 * x * (1.0 + math.tanh(inner)), "gelu_tanh", self)
        if approximate != "none":
            raise ValueError(
                f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}"
            )
        # erfc keeps Phi's digits for negative x, where 1 + erf would cancel.
        return _node(0.5 * x * math.erfc(-x * SQRT_HALF), "gelu", self)

    def erf(self) -> Value:
        """The error function, in (-1, 1)."""
        return _node(math.erf(self.data), "erf", self)

    # -- graph --------------------------------------------------------------

    def walk(self) -> list[Value]:
        """Every node of this value's graph, operands before their users."""
        return _topological_order(self, zero_inner_grads=False)

    def backward(self) -> None:
        """Backpropagate from this value into every node of its graph.

        Intermediate gradients are recomputed from scratch on every call, and
        leaves accumulate: calling `backward()` twice gives the leaves exactly
        twice the gradient of one call, as in PyTorch.
        """
        order = _topological_order(self, zero_inner_grads=True)
        if self._a is not None:
            self.grad = 1.0
        else:
            self.grad += 1.0
        rules = _BACKWARD
        for node in reversed(order):
            op = node.op
            # The rules of + and * written out: most nodes of real graphs are
            # + and *, and a call per node costs more than these two tests.
            if op == "+":
                grad = node.grad
                node._a.grad += grad
                node._b.grad += grad
            elif op == "*":
                grad = node.grad
                a, b = node._a, node._b
                a.grad += b.data * grad
                b.grad += a.data * grad
            elif op:
                rules[op](node)

    def zero_grad(self) -> None:
        """Reset the gradient of every node in this value's graph to 0."""
        for node in self.walk():
            node.grad = 0.0


_new = object.__new__


def _power(base: float, exponent: float) -> float:
    """base ** exponent for base > 0, with an overflow that names the op."""
    try:
        return math.pow(base, exponent)
    except OverflowError:
        raise OverflowError(f"pow: {base!r} ** {exponent!r} overflows") from None


def _node(
    data: float, op: str, a: Value, b: Value | None = None, arg: float = 0.0
) -> Value:
    """A node made by an op; skips `Value.__init__`'s checks, ops give floats."""
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    out._a = a
    out._b = b  # type: ignore[assignment]
    out.op = op
    out.arg = arg
    out.label = ""
    out._mark = None
    return out


def _topological_order(root: Value, zero_inner_grads: bool) -> list[Value]:
    """Nodes reachable from `root`, every node after all of its operands.

    An iterative depth-first search. The stack holds the path from `root` to
    the current node; a node comes back to the top when an operand is done
    and its operands are checked again, instead of keeping an iterator per
    node: nothing is allocated per node (allocations wake the garbage
    collector on big graphs).

    Visited nodes carry this walk's own `mark` object in a slot, instead of
    going into a `seen` set: no hashing and no set growing with the graph
    (backward ~12% faster at 10k nodes, ~20% at 100k). A fresh mark per walk
    means old marks never need clearing.
    """
    order: list[Value] = []
    mark = object()
    root._mark = mark
    path: list[Value] = []
    push, pop, emit = path.append, path.pop, order.append
    node = root
    while True:
        a = node._a
        if a is not None:
            if a._mark is not mark:
                a._mark = mark
                push(node)
                node = a
                continue
            b = node._b
            if b is not None and b._mark is not mark:
                b._mark = mark
                push(node)
                node = b
                continue
            if zero_inner_grads:
                node.grad = 0.0
        emit(node)  # A leaf, or an op whose operands are all in `order`.
        if not path:
            return order
        node = pop()
