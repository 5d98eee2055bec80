"""A forward value off by a small constant inside the function: log(x + 1e-6).

Courses keep `log` away from 0 with `log(x + 1e-6)`, `sqrt` with `sqrt(x +
1e-8)`; a student who follows the course gets a forward value that is wrong
by the table's definition, and right by the course's. When a unary op's
wrong value equals f(x + c) for a small c, the hint says so and prints the
`--op-def` that declares it (see `gradcheck.internal.expr.declared`).

c is solved from each (operand, engine value) pair by the op's inverse.
Several pairs must agree. From one pair, c must also be a round number
(one or two significant digits, as people write epsilons), or it could be
any wrong value read backwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["op_def_suggestion", "op_def_text", "shift_hint", "shifted_constant"]

# Larger shifts are not "a small constant for stability": a different function.
SMALL = 1e-2
_EPS = 2.0**-52


def _logit(v: float) -> float:
    return math.log(v / (1.0 - v))


def _softplus_inverse(v: float) -> float:
    return math.log(math.expm1(v))


# op -> the inverse of its function, for the ops where learners add epsilons.
_INVERSES: dict[str, Callable[[float], float]] = {
    "log": math.exp,
    "exp": math.log,
    "sqrt": lambda v: v * v if v >= 0 else math.nan,
    "tanh": math.atanh,
    "sigmoid": _logit,
    "softplus": _softplus_inverse,
}


def _solve(op_name: str, x: float, value: float) -> tuple[float, float] | None:
    """(c, how far c can be off from rounding alone), or None."""
    inverse = _INVERSES[op_name]
    try:
        inner = inverse(value)
        beside = inverse(math.nextafter(value, math.inf))
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    if not (math.isfinite(inner) and math.isfinite(beside)):
        return None
    noise = 4 * _EPS * (abs(x) + abs(inner)) + 4 * abs(beside - inner)
    return inner - x, noise


def _round(c: float, noise: float) -> float | None:
    """c as people write it (1e-06, 1.5e-08), when c is that within its noise."""
    for digits in (1, 2):
        nice = float(f"{c:.{digits - 1}e}")
        if abs(c - nice) <= max(noise, 1e-3 * abs(nice)):
            return nice
    return None


def shifted_constant(
    op_name: str, points_and_values: Sequence[tuple[float, float]]
) -> float | None:
    """The small c with value == op(x + c) at every (x, value), or None.

    `points_and_values` are (operand, the engine's forward value) pairs of a
    unary op. None when the op has no inverse here, when c is 0 within
    rounding or larger than `SMALL`, or when the pairs disagree; with one
    pair, also when c is not a round number.
    """
    if op_name not in _INVERSES or not points_and_values:
        return None
    solved = []
    for x, value in points_and_values:
        found = _solve(op_name, float(x), float(value))
        if found is None:
            return None
        c, noise = found
        if not (abs(c) > 4 * noise and abs(c) <= SMALL):
            return None
        solved.append((c, noise))
    first, first_noise = solved[0]
    for c, noise in solved[1:]:
        if abs(c - first) > noise + first_noise + 1e-6 * abs(first):
            return None
    noise = max(n for _, n in solved)
    nice = _round(first, noise)
    if nice is not None:
        return nice
    return float(f"{first:.6g}") if len(solved) > 1 else None


def op_def_text(op_name: str, c: float) -> str:
    """The `--op-def` value: `log=log(x + 1e-06)`."""
    sign = "+" if c > 0 else "-"
    return f"{op_name}={op_name}(x {sign} {abs(c):g})"


def op_def_suggestion(op_name: str, c: float) -> str:
    """The hint: what the value matches, and the exact option that declares it."""
    option = op_def_text(op_name, c)
    inner = option.partition("=")[2]
    return (
        f"it equals {inner}, a constant added inside {op_name}; if that is how "
        f"your course defines {op_name}, declare it with --op-def '{option}'"
    )


def shift_hint(op_name: str, points_and_values: Sequence[tuple[float, float]]) -> str:
    """`op_def_suggestion` when the values match a shift, else ''."""
    c = shifted_constant(op_name, points_and_values)
    return op_def_suggestion(op_name, c) if c is not None else ""
