"""How far a correct float64 engine may legitimately be from the exact answer.

A fixed `rtol=1e-3` (torch.autograd.gradcheck) waves through derivative bugs
of 1e-7 and still fails correct engines on cancellation. Instead, this module
runs a first-order rounding-error analysis over the very graph being checked:

* forward: each node's absolute error is bounded by its own rounding
  (the op table's `rounding`, in units of 2**-53, relative to |value| plus
  a floor for ops whose textbook formulas lose relative accuracy) plus the
  errors of its operands times |local derivative|;
* local derivatives: their error comes from operand errors through the second
  derivatives, plus their own rounding;
* backward: each adjoint's error is |local derivative| times the consumer's
  error, plus |consumer adjoint| times the local derivative's error, plus the
  rounding of the product and of the sum.

The result is a per-node bound that scales with the magnitudes of the path
contributions (so cancellation is allowed for) and with the graph's size.
`SAFETY` covers engines that use other, still reasonable, formulas.

Every bound is in units of the engine's unit roundoff `u` (2**-53 for
float64, 2**-24 for float32): an engine is judged at its own precision.
An engine that stores less than float64 also rounds the point itself, so
its leaves start with an error of up to `u` relative (see `error_bounds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import OPS

UNIT = 2.0**-53
FLOAT32 = 2.0**-24
_FLOAT64 = UNIT
SAFETY = 8.0
# Below this nothing is distinguishable from zero in float64.
FLOOR = 1e-300
# The same for narrower formats: the smallest subnormal of each (an engine
# may underflow to zero below it). Keyed by unit roundoff.
FLOORS = {FLOAT32: 2.0**-149, 2.0**-11: 2.0**-24, 2.0**-8: 2.0**-133}


@dataclass(frozen=True)
class Bounds:
    """Per-node error bounds: `value[i]` for data, `grad[i]` for gradients."""

    value: list[float]
    grad: list[float]
    unit_roundoff: float = UNIT
    floor: float = FLOOR

    def value_tolerance(self, index: int = -1) -> float:
        return SAFETY * self.value[index] + self.floor

    def grad_tolerance(self, index: int) -> float:
        return SAFETY * self.grad[index] + self.floor


def relative_tolerance(unit_roundoff: float, float64: float = 1e-9) -> float:
    """A plain relative tolerance (`float64` for float64 engines) at `u`.

    For the checks that compare with math.isclose instead of a bound: 256
    unit roundoffs below float64 (1.5e-5 in float32).
    """
    return max(float64, 256.0 * unit_roundoff)


def floor_for(unit_roundoff: float) -> float:
    """The absolute error below which a format cannot tell a number from 0."""
    if unit_roundoff <= UNIT:
        return FLOOR
    return max(FLOORS.get(unit_roundoff, 0.0), FLOOR)


def error_bounds(
    graph: Graph,
    values: list[float],
    partials: list[tuple[float, ...]],
    second: list[list[list[float]]],
    adjoints: list[float],
    unit_roundoff: float = UNIT,
) -> Bounds:
    """Bounds for every node, from exact values, partials and adjoints.

    `unit_roundoff` is the engine's (`Engine.unit_roundoff`). Below float64
    the engine rounds the point it is given: each leaf then starts with an
    error of `u * |x|`, which flows into the values through the partials and
    into the local derivatives through the second partials. We widen the
    tolerance by that input rounding rather than recompute the reference at
    the rounded point because the parent does not know how the engine rounds
    (numpy or struct, to nearest or not, constants wrapped as leaves or not)
    and computes the reference before the engine runs; the cost is the
    point's condition number times `u`, the same order as the forward
    rounding already allowed. A float64 engine holds the point exactly.
    """
    u = unit_roundoff
    inputs_rounded = unit_roundoff > _FLOAT64
    n = len(graph.nodes)
    value_err = [0.0] * n
    deriv_err: list[list[float]] = [[] for _ in range(n)]
    for i, node in enumerate(graph.nodes):
        if node.is_leaf:
            if inputs_rounded:
                value_err[i] = u * abs(values[i])
            continue
        ulps, floor, d_ulps, d_floor = OPS[node.op].rounding
        args = node.args
        arg_vals = [abs(values[a]) for a in args]
        extra = _exponent_growth(node.op, [values[a] for a in args], node.constant)
        ulps += extra
        d_ulps += extra
        scale, d_scale = _floor_scales(node.op, arg_vals)
        err = u * ulps * (abs(values[i]) + floor * scale)
        err += sum(
            abs(p) * value_err[a] for p, a in zip(partials[i], args, strict=True)
        )
        c_value, c_slope = (
            _constant_rounding(node.op, values[i], values[args[0]], node.constant)
            if inputs_rounded and node.constant is not None
            else (0.0, 0.0)
        )
        value_err[i] = err + u * c_value
        row = []
        for k, p in enumerate(partials[i]):
            d = u * d_ulps * (abs(p) + d_floor * d_scale) + u * c_slope * abs(p)
            for j, a in enumerate(args):
                d += abs(second[i][k][j]) * (value_err[a] + u * arg_vals[j])
            # formulas written in terms of the output (1 - t**2) see its error too
            d += _output_sensitivity(node.op, k, p, values[i]) * value_err[i]
            row.append(d)
        deriv_err[i] = row
    grad_err = [0.0] * n
    for i in range(n - 1, -1, -1):
        node = graph.nodes[i]
        for k, a in enumerate(node.args):
            p = partials[i][k]
            term = abs(adjoints[i] * p)
            grad_err[a] += abs(p) * grad_err[i] + abs(adjoints[i]) * deriv_err[i][k]
            grad_err[a] += 2 * u * term
    return Bounds(value_err, grad_err, unit_roundoff, floor_for(unit_roundoff))


def _constant_rounding(
    op: str, value: float, arg: float, constant: float
) -> tuple[float, float]:
    """|d value / d c| * |c| and the relative change of the slope, per unit of c.

    An engine below float64 rounds an op's constant too (0.1, a slope of
    0.01): a relative error `u` of `c` moves the value by this much times
    `u`, and the local derivative by the second number times `u * |p|`.
    """
    if op in ("add_const", "sub_const", "radd", "rsub"):
        return abs(constant), 0.0
    if op == "rpow":  # c ** x: d/dc = x c**(x-1)
        return abs(arg * value), 1.0 + abs(arg)
    if op == "pow":  # x ** c: d/dc = log|x| x**c
        growth = abs(constant * math.log(max(abs(arg), 1e-300)))
        return growth * abs(value), 1.0 + growth
    return abs(value), 1.0  # c * x, x / c, c / x, slope * x


def _exponent_growth(op: str, args: list[float], constant: float | None) -> float:
    """Extra ulps of a power computed as exp(b * log(a)): |b log a|.

    The rounding of log(a) is multiplied by b before exp turns it into a
    relative error of the result, so large exponents lose digits honestly.
    """
    if op == "pow":
        base, exponent = args[0], constant or 0.0
    elif op == "pow_var":
        base, exponent = args[0], args[1]
    elif op == "rpow":
        base, exponent = constant or 1.0, args[0]
    else:
        return 0.0
    return abs(exponent * math.log(max(abs(base), 1e-300)))


def _floor_scales(op: str, args: list[float]) -> tuple[float, float]:
    """What the op table's `rounding` floors are relative to: value, slope.

    gelu is x * Phi(x) with Phi computed as 1 + erf (or 1 + tanh): that sum
    loses its relative accuracy where it is small, so the value's error is
    relative to |x|, and the tanh form's slope multiplies 1 - t**2 by
    |x| (1 + 0.134 x**2).
    """
    if op == "gelu_erf":
        return args[0], 1.0 + args[0]
    if op == "gelu_tanh":
        x = args[0]
        return x, 1.0 + x * (1.0 + 0.134145 * x * x)
    return 1.0, 1.0


def _output_sensitivity(op: str, k: int, partial: float, value: float) -> float:
    """|d(local derivative) / d(output)| for ops usually written via the output."""
    if op == "tanh":
        return 2.0  # 1 - t**2: |2t| <= 2
    if op == "sigmoid":
        return 1.0  # s * (1 - s): |1 - 2s| <= 1
    if op in ("exp", "softplus"):
        return 1.0  # out.data; softplus' = 1 - exp(-out)
    if op in ("sqrt", "rpow", "pow_var"):
        # 0.5 / out; out * log(c); b * out / a and out * log(a)
        return abs(partial / value) if value else 0.0
    return 0.0
