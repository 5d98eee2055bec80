"""The probes' graphs and their spread points, built once per process.

The graphs of the probes (`probes`) depend only on op names and constants,
and every engine of a batch (the mutant gallery, a teacher's class) is
probed with the same ones: each is built once and is then the same object
every time, which the reference cache finds by identity instead of comparing
node by node. The spread points inside a graph's domain are screened once
too. Which graphs a probe asks for, and in what order, stays in `probes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache, wraps
from typing import Any

from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import OPS, Op
from gradcheck.internal.refs.points import SPREAD
from gradcheck.internal.refs.references import domain_problem

# Graphs and point lists kept per cache: a few hundred per engine at most.
PER_PROCESS = 4096
ONCE = lru_cache(maxsize=PER_PROCESS)


def built_once(
    build: Callable[..., Iterator[Graph]],
) -> Callable[..., tuple[Graph, ...]]:
    """`build`'s graphs, built on its first call with the same arguments."""

    @ONCE
    @wraps(build)
    def graphs(*args: Any) -> tuple[Graph, ...]:
        return tuple(build(*args))

    return graphs


@ONCE
def spread_in_domain(graph: Graph, count: int) -> tuple[int, ...]:
    """The first `count` spread points (by index) inside the graph's domain.

    Screened once per process: every engine gets the same points here. The
    screening follows the op table, so `same_table` empties this cache when
    `--op-def` changes the table.
    """
    found: list[int] = []
    variables = graph.variables
    for k in range(len(SPREAD)):
        if len(found) >= count:
            break
        point = {v: SPREAD[(k + 3 * j) % len(SPREAD)] for j, v in enumerate(variables)}
        if domain_problem(graph, point) is None:
            found.append(k)
    return tuple(found)


_table: dict[str, Op] = {}  # the op table `spread_in_domain` screened with


def same_table() -> None:
    """Forget the screened points when an op was declared or restored since."""
    if _table.keys() != OPS.keys() or any(OPS[k] is not v for k, v in _table.items()):
        spread_in_domain.cache_clear()
        _table.clear()
        _table.update(OPS)


@ONCE
def single(name: str, constant: float | None, arity: int) -> Graph:
    """The op alone on its operands x (and y)."""
    b = GraphBuilder()
    args = [b.var(v) for v in ("x", "y")[:arity]]
    b.op(name, *args, constant=constant)
    return b.build()


@ONCE
def scaled(name: str, constant: float | None, arity: int) -> Graph:
    """The op alone, times -1.75: its gradient scaled by an upstream one."""
    b = GraphBuilder()
    args = [b.var(v) for v in ("x", "y")[:arity]]
    b.op("mul_const", b.op(name, *args, constant=constant), constant=-1.75)
    return b.build()


@built_once
def accumulation_graphs_of(
    op_name: str, arity: int, forms: tuple[float | None, ...]
) -> Iterator[Graph]:
    """`probes.op_accumulation_graphs`, for an op of `arity` with these constants."""
    if arity == 1:
        for constant in forms:
            b = GraphBuilder()
            x = b.var("x")
            b.op("add", b.op(op_name, x, constant=constant), x)
            yield b.build()
            b = GraphBuilder()
            x = b.var("x")
            b.op("add", x, b.op(op_name, x, constant=constant))
            yield b.build()
            b = GraphBuilder()
            t = b.op(op_name, b.var("x"), constant=constant)
            b.op("add", t, t)
            yield b.build()
        return
    b = GraphBuilder()
    x = b.var("x")
    b.op(op_name, x, x)
    yield b.build()
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    b.op("add", b.op(op_name, x, y), x)
    yield b.build()
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    b.op("add", y, b.op(op_name, x, y))
    yield b.build()
    b = GraphBuilder()
    x, y = b.var("x"), b.var("y")
    t = b.op(op_name, x, y)
    b.op("add", t, t)
    yield b.build()
    if op_name == "add":  # micrograd issue #2: a = 1; b = a + a; c = b + b
        b = GraphBuilder()
        a = b.var("a")
        t = b.op("add", a, a)
        b.op("add", t, t)
        yield b.build()


@built_once
def accumulation_graphs(
    supported: tuple[str, ...], forms: tuple[tuple[str, float | None], ...]
) -> Iterator[Graph]:
    """The reuse graphs for these ops and one-operand forms (`unary_forms`)."""
    combine = [n for n in ("mul", "add", "sub") if n in supported]
    binary = [n for n in supported if OPS[n].arity == 2]
    for name in binary:  # the same node in both slots: x+x, x*x
        b = GraphBuilder()
        x = b.var("x")
        b.op(name, x, x)
        yield b.build()
    for name, constant in forms:
        for outer in combine:
            for op_first in (True, False):  # f(x) combined with x, both orders
                b = GraphBuilder()
                x = b.var("x")
                t = b.op(name, x, constant=constant)
                b.op(outer, *((t, x) if op_first else (x, t)))
                yield b.build()
            b = GraphBuilder()  # the op's output used twice
            t = b.op(name, b.var("x"), constant=constant)
            b.op(outer, t, t)
            yield b.build()
    for name in binary:
        for outer in combine:
            b = GraphBuilder()  # b(x, y) combined with x and with y
            x, y = b.var("x"), b.var("y")
            t = b.op(name, x, y)
            b.op(outer, b.op(outer, t, x), y)
            yield b.build()
            b = GraphBuilder()  # b(x, y) used by two consumers (diamond)
            x, y = b.var("x"), b.var("y")
            t = b.op(name, x, y)
            b.op(outer, t, b.op(outer, t, y))
            yield b.build()
    if "add" in supported:
        b = GraphBuilder()  # micrograd issue #2: a = 1; b = a + a; c = b + b
        a = b.var("a")
        t = b.op("add", a, a)
        b.op("add", t, t)
        yield b.build()
    if {"mul", "tanh"} <= set(supported):
        b = GraphBuilder()  # one node reused at three depths
        x, y = b.var("x"), b.var("y")
        t = b.op("mul", x, y)
        u = b.op("tanh", b.op("tanh", t))
        b.op("mul", b.op("mul", u, t), b.op("tanh", t))
        yield b.build()


@ONCE
def nested(inner: str, outer: str) -> Graph:
    """(x inner y) outer z: two binary ops, no reuse."""
    b = GraphBuilder()
    b.op(outer, b.op(inner, b.var("x"), b.var("y")), b.var("z"))
    return b.build()


@ONCE
def combined(outer: str, forms: tuple[tuple[str, float | None], ...]) -> Graph:
    """f1(x0) outer f2(x1) outer ...: one output from several, no reuse."""
    b = GraphBuilder()
    parts = [
        b.op(name, b.var(f"x{k}"), constant=constant)
        for k, (name, constant) in enumerate(forms)
    ]
    total = parts[0]
    for part in parts[1:]:
        total = b.op(outer, total, part)
    return b.build()


@built_once
def cancellation(ops: frozenset[str]) -> Iterator[Graph]:
    """Ill-conditioned graphs: huge contributions that cancel exactly or nearly."""
    if {"add_const", "sub_const"} <= ops:
        b = GraphBuilder()  # (x + 1e8) - 1e8: the value loses digits, the gradient is 1
        b.op("sub_const", b.op("add_const", b.var("x"), constant=1e8), constant=1e8)
        yield b.build()
    if {"mul_const", "sub", "add"} <= ops:
        b = GraphBuilder()  # x*1e8 - x*1e8 + x: contributions of 1e8 cancel to 1
        x = b.var("x")
        big = b.op(
            "sub",
            b.op("mul_const", x, constant=1e8),
            b.op("mul_const", x, constant=1e8),
        )
        b.op("add", big, x)
        yield b.build()
    if {"tanh", "mul_const", "sub"} <= ops:
        b = GraphBuilder()  # tanh(x)*1e6 - tanh(x*1.000001)*1e6: near-cancelling paths
        x = b.var("x")
        left = b.op("mul_const", b.op("tanh", x), constant=1e6)
        right = b.op(
            "mul_const",
            b.op("tanh", b.op("mul_const", x, constant=1.000001)),
            constant=1e6,
        )
        b.op("sub", left, right)
        yield b.build()
