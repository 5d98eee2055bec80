"""Symbolic stand-ins for an engine's values, recording a `Graph` as they go.

`check_function(f, ...)` calls `f` once on `Traced` objects instead of the
user's `Value`s. Every operator and method of the op table adds a node to a
`GraphBuilder`; everything a graph cannot express (branching on a value,
reading `.data`, converting to a float, numpy, a method the op table does
not know) raises `FunctionError` naming `f` and what it did. No engine code
runs here: the result is plain graph data for the checker.
"""

from __future__ import annotations

import numbers
import sys
import types
from typing import Any, NoReturn

from gradcheck.errors import FunctionError
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.expr.ops import DEFAULT_CONSTANTS, FUNCTION_OPS, OPS

# The methods a traced value answers: each op's method spelling, with the
# op the expression grammar gives that name (`gelu` is the erf form).
METHODS: dict[str, str] = {
    name: FUNCTION_OPS.get(name, op.name)
    for op in OPS.values()
    if (name := op.method) is not None
}
# Attributes that read a number out of a value: tracing has none to give.
_DATA_READS = ("data", "value", "val", "item", "grad", "gradient", "numpy", "tolist")


class Tracing:
    """One trace in progress: the graph so far and how to name `f` in errors."""

    def __init__(self, shown: str, engine_class: type | None = None) -> None:
        self.builder = GraphBuilder()
        self.shown = shown  # "f(x, y)"
        self.engine_class = engine_class
        self._engine_code: set[types.CodeType] | None = None

    def fail(self, what: str) -> NoReturn:
        """Raise f's error; when the engine's own code is what met a traced
        value (a Value built outside f took part), say that instead."""
        method, cls = self._engine_caller(), self.engine_class
        if method is not None and cls is not None:
            raise FunctionError(
                f"{self.shown} hands a traced value to the engine's own "
                f"{method}: a {cls.__name__} that f's inputs did not come from "
                "took part (a model's weight, made outside f or by the engine's "
                "own code such as Neuron.__init__), and tracing cannot follow "
                "the engine's code; pass such values as inputs"
            )
        raise FunctionError(f"{self.shown} {what}")

    def _engine_caller(self) -> str | None:
        """The engine method among the callers of the failing operation."""
        if self.engine_class is None:
            return None
        if self._engine_code is None:
            self._engine_code = _code_of(self.engine_class)
        frame: types.FrameType | None = sys._getframe(2)
        for _ in range(_CALLER_DEPTH):
            if frame is None:
                return None
            if frame.f_code in self._engine_code:
                return f"{self.engine_class.__name__}.{frame.f_code.co_name}()"
            frame = frame.f_back
        return None

    def variable(self, name: str) -> Traced:
        return Traced(self, self.builder.var(name))

    def constant_class(self, name: str) -> type:
        """What the engine's class means inside f: `Value(3.0)` is a constant,
        and `isinstance(x, Value)` is true of every traced value."""
        return _ConstantClass(name, (), {"_tracing": self})

    def constant(self, value: Any, *args: Any, **kwargs: Any) -> Traced:
        """`Value(3.0)` inside f: a constant leaf (other arguments ignored)."""
        if isinstance(value, Traced):
            self.fail(
                "wraps a value in the engine's class again (Value(x) for a "
                "Value x), which tracing cannot follow"
            )
        number = _number(value)
        if number is None:
            self.fail(
                f"builds a constant from {type(value).__name__} {value!r}; "
                "only int and float constants can be traced"
            )
        return Traced(self, self.builder.const(number))


# How many callers above a failing operation are searched for engine code.
_CALLER_DEPTH = 6


def _code_of(cls: type) -> set[types.CodeType]:
    """The code of every method of `cls` and its bases, closures included."""
    found: set[types.CodeType] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        for value in vars(klass).values():
            function = getattr(value, "__func__", value)
            code = getattr(function, "__code__", None)
            stack = [code] if isinstance(code, types.CodeType) else []
            while stack:
                current = stack.pop()
                found.add(current)
                stack += [c for c in current.co_consts if isinstance(c, types.CodeType)]
    return found


class _ConstantClass(type):
    """The metaclass of `Tracing.constant_class`: calls make constants."""

    _tracing: Tracing

    def __call__(cls, value: Any = None, *args: Any, **kwargs: Any) -> Any:
        return cls._tracing.constant(value, *args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, Traced)

    def __getattr__(cls, name: str) -> Any:
        """`Value.tanh(x)`, `Value.__add__(x, y)`: the value's own method,
        called through the class as Python allows."""
        if name not in METHODS and not (
            name.startswith("__") and hasattr(Traced, name)
        ):
            raise AttributeError(
                f"type object {cls.__name__!r} has no attribute {name!r}"
            )

        def unbound(value: Any, *args: Any, **kwargs: Any) -> Any:
            return getattr(value, name)(*args, **kwargs)

        return unbound


def _number(value: Any) -> float | None:
    if isinstance(value, numbers.Real) and not isinstance(value, Traced):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return None


class Traced:
    """A node of the graph being traced, behaving like an engine's value."""

    __slots__ = ("_index", "_tracing")
    _index: int
    _tracing: Tracing
    __array_priority__ = 1000  # numpy defers to our operators, then refuses

    def __init__(self, tracing: Tracing, index: int) -> None:
        object.__setattr__(self, "_tracing", tracing)
        object.__setattr__(self, "_index", index)

    # -- building nodes -----------------------------------------------------

    def _op(self, name: str, *others: Traced, constant: float | None = None) -> Traced:
        tracing = self._tracing
        args = (self._index, *(o._index for o in others))
        return Traced(tracing, tracing.builder.op(name, *args, constant=constant))

    def _binary(self, other: Any, both: str, const: str, symbol: str) -> Traced:
        if isinstance(other, Traced):
            self._same_trace(other)
            return self._op(both, other)
        number = _number(other)
        if number is None:
            self._tracing.fail(
                f"applies {symbol} to a {type(other).__name__}, which tracing "
                "cannot follow (only Values and int or float constants)"
            )
        return self._op(const, constant=number)

    def _reflected(self, other: Any, op: str, symbol: str) -> Traced:
        number = _number(other)
        if number is None:
            self._tracing.fail(
                f"applies {symbol} to a {type(other).__name__}, which tracing "
                "cannot follow (only Values and int or float constants)"
            )
        return self._op(op, constant=number)

    def _same_trace(self, other: Traced) -> None:
        if other._tracing is not self._tracing:
            self._tracing.fail("mixes values of two different traces")

    def __add__(self, other: Any) -> Traced:
        return self._binary(other, "add", "add_const", "+")

    def __sub__(self, other: Any) -> Traced:
        return self._binary(other, "sub", "sub_const", "-")

    def __mul__(self, other: Any) -> Traced:
        return self._binary(other, "mul", "mul_const", "*")

    def __truediv__(self, other: Any) -> Traced:
        return self._binary(other, "div", "div_const", "/")

    def __pow__(self, other: Any) -> Traced:
        return self._binary(other, "pow_var", "pow", "**")

    def __radd__(self, other: Any) -> Traced:
        return self._reflected(other, "radd", "+")

    def __rsub__(self, other: Any) -> Traced:
        return self._reflected(other, "rsub", "-")

    def __rmul__(self, other: Any) -> Traced:
        return self._reflected(other, "rmul", "*")

    def __rtruediv__(self, other: Any) -> Traced:
        return self._reflected(other, "rdiv", "/")

    def __rpow__(self, other: Any) -> Traced:
        return self._reflected(other, "rpow", "**")

    def __neg__(self) -> Traced:
        return self._op("neg")

    def __abs__(self) -> Traced:
        return self._op("abs")

    def leaky_relu(self, slope: float = DEFAULT_CONSTANTS["leaky_relu"]) -> Traced:
        number = _number(slope)
        if number is None:
            self._tracing.fail("calls .leaky_relu() with a slope that is not a number")
        return self._op("leaky_relu", constant=number)

    def __getattr__(self, name: str) -> Any:
        op = METHODS.get(name)
        if op is not None and not OPS[op].takes_constant:

            def method() -> Traced:
                return self._op(op)

            return method
        tracing: Tracing = object.__getattribute__(self, "_tracing")
        if name in _DATA_READS:
            tracing.fail(
                f"reads .{name}, a number tracing does not have: f may only "
                "combine values with operators and op-table methods"
            )
        if name.startswith("__"):
            raise AttributeError(name)  # Python's own protocol probes
        tracing.fail(
            f"calls .{name}(), which the op table does not know "
            f"(known: {', '.join(sorted(METHODS))})"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        self._tracing.fail(f"sets .{name} on a value, which tracing cannot follow")

    # -- what a graph cannot express ------------------------------------------

    def __bool__(self) -> bool:
        self._tracing.fail(
            "branches on a value (`if`, `and`, `or`, `while` or a comparison), "
            "which tracing cannot follow: f must compute the same graph at "
            "every point"
        )

    def _compare(self, symbol: str) -> NoReturn:
        self._tracing.fail(
            f"compares a value (`{symbol}`), which tracing cannot follow: f "
            "must compute the same graph at every point"
        )

    def __lt__(self, other: Any) -> bool:
        self._compare("<")

    def __le__(self, other: Any) -> bool:
        self._compare("<=")

    def __gt__(self, other: Any) -> bool:
        self._compare(">")

    def __ge__(self, other: Any) -> bool:
        self._compare(">=")

    def __eq__(self, other: object) -> bool:
        self._compare("==")

    def __ne__(self, other: object) -> bool:
        self._compare("!=")

    __hash__ = object.__hash__

    def _number_of(self, how: str) -> NoReturn:
        self._tracing.fail(
            f"converts a value to a number ({how}), which tracing cannot "
            "follow: use the value's own methods (x.tanh(), not math.tanh(x))"
        )

    def __float__(self) -> float:
        self._number_of("float(), math.* or a format")

    def __int__(self) -> int:
        self._number_of("int()")

    def __index__(self) -> int:
        self._number_of("an index")

    def __round__(self, ndigits: int | None = None) -> Any:
        self._number_of("round()")

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)  # f"{x}" in a debugging print
        self._number_of("a format")

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        self._tracing.fail(
            "hands a value to numpy, which tracing cannot follow: use the "
            "value's own methods (x.tanh(), not np.tanh(x))"
        )

    def __array_ufunc__(self, ufunc: Any, method: str, *args: Any, **kw: Any) -> Any:
        self._tracing.fail(
            f"calls numpy's {getattr(ufunc, '__name__', ufunc)} on a value, "
            "which tracing cannot follow: use the value's own methods "
            "(x.tanh(), not np.tanh(x))"
        )

    def __repr__(self) -> str:
        return f"<traced node {self._index} of {self._tracing.shown}>"
