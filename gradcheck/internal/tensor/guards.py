"""A guard constant by design: `log(x + 1e-12)` is the engine's log, not a bug.

Engines keep `log` away from log(0) with a tiny constant. At float64 the
shift is visible (a relative 1e-12), so it would read as a wrong value. The
hypothesis is tested on the engine before it is believed: one run of
`log(a)`, and every element must give the same round constant
exp(log_a) - a, no larger than 1e-5. The checker then judges log as that
definition, as `--op-def 'log=log(x + 1e-12)'` would, and says so in a note.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from gradcheck.errors import PointError
from gradcheck.internal.tensor.engine import TensorEngine, TensorRun
from gradcheck.internal.tensor.points import example
from gradcheck.internal.tensor.program import ProgramBuilder

# Largest constant believed to be a guard; beyond it the shift is a bug.
LARGEST = 1e-5


@dataclass(frozen=True)
class Guard:
    definition: str  # for declared_ops: "log(x + 1e-12)"
    note: str


def round_constant(values: list[float]) -> float | None:
    """The one round constant (one significant digit) all values agree on."""
    if not values:
        return None
    middle = sorted(values)[len(values) // 2]
    if middle == 0 or not math.isfinite(middle):
        return None
    power = math.floor(math.log10(abs(middle)))
    candidate = round(middle / 10**power) * 10**power
    if candidate == 0:
        return None
    if all(abs(v - candidate) <= 1e-2 * abs(candidate) for v in values):
        return float(f"{candidate:.1g}")
    return None


def find_guard(engine: TensorEngine, rng: random.Random) -> Guard | None:
    """The guard in the engine's log, tested on one run, or None."""
    if "log" not in engine.supported or engine.unit_roundoff > 2.0**-53:
        return None
    b = ProgramBuilder()
    b.op("log", b.leaf("a", (2, 3)))
    try:
        ex = example(b.build(), rng)
    except PointError:
        return None
    result = engine.run_many([(ex.program, ex.values, ex.projection)])[0]
    if not isinstance(result, TensorRun) or len(result.data) != 2:
        return None
    xs, logs = result.data[0].values, result.data[1].values
    if len(xs) != len(logs):
        return None
    try:
        shifts = [math.exp(y) - x for x, y in zip(xs, logs, strict=True)]
    except OverflowError:
        return None
    spread = max(abs(x) for x in xs) * 2.0**-50
    if all(abs(s) <= spread for s in shifts):
        return None  # log is log: nothing to declare
    constant = round_constant(shifts)
    if constant is None or abs(constant) > LARGEST or abs(constant) < spread:
        return None
    sign = "+" if constant > 0 else "-"
    text = f"log(x {sign} {abs(constant):g})"
    return Guard(
        text,
        f"log computes {text}, a guard against log(0) (measured: every element of "
        f"log(a) is {text}); judged as that definition. If it is not meant, "
        "log has a wrong value",
    )
