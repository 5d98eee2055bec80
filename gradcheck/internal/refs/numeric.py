"""The numeric reference: central finite differences in 80-digit mpmath.

It evaluates the graph with the op table's mpmath functions (its own forward
pass, never an engine's) and knows no derivative rule at all. With 80 digits
of working precision and a step of 1e-25 * max(1, |x|), the truncation error
(about h**2 * f'''/6) and the rounding error (about 1e-80 * |f| / h) both stay
far below 1e-25 relative for any function the point sampler admits.

Each displaced evaluation recomputes only the nodes that depend on the
displaced variable and takes every other value from the undisplaced pass:
the same mpmath calls on the same arguments at the same precision, so the
same numbers as evaluating the whole graph again, for less. Which nodes
those are, and each node's op function, come from the graph's plan
(`plan.py`), worked out once per graph rather than once per point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.plan import Cone, plan_of

DIGITS = 80
# At mpmath's default precision (53 bits), as an import made it before: the
# same step whatever precision the importing program had set (and STEP * 1
# at 80 digits is STEP, see `numeric_reference`).
with mpmath.workprec(53):
    STEP = mpmath.mpf("1e-25")
_ONE, _TWO = mpmath.mpf(1), mpmath.mpf(2)  # made once, not per derivative


@dataclass
class NumericResult:
    value: Any
    gradients: dict[str, Any]


def numeric_reference(graph: Graph, point: Mapping[str, float]) -> NumericResult:
    """Output value and d out / d var for every variable, by central differences."""
    plan = plan_of(graph)
    mpf = mpmath.mpf
    with mpmath.workdps(DIGITS):
        base = {name: mpf(x) for name, x in point.items()}
        values: list[Any] = [None] * plan.size
        for i, name in plan.var_nodes:
            values[i] = base[name]
        for i, constant in plan.constants:
            values[i] = mpf(constant)
        for slot, constant, exact in plan.slots:
            values[slot] = mpf(constant) if exact else constant
        for i, fn, fetch, single in plan.steps:
            values[i] = fn(fetch(values)) if single else fn(*fetch(values))
        out = plan.output
        gradients: dict[str, Any] = {}
        for name in plan.variables:
            x = base[name]
            size = abs(x)
            # STEP * max(1, |x|): STEP itself below 1 (a 53-bit number, so
            # STEP * 1 at 80 digits is STEP)
            h = STEP * size if size > _ONE else STEP
            cone = plan.cones[name]
            up = _displaced(values, out, cone, x + h)
            down = _displaced(values, out, cone, x - h)
            gradients[name] = (up - down) / (_TWO * h)
    return NumericResult(values[out], gradients)


def _displaced(base: list[Any], out: int, cone: Cone, x: Any) -> Any:
    """The output with one variable at `x`: its cone recomputed, the rest kept."""
    if not cone.reaches_output:  # the output does not depend on it
        return base[out]
    values = list(base)
    for i in cone.leaves:
        values[i] = x
    for i, fn, fetch, single in cone.steps:
        values[i] = fn(fetch(values)) if single else fn(*fetch(values))
    return values[out]
