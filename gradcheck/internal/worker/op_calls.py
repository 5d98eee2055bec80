"""How each op of the checker's table is applied to engine values.

The checker's op table (`gradcheck.internal.expr.ops`) holds the references' side of
every op; this is the engine's side, kept apart so the worker imports no
mpmath or SymPy. Operators go through Python's operators (so a missing
reflected method shows as Python's NotImplemented dispatch), functions
through the engine's method of that name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

# name -> (arity, takes_constant, how it is spelled on the engine)
# The spelling is a dunder ("__add__"), "method:<name>" or "builtin:abs".
SPELLING: dict[str, tuple[int, bool, str]] = {
    "add": (2, False, "__add__"),
    "sub": (2, False, "__sub__"),
    "mul": (2, False, "__mul__"),
    "div": (2, False, "__truediv__"),
    "pow_var": (2, False, "__pow__"),
    "neg": (1, False, "__neg__"),
    "pow": (1, True, "__pow__"),
    "rpow": (1, True, "__rpow__"),
    "add_const": (1, True, "__add__"),
    "sub_const": (1, True, "__sub__"),
    "mul_const": (1, True, "__mul__"),
    "div_const": (1, True, "__truediv__"),
    "radd": (1, True, "__radd__"),
    "rsub": (1, True, "__rsub__"),
    "rmul": (1, True, "__rmul__"),
    "rdiv": (1, True, "__rtruediv__"),
    "abs": (1, False, "__abs__"),
    "tanh": (1, False, "method:tanh"),
    "exp": (1, False, "method:exp"),
    "log": (1, False, "method:log"),
    "relu": (1, False, "method:relu"),
    "sigmoid": (1, False, "method:sigmoid"),
    "sin": (1, False, "method:sin"),
    "cos": (1, False, "method:cos"),
    "sqrt": (1, False, "method:sqrt"),
    "softplus": (1, False, "method:softplus"),
    "erf": (1, False, "method:erf"),
    "leaky_relu": (1, True, "method:leaky_relu"),
    "gelu_erf": (1, False, "method:gelu"),
    "gelu_tanh": (1, False, "method:gelu"),
}

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow_var": lambda a, b: a**b,
}
_WITH_CONSTANT: dict[str, Callable[[Any, Any], Any]] = {
    "pow": lambda a, c: a**c,
    "rpow": lambda a, c: c**a,
    "add_const": lambda a, c: a + c,
    "sub_const": lambda a, c: a - c,
    "mul_const": lambda a, c: a * c,
    "div_const": lambda a, c: a / c,
    "radd": lambda a, c: c + a,
    "rsub": lambda a, c: c - a,
    "rmul": lambda a, c: c * a,
    "rdiv": lambda a, c: c / a,
}
# Ops whose constant is an engine operand when the engine takes only Values.
WRAPPABLE = frozenset(_WITH_CONSTANT) - {"pow"}


def method_name(op: str, names: dict[str, str]) -> str | None:
    """The engine method an op calls, after `--op` renames; None for operators."""
    spelling = SPELLING[op][2]
    if not spelling.startswith("method:"):
        return None
    default = spelling.removeprefix("method:")
    return names.get(op, names.get(default, default))


def apply_op(
    op: str,
    args: list[Any],
    constant: Any,
    names: dict[str, str],
    wrap: Callable[[Any], Any] | None = None,
) -> Any:
    """`op` on engine values; `wrap` turns a constant into a leaf first."""
    call = OP_CALLS.get(op)
    if call is None:
        raise KeyError(f"no engine spelling for op {op!r}")
    return call(args, constant, names, wrap)


# op -> how it is applied, `(operands, constant, names, wrap)`: one lookup
# per node (the runner applies a million of them in the mutant gallery).
_Call = Callable[[list[Any], Any, dict[str, str], Callable[[Any], Any] | None], Any]


def _binary(fn: Callable[[Any, Any], Any]) -> _Call:
    return lambda args, constant, names, wrap: fn(args[0], args[1])


def _with_constant(op: str, fn: Callable[[Any, Any], Any]) -> _Call:
    if op not in WRAPPABLE:
        return lambda args, constant, names, wrap: fn(args[0], constant)
    return lambda args, constant, names, wrap: fn(
        args[0], constant if wrap is None else wrap(constant)
    )


def _method(op: str) -> _Call:
    default = SPELLING[op][2].removeprefix("method:")

    def call(args: list[Any], constant: Any, names: dict[str, str], wrap: Any) -> Any:
        method = getattr(args[0], names.get(op, names.get(default, default)))
        if op == "leaky_relu":
            return _leaky_relu(method, constant)
        return method()

    return call


OP_CALLS: dict[str, _Call] = {
    **{op: _binary(fn) for op, fn in _BINARY.items()},
    **{op: _with_constant(op, fn) for op, fn in _WITH_CONSTANT.items()},
    "neg": lambda args, constant, names, wrap: -args[0],
    "abs": lambda args, constant, names, wrap: abs(args[0]),
    **{
        op: _method(op)
        for op, (_, _, spelling) in SPELLING.items()
        if spelling.startswith("method:")
    },
}


def _leaky_relu(method: Callable[..., Any], slope: Any) -> Any:
    """leaky_relu as users call it: `x.leaky_relu()`, with the engine's own slope.

    An engine run measures that slope from the forward value at x = -2 and
    holds the engine to it (`gradcheck.internal.checking.method_forms`):
    its programs carry the method's own default (`slope_default`, reported
    at detection), so the method is called as users call it, without one. A
    slope is passed when the method cannot be called without it, or when its
    default is a different number: a formula's `leaky_relu(x, 0.2)` on an
    engine whose default is 0.01. A default that is not a number
    (`inplace=False`) says the parameter is not a slope: nothing is passed.
    """
    default = _first_default(method)
    if default is _REQUIRED:
        return method(slope)
    if _is_number(default) and _is_number(slope) and float(default) != float(slope):
        return method(slope)
    return method()


def slope_default(method: Callable[..., Any]) -> float | None:
    """The number a leaky_relu method's slope defaults to, if it has one."""
    default = _first_default(method)
    return float(default) if _is_number(default) else None


_REQUIRED = object()  # a parameter without a default


def _first_default(method: Callable[..., Any]) -> Any:
    """The default of the method's first positional parameter: `_REQUIRED`
    when it has none, None when there is no such parameter (or no signature)."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return None
    for p in parameters:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return _REQUIRED if p.default is inspect.Parameter.empty else p.default
    return None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
