"""Measured limits: how deep a graph and how large an input the engine handles.

A limit is right in the normal range but failing beyond a bound: a recursive
topological sort fails a little above 1,000 deep, tanh written through
exp(2x) overflows above |x| of about 355. Each is measured (double, then
bisect) and reported with its bound; it fails the run only when asked
(`min_depth`, `range_limit`, `strict`) or when it reaches the normal range.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath

from gradcheck.checking.engines import Engine, EngineFault, Run, WorkerCrash
from gradcheck.expr.graph import Graph, GraphBuilder
from gradcheck.expr.ops import OPS
from gradcheck.report import FAIL, PASS, SKIP, Check, Limit

DEPTH_CAP = 100_000
# Below this depth a failure is an error: ordinary graphs are this deep.
NORMAL_DEPTH = 100
LECTURE_MLP_DEPTH = 27
# Inputs up to this magnitude are the normal range.
NORMAL_RANGE = 10.0
_PAIRS = (
    (("neg", None), ("neg", None)),
    (("add_const", 0.25), ("sub_const", 0.25)),
    (("mul_const", 2.0), ("mul_const", 0.5)),
)


@dataclass
class DepthResult:
    """The deepest chain that worked, and what happened just beyond it."""

    works: int
    fails: int | None
    failure: str = ""
    cause: str = ""
    timed_out: bool = False


def _pairs(engine: Engine) -> list[tuple[tuple[str, float | None], ...]]:
    ops = set(engine.supported)
    return [p for p in _PAIRS if {p[0][0], p[1][0]} <= ops]


def undo_chain(engine: Engine, length: int) -> dict[str, Any] | None:
    """x -> ... of `length` links in pairs that undo each other: d out/dx = 1.

    Built as the worker's plain program directly: a 100,000-link Graph
    object would cost more than running it. Read-only: the same program is
    handed out again for the same pairs and length.
    """
    pairs = tuple(_pairs(engine))
    if not pairs:
        return None
    return _undo_chain(pairs, length)


@functools.lru_cache(maxsize=4)
def _undo_chain(
    pairs: tuple[tuple[tuple[str, float | None], ...], ...], length: int
) -> dict[str, Any]:
    nodes: list[list[Any]] = [["var", [], None, "x"]]
    k = 0
    while len(nodes) - 1 < length:
        for op, constant in pairs[k % len(pairs)]:
            nodes.append([op, [len(nodes) - 1], _plain(constant), ""])
        k += 1
    return {
        "nodes": nodes[: length + 1],
        "point": {"x": 0.5},
        "backward": True,
        "ends_only": True,
    }


def _plain(constant: float | None) -> Any:
    if constant is not None and float(constant).is_integer():
        return int(constant)
    return constant


# A deep chain is slow to build, not hung: its deadline grows with its
# length (100,000 links get 6 s), and never falls below the engine's own.
CHAIN_SECONDS = 1.0
CHAIN_SECONDS_PER_LINK = 5e-5


def chain_deadline(engine: Engine, length: int) -> float:
    return max(engine.limit, CHAIN_SECONDS + CHAIN_SECONDS_PER_LINK * length)


def _depth_works(engine: Engine, length: int) -> tuple[bool, str, str, bool]:
    """(works, what went wrong, its cause, whether it was a timeout)."""
    length += length % 2  # whole pairs only: the gradient is then exactly 1
    chain = undo_chain(engine, length)
    assert chain is not None
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
    engine: Engine, cap: int = DEPTH_CAP, start: int = 2500
) -> DepthResult | None:
    """The deepest undo-chain that backpropagates right: double, then bisect.

    Most engines either fail near 1,000 (recursion) or work at any depth, so
    after `start` the cap itself is tried first: a correct engine then costs
    two chains, not seven doublings. A chain that runs past its deadline ends
    the search: every further try would cost a whole deadline, so the bound
    is given as it stands (within a factor of two).
    """
    if undo_chain(engine, 2) is None:
        return None
    good, bad, failure, cause, timed_out = 0, None, "", "", False
    cap_failure: tuple[str, str, bool] = ("", "", False)
    length = min(start, cap)
    ok, why, because, late = _depth_works(engine, length)
    if ok and length < cap:
        good = length
        ok, why, because, late = _depth_works(engine, cap)
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
        ok, why, because, late = _depth_works(engine, length)
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
        ok, why, because, late = _depth_works(engine, middle)
        if ok:
            good = middle
        else:
            bad, failure, cause, timed_out = middle, why, because, late
    return DepthResult(good, bad, failure, cause, timed_out)


def depth_findings(
    engine: Engine, cap: int = DEPTH_CAP, min_depth: int | None = None
) -> tuple[Check, Limit | None]:
    """The depth check (an error below the normal depth) and the depth limit."""
    name = "depth"
    result = measure_depth(engine, max(cap, min_depth or 0))
    if result is None:
        return Check(name, "propagation", SKIP, "no op pairs to build a chain"), None
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
    limit = Limit(name, "propagation", text, float(result.works), hint)
    return Check(
        name,
        "propagation",
        PASS,
        f"works up to depth {result.works:,} (a limit, see below)",
        examples=1,
    ), limit


# -- range and precision ------------------------------------------------------

# (op, magnitudes tried in order, sign) ; the first magnitudes are in range.
_RANGE_POINTS: dict[str, tuple[float, ...]] = {
    "tanh": (1e-12, 20.0, -20.0, 400.0, -400.0, 1e4, -1e4),
    "sigmoid": (1e-12, 20.0, -20.0, 800.0, -800.0),
    "exp": (1e-12, 700.0, -700.0),
    "log": (1e-300, 1e-12, 1e300),
}
_HINTS = {
    "tanh": "use math.tanh, or a formula in exp(-2|x|); fine for |x| below the bound",
    "sigmoid": "use exp(x) / (1 + exp(x)) for negative x; fine above the bound",
    "exp": "inputs this large overflow float64 anyway; guard them before exp",
    "log": "a log of a value this close to 0 or this large needs no special case",
}
_CAUSES = {
    ("tanh", "OverflowError"): "it computes exp(2x); math.tanh has no such limit",
    ("sigmoid", "OverflowError"): "it computes exp(-x); branch on the sign of x",
}


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


def _wrong_at(engine: Engine, op: str, x: float, rel: float) -> str:
    """'' when the engine is right at x; else what went wrong, in words."""
    value, slope = _reference(op, x)
    result = engine.run_many([(_single(op), {"x": x}, True)])[0]
    if isinstance(result, EngineFault):
        return result.type_name
    if isinstance(result, WorkerCrash):
        return result.message
    got_value, got_slope = result.data[-1], result.grads[0]
    # Near 0 the value must keep its relative digits; elsewhere results below
    # one rounding unit of 1 (1 - tanh(20)**2) are as good as float64 gets.
    floor = 1e-300 if abs(x) < 1e-6 else 64 * engine.unit_roundoff
    for got, want, what in (
        (got_value, value, "value"),
        (got_slope, slope, "gradient"),
    ):
        want_f = float(want)
        if math.isinf(want_f):
            continue  # the true result is not finite in float64: nothing to hold to
        tolerance = rel * abs(want_f) + (
            floor if what == "gradient" or abs(x) >= 1e-6 else 1e-300
        )
        if not (abs(got - want_f) <= tolerance):
            error = abs(got - want_f) / abs(want_f) if want_f else abs(got)
            return (
                f"{what} {got!r} (relative error {error:.1e})"
                if math.isfinite(got)
                else f"{what} {got!r}"
            )
    return ""


def range_findings(
    engine: Engine,
    range_limit: float | None = None,
    wrong_ops: frozenset[str] = frozenset(),
) -> tuple[list[Check], list[Limit]]:
    """Large and tiny inputs per op; thresholds bisected and reported as limits.

    Ops already wrong in the normal range (`wrong_ops`) are skipped: a limit
    is only news about an op that is right where it matters.
    """
    checks: list[Check] = []
    limits: list[Limit] = []
    rel = max(1e-9, 64 * engine.unit_roundoff)
    for op, points in _RANGE_POINTS.items():
        if op in wrong_ops:
            continue
        if op not in engine.supported or OPS[op].doc.startswith("declared:"):
            continue  # a declared op (--op-def) has its own domain
        precision_done = False
        for x in points:
            why = _wrong_at(engine, op, x, rel)
            if not why:
                continue
            if abs(x) < 1e-6 and not precision_done:
                precision_done = True
                limits.append(_describe(op, x, x, why))
                continue
            bound = _threshold(engine, op, x, rel)
            limit = _describe(op, x, bound, why)
            inside = (
                abs(bound) <= max(NORMAL_RANGE, range_limit or 0.0) and abs(x) >= 1e-6
            )
            if inside or (range_limit is not None and abs(x) <= range_limit):
                checks.append(
                    Check(f"range[{op}]", "value", FAIL, limit.message, examples=1)
                )
            else:
                limits.append(limit)
            break  # one finding per op: the first bound it meets
    return checks, limits


def _threshold(engine: Engine, op: str, x: float, rel: float) -> float:
    """The smallest magnitude, towards x, where the op goes wrong (bisected)."""
    if abs(x) < 1.0:
        return x
    sign = 1.0 if x > 0 else -1.0
    good, bad = 1.0, abs(x)
    for _ in range(40):
        if bad - good <= 0.002 * good:
            break
        middle = math.sqrt(good * bad) if bad / good > 4 else (good + bad) / 2
        if _wrong_at(engine, op, sign * middle, rel):
            bad = middle
        else:
            good = middle
    return sign * bad


def _describe(op: str, x: float, bound: float, why: str) -> Limit:
    cause = _CAUSES.get((op, why), "")
    if abs(x) < 1e-6:
        message = f"{op} loses digits near 0: at x = {x:g} its {why}"
        hint = "compute it without cancellation near 0"
        if op == "tanh":
            hint = (
                "a formula that cancels near 0, such as (exp(2x) - 1)/(exp(2x) + 1); "
                "use math.tanh"
            )
        return Limit(f"precision[{op}]", "value", message, abs(x), hint)
    side = "x ≥" if bound > 0 else "x ≤"
    what = f"raises {why}" if why.endswith("Error") else f"gives a wrong {why}"
    message = f"{op} {what} for {side} {bound:.4g}"
    if cause:
        message += f": {cause}"
    return Limit(
        f"range[{op}]",
        "value",
        message,
        bound,
        _HINTS.get(op, "guard the formula against overflow"),
    )


Finder = Callable[[Engine], tuple[list[Check], list[Limit]]]
