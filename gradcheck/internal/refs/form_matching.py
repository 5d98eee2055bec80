"""Which op an engine method computes, when one name serves several ops.

An engine's `gelu()` is either the erf form or the tanh approximation, and
its `leaky_relu()` has a slope of its own. Both are read off forward values
at a few inputs, computed by the engine (in the worker) and compared here
with the op table's mpmath definitions; nothing here touches an engine.
"""

from __future__ import annotations

from collections.abc import Mapping

import mpmath

from gradcheck.internal.expr.ops import OPS, SPELLINGS, Op

# Inputs at which the forms are compared: the two gelu forms differ by
# 5e-5 to 2e-3 relative at these, far above float64 and float32 rounding.
# They are exact in float32, so a float32 engine is asked the same question.
FORM_PROBES = (-1.5, -0.5, 0.75, 2.0)
# Engine values within this relative distance of a form match it (float64).
MATCH = 1e-9
# Below float64, a match is within this many unit roundoffs (4e-6 in float32).
MATCH_ULPS = 64
# Where the slope of leaky_relu is measured: a negative input.
SLOPE_PROBE = -2.0


def match_tolerance(unit_roundoff: float) -> float:
    """The relative distance within which an engine's value matches a form."""
    return max(MATCH, MATCH_ULPS * unit_roundoff)


def identify(
    method: str, values: Mapping[float, float], tolerance: float = MATCH
) -> str | None:
    """The op named `method` whose forward values match the engine's `values`.

    `values` maps probe inputs (e.g. `FORM_PROBES`) to the engine's output of
    `x.method()`. None when no form of the table matches: the forward pass of
    that method is wrong (or a form the table does not know). `tolerance` is
    relative; see `match_tolerance` for an engine below float64.
    """
    candidates = [n for n in SPELLINGS.get(method, ()) if OPS[n].arity == 1]
    for name in candidates:
        op = OPS[name]
        if op.takes_constant:
            continue  # its constant is measured, see `slope`
        if values and all(_close(op, x, y, tolerance) for x, y in values.items()):
            return name
    return None


def slope(value_at_probe: float, probe: float = SLOPE_PROBE) -> float:
    """The slope of a leaky_relu whose value at `probe` (< 0) is `value_at_probe`."""
    if not probe < 0:
        raise ValueError("the slope of leaky_relu is measured at a negative input")
    return value_at_probe / probe


def exact_value(name: str, x: float) -> float:
    """The op table's value of `name` at `x`, for messages."""
    with mpmath.workdps(30):
        return float(OPS[name].apply_mp([mpmath.mpf(x)], None))


def _close(op: Op, x: float, y: float, tolerance: float) -> bool:
    with mpmath.workdps(30):
        exact = op.apply_mp([mpmath.mpf(x)], None)
        scale = max(abs(exact), mpmath.mpf(1e-300))
        return bool(abs(exact - y) <= tolerance * scale)
