"""Which op an engine method computes, when one name serves several ops.

An engine's `gelu()` is either the erf form or the tanh approximation, and
its `leaky_relu()` has a slope of its own. Both are read off forward values
at a few inputs, computed by the engine (in the worker) and compared here
with the op table's mpmath definitions; nothing here touches an engine.
"""

from __future__ import annotations

from collections.abc import Mapping

import mpmath

from gradcheck.expr.ops import OPS, SPELLINGS, Op

# Inputs at which the forms are compared: the two gelu forms differ by
# about 1e-4 relative at these, far above float64 rounding.
FORM_PROBES = (-1.5, -0.5, 0.7, 2.0)
# Engine values within this relative distance of a form match it.
MATCH = 1e-9
# Where the slope of leaky_relu is measured: a negative input.
SLOPE_PROBE = -2.0


def identify(method: str, values: Mapping[float, float]) -> str | None:
    """The op named `method` whose forward values match the engine's `values`.

    `values` maps probe inputs (e.g. `FORM_PROBES`) to the engine's output of
    `x.method()`. None when no form of the table matches: the forward pass of
    that method is wrong (or a form the table does not know).
    """
    candidates = [n for n in SPELLINGS.get(method, ()) if OPS[n].arity == 1]
    for name in candidates:
        op = OPS[name]
        if op.takes_constant:
            continue  # its constant is measured, see `slope`
        if values and all(_close(op, x, y) for x, y in values.items()):
            return name
    return None


def slope(value_at_probe: float, probe: float = SLOPE_PROBE) -> float:
    """The slope of a leaky_relu whose value at `probe` (< 0) is `value_at_probe`."""
    if not probe < 0:
        raise ValueError("the slope of leaky_relu is measured at a negative input")
    return value_at_probe / probe


def _close(op: Op, x: float, y: float) -> bool:
    with mpmath.workdps(30):
        exact = op.apply_mp([mpmath.mpf(x)], None)
        return bool(abs(exact - y) <= MATCH * max(abs(exact), mpmath.mpf(1e-300)))
