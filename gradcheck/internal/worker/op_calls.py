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
    if op in _BINARY:
        return _BINARY[op](args[0], args[1])
    if op in _WITH_CONSTANT:
        if wrap is not None and op in WRAPPABLE:
            constant = wrap(constant)
        return _WITH_CONSTANT[op](args[0], constant)
    if op == "neg":
        return -args[0]
    if op == "abs":
        return abs(args[0])
    name = method_name(op, names)
    if name is None:
        raise KeyError(f"no engine spelling for op {op!r}")
    method = getattr(args[0], name)
    if op == "leaky_relu":
        return _leaky_relu(method, constant)
    return method()


def _leaky_relu(method: Callable[..., Any], slope: Any) -> Any:
    """leaky_relu as users call it: `x.leaky_relu()`, with the engine's own slope.

    The checker measures that slope from the forward value at x = -2 after
    loading (`gradcheck.internal.checking.method_forms`) and then holds the
    engine to it, so the program's constant is not passed: an engine whose default slope
    is 0.1 is judged at 0.1, not at some slope of the checker's choosing.
    Only a method that cannot be called without a slope gets the constant.
    """
    if _needs_argument(method):
        return method(slope)
    return method()


def _needs_argument(method: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in parameters
    )
