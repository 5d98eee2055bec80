"""Measured limits: how deep a graph and how large an input the engine handles.

A limit is right in the normal range but failing beyond a bound: a recursive
topological sort fails a little above 1,000 deep, tanh written through
exp(2x) overflows above |x| of about 355. Each is measured (double, then
bisect) and reported with its bound; it fails the run only when asked
(`min_depth`, `range_limit`, `strict`) or when it reaches the normal range.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcheck.internal.checking.chains import Pair, chain_pairs, chain_program
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
    Run,
    WorkerCrash,
)
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.refs.points import NORMAL_MAGNITUDE
from gradcheck.report import FAIL, PASS, SKIP, Check, Limit

DEPTH_CAP = 100_000
# Below this depth a failure is an error: ordinary graphs are this deep.
NORMAL_DEPTH = 100
LECTURE_MLP_DEPTH = 27
# Inputs up to this magnitude are the normal range (the probes draw them).
NORMAL_RANGE = NORMAL_MAGNITUDE
Pairs = tuple[Pair, ...]


@dataclass
class DepthResult:
    """The deepest chain that worked, and what happened just beyond it."""

    works: int
    fails: int | None
    failure: str = ""
    cause: str = ""
    timed_out: bool = False


def depth_pairs(engine: Engine, good_ops: Collection[str] | None = None) -> Pairs:
    """The chain links to measure depth with: supported ops that passed.

    A broken `neg` must not make a right engine "work only up to depth 0":
    ops that failed their own checks (`good_ops` leaves them out) build no
    chain.
    """
    ops = set(engine.supported)
    if good_ops is not None:
        ops &= set(good_ops)
    return chain_pairs(ops)


# A deep chain is slow to build, not hung: its deadline grows with its
# length (100,000 links get 6 s), and never falls below the engine's own.
CHAIN_SECONDS = 1.0
CHAIN_SECONDS_PER_LINK = 5e-5


def chain_deadline(engine: Engine, length: int) -> float:
    return max(engine.limit, CHAIN_SECONDS + CHAIN_SECONDS_PER_LINK * length)


def _depth_works(
    engine: Engine, pairs: Pairs, length: int
) -> tuple[bool, str, str, bool]:
    """(works, what went wrong, its cause, whether it was a timeout)."""
    length += length % 2  # whole pairs only: the gradient is then exactly 1
    chain = chain_program(pairs, length)
    result = engine.run_programs([chain], chain_deadline(engine, length))[0]
    if isinstance(result, Run):
        grad = result.grads[0]
        ok = abs(grad - 1.0) <= 1e-6 and abs(result.data[-1] - 0.5) <= 1e-6
        return ok, "" if ok else f"d/dx is {grad!r}, should be 1", "", False
    if isinstance(result, EngineFault):
        cause = ""
        if result.type_name == "RecursionError":
            function = (result.where or {}).get("function", "")
            cause = (
                "recursive topological sort"
                if "topo" in function.lower()
                else "recursion over the graph's depth"
            )
            if function:
                cause += f" in {function}"
        text = f"{result.text.split(':')[0]} {result.phase}".strip()
        return False, text, cause, False
    assert isinstance(result, WorkerCrash)
    cause = "" if result.timeout else "the worker died"
    return False, f"{result.message} {result.phase}".strip(), cause, result.timeout


def measure_depth(
    engine: Engine,
    cap: int = DEPTH_CAP,
    start: int = 2500,
    good_ops: Collection[str] | None = None,
    works_at: int = 0,
) -> DepthResult | None:
    """The deepest undo-chain that backpropagates right: double, then bisect.

    Most engines either fail near 1,000 (recursion) or work at any depth, so
    after `start` the cap itself is tried first: a correct engine then costs
    two chains, not seven doublings. A chain that runs past its deadline ends
    the search: every further try would cost a whole deadline, so the bound
    is given as it stands (within a factor of two). `works_at`: a chain
    length already judged right (the deep probe's), not built again.
    """
    pairs = depth_pairs(engine, good_ops)
    if not pairs:
        return None
    good, bad, failure, cause, timed_out = 0, None, "", "", False
    cap_failure: tuple[str, str, bool] = ("", "", False)
    length = min(start, cap)
    if 0 < length + length % 2 <= works_at:  # whole pairs, as it is built
        ok, why, because, late = True, "", "", False
    else:
        ok, why, because, late = _depth_works(engine, pairs, length)
    if ok and length < cap:
        good = length
        ok, why, because, late = _depth_works(engine, pairs, cap)
        if ok:
            return DepthResult(cap, None)
        cap_failure = (why, because, late)
        length = min(cap, length * 2)  # it fails somewhere between: double up
    elif ok:
        return DepthResult(length, None)
    else:
        bad, failure, cause, timed_out = length, why, because, late
    while bad is None:
        if length >= cap:  # already known to fail there
            bad, (failure, cause, timed_out) = cap, cap_failure
            break
        ok, why, because, late = _depth_works(engine, pairs, length)
        if ok:
            good = length
            if length >= cap:
                return DepthResult(good, None)
            length = min(cap, length * 2)
        else:
            bad, failure, cause, timed_out = length, why, because, late
            break
    while not timed_out and bad - good > max(1, good // 200):  # 0.5% will do
        middle = (good + bad) // 2
        ok, why, because, late = _depth_works(engine, pairs, middle)
        if ok:
            good = middle
        else:
            bad, failure, cause, timed_out = middle, why, because, late
    return DepthResult(good, bad, failure, cause, timed_out)


def depth_findings(
    engine: Engine,
    cap: int = DEPTH_CAP,
    min_depth: int | None = None,
    good_ops: Collection[str] | None = None,
    works_at: int = 0,
) -> tuple[Check, Limit | None]:
    """The depth check (an error below the normal depth) and the depth limit."""
    name = "depth"
    result = measure_depth(
        engine, max(cap, min_depth or 0), good_ops=good_ops, works_at=works_at
    )
    if result is None:
        return Check(
            name,
            "propagation",
            SKIP,
            "no pair of ops that passed their own checks to build a chain",
        ), None
    if result.fails is None:
        return Check(
            name,
            "propagation",
            PASS,
            f"chains up to {result.works:,} deep backpropagate right",
            examples=1,
        ), None
    cause = f" ({result.cause})" if result.cause else ""
    text = f"backward(): {result.failure} from depth {result.fails:,}{cause}"
    if result.works < NORMAL_DEPTH or (
        min_depth is not None and result.works < min_depth
    ):
        need = f"; --min-depth asks for {min_depth:,}" if min_depth else ""
        return Check(
            name,
            "propagation",
            FAIL,
            f"{text}: works only up to depth {result.works:,}{need}",
            examples=1,
        ), None
    hint = (
        f"fine for the lecture's MLP (depth {LECTURE_MLP_DEPTH}); walk an explicit "
        "stack for deeper graphs"
    )
    if "RecursionError" not in text:  # too slow, or the worker died: no recursion
        hint = (
            f"fine for the lecture's MLP (depth {LECTURE_MLP_DEPTH}); beyond "
            f"{result.works:,} nodes deep, backward() fails as said"
        )
    limit = Limit(name, "propagation", text, float(result.works), hint)
    return Check(
        name,
        "propagation",
        PASS,
        f"works up to depth {result.works:,} (a limit, see below)",
        examples=1,
    ), limit


# -- range and precision ------------------------------------------------------

# Relative size, in unit roundoffs, of the error that rounding inside an op's
# own formula can make: cancellation in 1 - t**2 or exp(2x) - 1 costs a few
# units of the largest term (of size about 1), whatever the result's size.
ROUNDING_UNITS = 64
# Exceptions that floating point explains: an overflow, a division by a
# result that underflowed to 0, a math domain error from an argument that
# overflowed. Any other exception is a crash, wherever it happens.
_FLOAT_FAULTS = frozenset(
    {"OverflowError", "ZeroDivisionError", "FloatingPointError", "ValueError"}
)
# Beyond this |x|, exp(4x) overflows and exp(-4x) underflows to 0: formulas
# built from exp (tanh as a quotient of exps, whose backward squares them)
# lose every digit without raising. A finite error past it is an overflow
# limit; nearer in, only rounding explains an error, and a wrong result is
# an error (tanh' = 1e-6 for |x| > 12 is a bug, not float64).
OVERFLOW_EXPLAINS = math.log(sys.float_info.max) / 4
# Inputs this close to 0 are probed for lost digits: what goes wrong there
# (cancellation in exp(2x) - 1, a log that clamps its input at 1e-10) is a
# precision limit, reported with what was seen.
NEAR_ZERO = 1e-6


@dataclass(frozen=True)
class Miss:
    """What the engine got wrong at one point, and whether rounding explains it.

    `explained` is True for an overflow (an exception of `_FLOAT_FAULTS`,
    inf or nan) and for a finite error no larger than rounding in the op's
    formula can make; False for anything else, an error at any |x|.
    """

    x: float
    what: str  # "value", "gradient", or the exception's type name
    got: float | None
    want: float | None
    explained: bool
    overflow: bool

    @property
    def text(self) -> str:
        if self.got is None:
            return f"raises {self.what}"
        if not math.isfinite(self.got):
            return f"gives {self.what} {self.got!r}"
        assert self.want is not None
        return f"gives {self.what} {self.got!r}, should be {self.want:.17g}"

    @property
    def category(self) -> str:
        if self.got is None:
            return "crash"
        return "local-derivative" if self.what == "gradient" else "value"


def _reference(op: str, x: float) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The op's value and derivative at x, from the op table's mpmath function."""
    table = OPS[op]
    with mpmath.workdps(80):
        at = mpmath.mpf(x)
        step = abs(at) * mpmath.mpf("1e-30")  # relative: log near 0 stays real
        value = table.apply_mp([at], None)
        slope = mpmath.diff(lambda t: table.apply_mp([t], None), at, h=step)
    return value, slope


def _single(op: str) -> Graph:
    b = GraphBuilder()
    b.op(op, b.var("x"))
    return b.build()


def _misses(engine: Engine, op: str, xs: list[float], rel: float) -> list[Miss | None]:
    """For each x, None when the engine is right there, else its Miss (one batch)."""
    graph = _single(op)
    results = engine.run_many([(graph, {"x": x}, True) for x in xs])
    return [_miss(engine, op, x, rel, r) for x, r in zip(xs, results, strict=True)]


def _miss(engine: Engine, op: str, x: float, rel: float, result: Any) -> Miss | None:
    if isinstance(result, EngineFault):
        overflow = result.type_name in _FLOAT_FAULTS
        return Miss(x, result.type_name, None, None, overflow, overflow)
    if isinstance(result, WorkerCrash):
        return Miss(x, result.message, None, None, False, False)
    value, slope = _reference(op, x)
    u = engine.unit_roundoff
    near_zero = abs(x) < NEAR_ZERO
    for got, want, what in (
        (result.data[-1], value, "value"),
        (result.grads[0], slope, "gradient"),
    ):
        want_f = float(want)
        if math.isinf(want_f):
            continue  # the true result is not finite in float64: nothing to hold to
        if not math.isfinite(got):
            return Miss(x, what, got, want_f, True, True)
        # Near 0 the value keeps its relative digits; elsewhere results below
        # rounding of 1 (1 - tanh(20)**2) are as good as float64 gets.
        rounding = ROUNDING_UNITS * u * max(1.0, abs(want_f))
        floor = 1e-300 if near_zero and what == "value" else rounding
        if abs(got - want_f) <= rel * abs(want_f) + floor:
            continue
        explained = (
            near_zero or abs(x) >= OVERFLOW_EXPLAINS or abs(got - want_f) <= rounding
        )
        return Miss(x, what, got, want_f, explained, abs(x) >= OVERFLOW_EXPLAINS)
    return None


def range_findings(
    engine: Engine,
    range_limit: float | None = None,
    wrong_ops: frozenset[str] = frozenset(),
) -> tuple[list[Check], list[Limit]]:
    """Large and tiny inputs per op, from the op table's `far_points`.

    An error that rounding or overflow cannot explain (a finite gradient off
    by 1e-6 at x = 20) is an error at any |x|. An overflow, or lost digits
    near 0, is a limit, bisected to its bound; it is an error when the bound
    is in the normal range (or within `range_limit`). Ops already wrong in
    the normal range (`wrong_ops`) are skipped: a limit is only news about
    an op that is right where it matters. Every other op is probed.
    """
    checks: list[Check] = []
    limits: list[Limit] = []
    rel = max(1e-9, 64 * engine.unit_roundoff)
    for op in engine.supported:
        table = OPS[op]
        if op in wrong_ops or not table.far_points:
            continue
        if table.doc.startswith("declared:"):
            continue  # a declared op (--op-def) has its own domain
        points = list(table.far_points)
        misses = [m for m in _misses(engine, op, points, rel) if m is not None]
        error = next((m for m in misses if not m.explained), None)
        if error is not None:
            checks.append(_error_check(op, error))
            continue
        if not misses:
            continue
        if abs(misses[0].x) < NEAR_ZERO:
            limits.append(_precision_limit(op, misses[0]))
            misses = [m for m in misses if abs(m.x) >= NEAR_ZERO]
        # Each side that fails has a bound of its own: tanh as
        # (e^x - e^-x)/(e^x + e^-x) overflows at +710 and at -710.
        for first in _first_per_side(misses):
            bound, at_bound = _threshold(engine, op, first, rel)
            if not at_bound.explained:
                checks.append(_error_check(op, at_bound))
                break
            inside = abs(bound) <= max(NORMAL_RANGE, range_limit or 0.0)
            limit = _range_limit(op, bound, at_bound)
            if inside or (range_limit is not None and abs(first.x) <= range_limit):
                checks.append(
                    Check(f"range[{op}]", "value", FAIL, limit.message, examples=1)
                )
                break  # one failing check per op
            limits.append(limit)
    return checks, limits


def _first_per_side(misses: list[Miss]) -> list[Miss]:
    """The first miss (the nearest far point) on each side of 0 that has one."""
    positive = next((m for m in misses if m.x > 0), None)
    negative = next((m for m in misses if m.x < 0), None)
    return [m for m in (positive, negative) if m is not None]


def _error_check(op: str, miss: Miss) -> Check:
    """A wrong result that no rounding explains, at whatever |x|."""
    message = f"at x = {miss.x:g}, {op} {miss.text}"
    if miss.got is not None and miss.want is not None and math.isfinite(miss.got):
        error = abs(miss.got - miss.want)
        message += (
            f" (an error of {error:.2g}, far more than rounding in float64 "
            "can make there)"
        )
    return Check(f"range[{op}]", miss.category, FAIL, message, examples=1)


def _threshold(engine: Engine, op: str, miss: Miss, rel: float) -> tuple[float, Miss]:
    """The smallest magnitude, towards miss.x, where the op goes wrong (bisected)."""
    x = miss.x
    sign = 1.0 if x > 0 else -1.0
    good, bad, at_bad = 1.0, abs(x), miss
    for _ in range(40):
        if bad - good <= 0.002 * good:
            break
        middle = math.sqrt(good * bad) if bad / good > 4 else (good + bad) / 2
        found = _misses(engine, op, [sign * middle], rel)[0]
        if found is not None:
            bad, at_bad = middle, found
        else:
            good = middle
    return sign * bad, at_bad


def _precision_limit(op: str, miss: Miss) -> Limit:
    message = f"{op} is inexact near 0: at x = {miss.x:g} it {miss.text}"
    hint = "fine above the bound; look at how the formula treats inputs near 0"
    guard = _guarded_input(op, miss)
    if guard is not None:
        hint = (
            f"its value there is {op}({guard:g}): the input is kept from going "
            f"below {guard:g} (as max(x, {guard:g}) or x + {guard:g} would do)"
        )
    elif op == "tanh":
        hint = (
            "a formula that cancels near 0, such as (exp(2x) - 1)/(exp(2x) + 1); "
            "use math.tanh"
        )
    return Limit(f"precision[{op}]", "value", message, abs(miss.x), hint)


# Guards people put in front of log, sqrt and division: 1e-4, 1e-5, ... 1e-20.
_GUARDS = tuple(10.0**-k for k in range(4, 21))


def _guarded_input(op: str, miss: Miss) -> float | None:
    """The guard g when the engine's value near 0 is the op's exact value at g
    (a clamp or an added epsilon), else None: the hint's claim, tested."""
    if miss.what != "value" or miss.got is None or not math.isfinite(miss.got):
        return None
    table = OPS[op]
    if table.arity != 1 or table.takes_constant:
        return None
    for guard in _GUARDS:
        if guard <= abs(miss.x):
            continue  # not a guard at this input
        try:
            at = table.apply_float([math.copysign(guard, miss.x)], None)
        except (ArithmeticError, ValueError):
            continue
        if math.isclose(at, miss.got, rel_tol=1e-9, abs_tol=0.0):
            return guard
    return None


# exp(k*x) overflows float64 for k*x above this (about 709.78).
EXP_OVERFLOWS = math.log(sys.float_info.max)


def _exp_overflowing(bound: float) -> str:
    """The exp that overflows at `bound`, read off it: exp(2x) at 355, exp(-x) at -710.

    Only when the bound is within 1% of where exp(k x) overflows for a small
    whole k; otherwise the words say no more than what was measured.
    """
    k = round(EXP_OVERFLOWS / abs(bound)) if bound else 0
    if not 1 <= k <= 8 or abs(k * abs(bound) - EXP_OVERFLOWS) > 0.01 * EXP_OVERFLOWS:
        return "an exp that overflows there"
    sign = "" if bound > 0 else "-"
    return f"exp({sign}{k if k > 1 else ''}x)"


def _range_limit(op: str, bound: float, miss: Miss) -> Limit:
    table = OPS[op]
    side = "x ≥" if bound > 0 else "x ≤"
    what = f"raises {miss.what}" if miss.got is None else f"gives a wrong {miss.what}"
    message = f"{op} {what} for {side} {bound:.4g}"
    if table.overflow_cause and miss.what == "OverflowError":
        message += ": " + table.overflow_cause.format(exp=_exp_overflowing(bound))
    elif miss.got is not None and not math.isfinite(miss.got):
        message += f" (it gives {miss.got!r}: the result overflows the engine's floats)"
    elif miss.got is not None and miss.overflow:
        message += (
            f" (past |x| = {OVERFLOW_EXPLAINS:.0f}, exp(4x) overflows float64: "
            "formulas built from exp lose every digit there)"
        )
    return Limit(f"range[{op}]", "value", message, bound, table.far_hint)


Finder = Callable[[Engine], tuple[list[Check], list[Limit]]]
