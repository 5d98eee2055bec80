"""Does backward() take time linear in the graph, or in its number of paths?

`y = y + y`, n times, has n + 1 nodes and 2**n paths from the output to x.
A backward that visits nodes in topological order does n steps; one that
pushes each gradient down every path (recursing into children at once, or
walking every path of a tree it never merges) does 2**n. The probe times
backward() for growing n, next to a chain of as many nodes without reuse,
and stops as soon as a graph takes long: correct engines cost a few
milliseconds, exponential ones about a second before the probe stops.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from gradcheck.internal.checking.engine_client import Engine, Run, WorkerCrash
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.report import FAIL, PASS, SKIP, Check

SIZES = (8, 10, 12, 14, 16, 18, 20, 22, 24)
# Stop growing n once one graph takes this long; the next would take 4 times.
SLOW = 0.25
# The deadline of one graph while probing (the worker is killed after it).
DEADLINE = 2.0
# Times below this are mostly the round trip to the worker: not evidence.
NOISE = 0.02
# Growth per extra y = y + y that counts as exponential (2 when every path).
GROWTH = 1.5
NAME = "complexity"


@dataclass
class Timing:
    n: int
    seconds: float  # inf when the worker missed the deadline
    chain: float


# Both graphs are built once per process: every engine of a batch times the same.
@lru_cache(maxsize=len(SIZES))
def doubling_graph(n: int) -> Graph:
    """y = x; then y = y + y, n times: n + 1 nodes, 2**n paths."""
    b = GraphBuilder()
    y = b.var("x")
    for _ in range(n):
        y = b.op("add", y, y)
    return b.build()


@lru_cache(maxsize=len(SIZES))
def chain_graph(n: int) -> Graph:
    """y = x; then y = y + 1, n times: n + 1 nodes, one path."""
    b = GraphBuilder()
    y = b.var("x")
    for _ in range(n):
        y = b.op("add_const", y, constant=1.0)
    return b.build()


def complexity_probe(engine: Engine) -> Check:
    """Time backward() on y = y + y repeated; exponential growth is an error."""
    if "add" not in engine.supported or engine.hung:
        return Check(NAME, "propagation", SKIP, "needs + (or the engine hangs)")
    start = time.perf_counter()
    saved = engine.time_limit
    engine.time_limit = min(saved, DEADLINE)
    try:
        timings = _measure(engine)
    finally:
        engine.time_limit = saved
        engine.hung = False  # a deadline missed here is the measurement itself
    seconds = time.perf_counter() - start
    verdict = exponential(timings)
    if verdict is None:
        largest = timings[-1] if timings else None
        shown = (
            f"backward() on y = y + y repeated up to n={largest.n} "
            f"({2**largest.n:,} paths): {largest.seconds:.3f} s"
            if largest
            else "nothing measured"
        )
        return Check(NAME, "propagation", PASS, shown, None, len(timings), 0, seconds)
    return Check(NAME, "propagation", FAIL, verdict, None, len(timings), 0, seconds)


def _measure(engine: Engine) -> list[Timing]:
    timings: list[Timing] = []
    for n in SIZES:
        spent = _time(engine, doubling_graph(n))
        if spent is None:
            break  # the engine raised: other probes report that
        chain = (
            _time(engine, chain_graph(n)) if "add_const" in engine.supported else 0.0
        )
        if spent >= NOISE:  # worth a second look: keep the faster of two runs
            again = _time(engine, doubling_graph(n)) if math.isfinite(spent) else spent
            spent = min(spent, again if again is not None else spent)
        timings.append(Timing(n, spent, chain or 0.0))
        if spent >= SLOW:
            break
    return timings


def _time(engine: Engine, graph: Graph) -> float | None:
    """Seconds for one build and backward (inf past the deadline, None on error)."""
    start = time.perf_counter()
    result = engine.run_many([(graph, {"x": 0.5}, True)])[0]
    spent = time.perf_counter() - start
    if isinstance(result, WorkerCrash):
        return math.inf if result.timeout else None
    return spent if isinstance(result, Run) else None


def exponential(timings: list[Timing]) -> str | None:
    """The error message when time grows like 2**n while nodes grow like n."""
    slow = [t for t in timings if t.seconds >= NOISE]
    if len(slow) < 2:
        return None
    before, last = slow[-2], slow[-1]
    if not math.isfinite(before.seconds):
        return None
    steps = last.n - before.n
    ratio = last.seconds / before.seconds
    growth = ratio ** (1 / steps) if math.isfinite(ratio) else math.inf
    if growth < GROWTH:
        return None
    if last.chain * 5 > last.seconds:  # the chain is as slow: not the paths
        return None
    rate = (
        "doubles"
        if 1.6 <= growth <= 2.5
        else f"grows {growth:.1f}-fold"
        if math.isfinite(growth)
        else "explodes"
    )
    shown = (
        f"{last.seconds:.2g} s"
        if math.isfinite(last.seconds)
        else f"more than {DEADLINE:g} s"
    )
    return (
        "backward walks every path instead of a topological order: time "
        f"{rate} with each y = y + y (n={before.n}: {before.seconds:.2g} s, "
        f"n={last.n}: {shown}; a chain of {last.n + 1} nodes: {last.chain:.2g} s); "
        "visit each node once, in reverse topological order"
    )
