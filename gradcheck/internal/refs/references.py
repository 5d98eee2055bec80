"""Both references at one point, checked against each other, with tolerances.

An engine is judged only where the symbolic and the numeric references agree
to far more digits than float64 has. Where they do not (a kink of relu, a
point on a pole, a singular derivative) the example is inconclusive: a
limitation of the point, never a bug of the engine.
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
from mpmath.libmp import round_nearest, to_float

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import OPS, Op
from gradcheck.internal.refs import shipped
from gradcheck.internal.refs.numeric import NumericResult, numeric_reference
from gradcheck.internal.refs.plan import Plan, plan_of
from gradcheck.internal.refs.plan import clear as clear_plans
from gradcheck.internal.refs.symbolic import SymbolicResult, symbolic_reference
from gradcheck.internal.refs.tolerance import UNIT, Bounds, error_bounds

# The two references must agree to this relative precision (they carry 25+).
# Made at mpmath's default precision (53 bits), whatever the importing
# program set: a float holds it exactly (see `_differ`).
with mpmath.workprec(53):
    AGREEMENT = mpmath.mpf("1e-20")
# Values beyond this are treated as overflow for float64 engines.
FLOAT_LIMIT = 1e300
# The same for float32 engines (its largest finite value is about 3.4e38).
FLOAT32_LIMIT = 1e38
FLOAT32_MAX = 3.4028234663852886e38


def float_limit(unit_roundoff: float = UNIT) -> float:
    """The largest magnitude judged for an engine of this unit roundoff."""
    return FLOAT_LIMIT if unit_roundoff <= UNIT else FLOAT32_LIMIT


@dataclass
class Reference:
    """Everything known about the exact answer at one point."""

    graph: Graph
    point: dict[str, float]
    symbolic: SymbolicResult
    numeric: NumericResult
    bounds: Bounds
    magnitudes: list[float]
    disagreement: str | None
    # The symbolic values as floats, converted once: a verdict reads every
    # node's value, and mpf-to-float each time was a tenth of judging.
    floats: list[float] = field(default_factory=list)

    @property
    def conclusive(self) -> bool:
        return self.disagreement is None

    def value(self, index: int = -1) -> float:
        if self.floats:
            return self.floats[index]
        return float(self.symbolic.values[index])

    def adjoint(self, index: int) -> float:
        return float(self.symbolic.adjoints[index])

    def gradient(self, name: str) -> Any:
        return self.symbolic.gradients[name]


def domain_problem(
    graph: Graph,
    point: Mapping[str, float],
    limit: float = FLOAT_LIMIT,
    *,
    margins: bool = True,
) -> str | None:
    """Why `graph` cannot be evaluated smoothly at `point`, or None if it can.

    Screened in float64 through the op table (`Op.apply_float`), before
    any 80-digit work: a node with no real value (log of a negative, 1/0),
    a value beyond `limit` (see `float_limit`: float64's own limit, said as
    such by a `FloatLimit`, not a fault of the formula), or a node outside
    its op's domain margins (division by ~0, relu at its kink, see
    `Op.in_domain`). `margins=False` (a point the user chose) drops the
    margins: a point that is merely near a kink or pole is taken, and the
    two references then decide whether it can be judged.
    """
    values: list[float] = []
    for node in graph.nodes:
        if node.op == "var":
            if node.name not in point:
                return f"no value given for {node.name}"
            given = float(point[node.name])
            if not math.isfinite(given):
                return f"{node.name} = {given!r} is not a finite number"
            values.append(given)
            continue
        if node.op == "const":
            values.append(float(node.constant or 0.0))
            continue
        op = OPS[node.op]
        args = [values[a] for a in node.args]
        try:
            value = float_value(op, args, node.constant)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return f"{op.name} has no real value at ({_shown(args)})"
        if not abs(value) < limit:
            return _overflow(op, args, node.constant, limit)
        if margins and not op.in_domain(args, node.constant):
            return f"{op.name} is not smooth or not defined at ({_shown(args)})"
        values.append(value)
    return None


def float_value(op: Op, args: list[float], constant: float | None) -> float:
    """The op in float64; where a float formula overflows on the way to a
    finite result (sigmoid(-800) through exp(800)), in 30-digit mpmath."""
    try:
        return op.apply_float(args, constant)
    except OverflowError:
        with mpmath.workdps(30):
            return float(op.apply_mp([mpmath.mpf(a) for a in args], constant))


def _shown(args: list[float]) -> str:
    return ", ".join(f"{a:.6g}" for a in args)


class FloatLimit(str):
    """A domain problem that is the float format's limit (an overflow), not
    the formula's: a point there is not judged, and that is no error."""


def _overflow(op: Op, args: list[float], constant: float | None, limit: float) -> str:
    """The message for a value past the range judged: its limit, and why.

    Past the format's own range the format overflows. Between `limit` and
    that range (1e300 to 1.8e308 in float64) the value exists, but the error
    bounds, which multiply values by slopes, would overflow: not judged.
    """
    kind, verb, largest = ("float64", "overflows", sys.float_info.max)
    if limit < FLOAT_LIMIT:
        kind, verb, largest = ("the engine's floats", "overflow", FLOAT32_MAX)
    with mpmath.workdps(30):
        exact = op.apply_mp([mpmath.mpf(a) for a in args], constant)
    size = mpmath.nstr(exact, 3) if mpmath.isfinite(exact) else str(exact)
    if mpmath.isfinite(exact) and abs(exact) <= largest:
        return FloatLimit(
            f"{op.name}({_shown(args)}) = {size} is beyond {limit:.0e}: too close "
            f"to the largest {kind} number ({largest:.2g}) for its gradients "
            "to be judged (a limit of the number format, not an error)"
        )
    return FloatLimit(
        f"{kind} {verb} at {op.name}({_shown(args)}) = {size}, beyond the range "
        f"of {kind} (a limit of the number format, not an error)"
    )


# References depend only on the graph, the point and the unit roundoff, and
# the probes try the same graphs at the same points on every engine: a
# teacher's batch or the mutant gallery computes each one once. Only the
# engine's numbers differ, and those are never cached.
# One cache, least recently used out first, sized in nodes rather than in
# entries: a reference holds about 1 kB per node, so NODE_BUDGET nodes is
# at most about 200 MB, and it holds every candidate of a shrink (hundreds
# of graphs of a few hundred nodes), so shrinking, which revisits graphs,
# never computes one twice. (It used to keep only the last 8 graphs of over
# 200 nodes, and shrinking a large counterexample recomputed them.)
_Key = tuple[Graph, tuple[tuple[str, float], ...], float, bool]
_CACHE: OrderedDict[_Key, Reference | PointError] = OrderedDict()
NODE_BUDGET = 200_000
_held = [0]  # nodes held by the cache


def clear_cache() -> None:
    """Forget every cached reference (the op table changed: `--op-def`)."""
    _CACHE.clear()
    _held[0] = 0
    clear_plans()


def cached_nodes() -> int:
    """How many graph nodes the cached references cover (at most NODE_BUDGET)."""
    return _held[0]


def reference(
    graph: Graph,
    point: Mapping[str, float],
    unit_roundoff: float = UNIT,
    *,
    margins: bool = True,
) -> Reference:
    """Compute both references; raise `PointError` outside the domain.

    `unit_roundoff` is the engine's (`Engine.unit_roundoff`, 2**-24 for a
    float32 engine): the tolerances scale with it, so an engine is judged at
    the precision it stores. The default is float64. `margins=False` is for
    a point the user chose (see `domain_problem`).
    """
    key = (
        graph,
        tuple(sorted((k, float(v)) for k, v in point.items())),
        unit_roundoff,
        margins,
    )
    found = _CACHE.get(key)
    if found is None:
        parts = shipped.lookup(graph, key[1], unit_roundoff, margins)
        if parts is not None:  # a probe's: computed ahead, the same numbers
            variables = graph.variables
            found = Reference(graph, {v: float(point[v]) for v in variables}, *parts)
        else:
            try:
                found = _reference(graph, point, unit_roundoff, margins)
            except PointError as err:
                found = err  # outside the domain: remembered too, shrinking revisits
        _keep(key, found)
    else:
        _CACHE.move_to_end(key)
    if isinstance(found, PointError):
        raise PointError(str(found))
    return found


def cached_references() -> list[tuple[_Key, Reference]]:
    """Every reference the cache holds (not the points outside the domain),
    least recently used first: what the shipped table is written from."""
    return [(k, v) for k, v in _CACHE.items() if isinstance(v, Reference)]


def parts_of(ref: Reference) -> shipped.Parts:
    """What `shipped` stores of a reference: all but its graph and point."""
    return (ref.symbolic, ref.numeric, ref.bounds, ref.magnitudes,
            ref.disagreement, ref.floats)  # fmt: skip


def _keep(key: _Key, found: Reference | PointError) -> None:
    size = len(key[0])
    if size > NODE_BUDGET:
        return
    while _CACHE and _held[0] + size > NODE_BUDGET:
        old, _ = _CACHE.popitem(last=False)  # the least recently used
        _held[0] -= len(old[0])
    _CACHE[key] = found
    _held[0] += size


def _reference(
    graph: Graph, point: Mapping[str, float], unit_roundoff: float, margins: bool
) -> Reference:
    problem = domain_problem(graph, point, float_limit(unit_roundoff), margins=margins)
    if problem is not None:
        raise PointError(problem)
    plan = plan_of(graph)
    point = {name: float(point[name]) for name in plan.variables}
    try:
        sym = symbolic_reference(graph, point)
        num = numeric_reference(graph, point)
    except PointError:
        raise
    except (TypeError, ValueError, ArithmeticError):
        if margins:
            raise
        # Only without margins can a point sit on a pole of a derivative:
        # the op whose margin it is inside is the one to name.
        near = domain_problem(graph, point, float_limit(unit_roundoff))
        raise PointError(near or "the derivative is not defined here") from None
    values, partials, adjoints, seconds = _as_floats(sym)
    bounds = error_bounds(graph, values, partials, seconds, adjoints, unit_roundoff)
    magnitudes = _magnitudes(plan, partials)
    return Reference(
        graph,
        point,
        sym,
        num,
        bounds,
        magnitudes,
        _disagreement(plan, sym, num, magnitudes),
        values,
    )


def _as_floats(
    sym: SymbolicResult,
) -> tuple[list[float], list[tuple[float, ...]], list[float], list[list[list[float]]]]:
    """Values, partials, adjoints and second partials as floats, to nearest.

    `to_float` on the mpf's own data is what `float()` calls, less its
    method dispatch: a sixth of the cost of some 200 conversions a graph.
    Anything but an mpf (an mpc) goes through `float()`, which says why it
    cannot be converted, as before.
    """
    try:
        return (
            [to_float(x._mpf_, False, round_nearest) for x in sym.values],
            [
                tuple([to_float(x._mpf_, False, round_nearest) for x in row])
                for row in sym.partials
            ],
            [to_float(x._mpf_, False, round_nearest) for x in sym.adjoints],
            [
                [[to_float(x._mpf_, False, round_nearest) for x in row] for row in node]
                for node in sym.seconds
            ],
        )
    except AttributeError:
        return (
            [float(v) for v in sym.values],
            [tuple(float(p) for p in row) for row in sym.partials],
            [float(a) for a in sym.adjoints],
            [[[float(s) for s in row] for row in node] for node in sym.seconds],
        )


def _magnitudes(plan: Plan, partials: list[tuple[float, ...]]) -> list[float]:
    """Sum over paths of |product of local derivatives|, per node."""
    mags = [0.0] * len(partials)
    mags[-1] = 1.0
    for i, _, args, _, _, _ in reversed(plan.ops):  # last to first
        for a, p in zip(args, partials[i], strict=True):
            mags[a] += mags[i] * abs(p)
    return mags


def _disagreement(
    plan: Plan, sym: SymbolicResult, num: NumericResult, magnitudes: list[float]
) -> str | None:
    with mpmath.workdps(30):
        if _differ(sym.value, num.value, None):
            return "the symbolic and numeric values differ"
        for i, name in plan.var_nodes:
            s, n = sym.gradients[name], num.gradients[name]
            if _differ(s, n, magnitudes[i]):
                return (
                    f"the references disagree on d/d{name} "
                    f"({mpmath.nstr(s, 12)} vs {mpmath.nstr(n, 12)}): "
                    "a kink or singularity is too close"
                )
    return None


# Agreement decided in floats when they leave no doubt (see `_differ`).
_AGREEMENT = float(AGREEMENT)  # a 53-bit mpf: the same number
_TINY = mpmath.mpf(1e-30)


def _differ(s: Any, n: Any, magnitude: float | None) -> bool:
    """Whether |s - n| > AGREEMENT * scale, at 30 digits.

    The scale is max(|s|, |n|, magnitude, 1e-30) for a gradient, and
    max(|s|, 1e-30) for the value (`magnitude` None). The references agree
    to 25 digits or more almost everywhere, so the test is first made in
    floats, where it is cheap: their errors (a few units in 2**-53 of each
    side) cannot move either side by a factor of 2, so a gap that wide
    decides, with the answer of the 30-digit test. A difference within a
    factor of 2 of the limit, or a number beyond the float range (or not a
    number, or not real), is decided by the 30-digit test itself. (Called at
    30 digits.)
    """
    try:
        diff = float(abs(s - n))
        if magnitude is None:
            scale = max(abs(float(s)), 1e-30)
        else:
            scale = max(abs(float(s)), abs(float(n)), magnitude, 1e-30)
    except TypeError:  # an mpc has no float
        diff = scale = math.inf
    if diff < math.inf and scale < math.inf:
        limit = _AGREEMENT * scale
        if diff < 0.5 * limit:
            return False
        if diff > 2.0 * limit:
            return True
    if magnitude is None:
        exact = max(abs(s), _TINY)
    else:
        exact = max(abs(s), abs(n), mpmath.mpf(magnitude), _TINY)
    return bool(abs(s - n) > AGREEMENT * exact)
