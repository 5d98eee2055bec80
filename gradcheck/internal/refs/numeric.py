"""The numeric reference: central finite differences in 80-digit mpmath.

It evaluates the graph with the op table's mpmath functions (its own forward
pass, never an engine's) and knows no derivative rule at all. With 80 digits
of working precision and a step of 1e-25 * max(1, |x|), the truncation error
(about h**2 * f'''/6) and the rounding error (about 1e-80 * |f| / h) both stay
far below 1e-25 relative for any function the point sampler admits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcheck.internal.expr.graph import Graph

DIGITS = 80
STEP = mpmath.mpf("1e-25")


@dataclass
class NumericResult:
    value: Any
    gradients: dict[str, Any]


def numeric_reference(graph: Graph, point: Mapping[str, float]) -> NumericResult:
    """Output value and d out / d var for every variable, by central differences."""
    with mpmath.workdps(DIGITS):
        base = {name: mpmath.mpf(x) for name, x in point.items()}
        value = graph.evaluate(base)[-1]
        gradients: dict[str, Any] = {}
        for name in graph.variables:
            h = STEP * max(1, abs(base[name]))
            up = dict(base, **{name: base[name] + h})
            down = dict(base, **{name: base[name] - h})
            gradients[name] = (graph.evaluate(up)[-1] - graph.evaluate(down)[-1]) / (
                2 * h
            )
    return NumericResult(value, gradients)
