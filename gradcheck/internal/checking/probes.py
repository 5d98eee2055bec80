"""The targeted probes, simplest first: values, each op alone, reuse, chains.

Each probe builds small graphs from the ops the engine supports, draws points
inside their domains, and judges every example. A probe passes when no
example fails; its first failure becomes the counterexample. Graphs are
ordered smallest first, so the counterexample is already minimal.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gradcheck.internal.checking.chains import (
    CHAIN_START,
    Pair,
    chain_graph,
    chain_pairs,
)
from gradcheck.internal.checking.engine_client import Engine
from gradcheck.internal.checking.judge import judge
from gradcheck.internal.checking.verdict import NOT_RUN, Outcome, prepare
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import OPS, POW_EXPONENTS
from gradcheck.internal.refs.points import SPREAD, sample_point
from gradcheck.internal.refs.references import domain_problem
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, SKIP, Check

# Constants for the *_const and reflected forms: integer, fraction, negative.
CONSTANTS = (2.0, -0.5, 3.25)
DEEP = 2500  # deeper than CPython's default recursion limit of 1000


@dataclass
class Example:
    graph: Graph
    point: dict[str, float]


def unary_forms(engine: Engine) -> list[tuple[str, float | None]]:
    """Every supported one-operand op with each constant it is probed with."""
    forms: list[tuple[str, float | None]] = []
    for name in engine.supported:
        op = OPS[name]
        if op.arity != 1:
            continue
        if name == "pow":
            forms.extend((name, n) for n in POW_EXPONENTS)
        elif name in engine.op_constants:  # measured on the engine (a slope)
            forms.extend((name, c) for c in engine.op_constants[name])
        elif op.takes_constant:
            forms.extend((name, c) for c in CONSTANTS)
        else:
            forms.append((name, None))
    return forms


def binary_ops(engine: Engine) -> list[str]:
    return [n for n in engine.supported if OPS[n].arity == 2]


def run_examples(
    engine: Engine,
    name: str,
    category: str,
    examples: Iterable[Example],
    values_only: bool = False,
) -> Check:
    """Judge examples in order; the first failure is the counterexample."""
    start = time.perf_counter()
    count = inconclusive = not_run = 0
    not_run_why = ""
    for outcome in judged_in_order(engine, examples, values_only):
        count += 1
        if outcome.status == INCONCLUSIVE:
            inconclusive += 1
            if outcome.hint.startswith(NOT_RUN):
                not_run += 1
                not_run_why = not_run_why or outcome.hint.removeprefix(NOT_RUN)
        elif outcome.status == FAIL:
            assert outcome.category is not None
            return Check(
                name,
                outcome.category,
                FAIL,
                outcome.hint,
                outcome.counterexample,
                count,
                inconclusive,
                time.perf_counter() - start,
            )
    seconds = time.perf_counter() - start
    if count == 0:
        return Check(
            name, category, SKIP, "no example: the ops it needs are unsupported"
        )
    if inconclusive == count:
        if not_run == count:
            why = f"all {count} examples not run: {not_run_why}"
        elif not_run:
            why = (
                f"{not_run} of {count} examples not run ({not_run_why}), the "
                "references disagreed on the others"
            )
        else:
            why = f"the references disagreed on all {count} examples"
        return Check(
            name, category, INCONCLUSIVE, f"verified nothing: {why}",
            None, count, inconclusive, seconds,
        )  # fmt: skip
    message = f"{count} examples"
    if inconclusive - not_run:
        message += (
            f", {inconclusive - not_run} inconclusive (references disagree at a kink)"
        )
    if not_run:
        message += f", {not_run} not run: {not_run_why}"
    return Check(name, category, PASS, message, None, count, inconclusive, seconds)


# Examples go to the worker in batches: one round trip per example costs more
# than most engines take to run one. The first batches are small, because a
# buggy engine tends to fail early and the rest of a batch is then wasted.
BATCHES = (8, 16, 32, 64)


def judged_in_order(
    engine: Engine,
    examples: Iterable[Example],
    values_only: bool = False,
    batches: tuple[int, ...] = BATCHES,
) -> Iterator[Outcome]:
    """The outcome of each example, in order, the engine runs batched.

    Examples that are inconclusive without running (domain, disagreeing
    references, past a measured limit) are not sent. A batch stops at a
    dead or hung worker; the examples after it are then run one by one.
    """
    pending = iter(examples)
    sizes = itertools.chain(batches, itertools.repeat(batches[-1]))
    while batch := list(itertools.islice(pending, next(sizes))):
        screened = [(e, prepare(engine, e.graph, e.point)) for e in batch]
        wanted = [(e, ref) for e, ref in screened if not isinstance(ref, Outcome)]
        answers = (
            engine.run_many(
                [(e.graph, e.point, not values_only) for e, _ in wanted],
                stop_at_crash=True,
            )
            if wanted
            else []
        )
        ran = {id(e): answer for (e, _), answer in zip(wanted, answers, strict=False)}
        for example, screen in screened:
            if isinstance(screen, Outcome):
                yield screen
                continue
            yield judge(
                engine,
                example.graph,
                example.point,
                ref=screen,
                values_only=values_only,
                ran=ran.get(id(example)),
            )


def _points(graph: Graph, rng: random.Random, count: int) -> Iterator[Example]:
    """`count` points for a graph: the spread values first, then random ones."""
    variables = graph.variables
    seen = 0
    for k in range(len(SPREAD)):
        if seen >= count:
            return
        point = {v: SPREAD[(k + 3 * j) % len(SPREAD)] for j, v in enumerate(variables)}
        if domain_problem(graph, point) is None:
            seen += 1
            yield Example(graph, point)
    while seen < count:
        drawn = sample_point(graph, rng)
        if drawn is None:
            return
        seen += 1
        yield Example(graph, drawn)


def _single(name: str, constant: float | None, arity: int) -> Graph:
    b = GraphBuilder()
    args = [b.var(v) for v in ("x", "y")[:arity]]
    b.op(name, *args, constant=constant)
    return b.build()


def value_probe(engine: Engine, rng: random.Random) -> Check:
    """1. Forward values of every op alone, across its domain.

    The two-operand ops go first: learners build neg, `x * 3` and `-` from
    `*` and `+`, so a wrong `*` is named as itself, not as a wrong `-x`.
    """

    def examples() -> Iterator[Example]:
        first = {"add": 0, "mul": 1}
        for name in sorted(binary_ops(engine), key=lambda n: first.get(n, 2)):
            yield from _points(_single(name, None, 2), rng, 5)
        for name, constant in unary_forms(engine):  # all of SPREAD: |x| <= 10
            yield from _points(_single(name, constant, 1), rng, len(SPREAD))

    return run_examples(engine, "value", "value", examples(), values_only=True)


def local_derivative_probe(
    engine: Engine, rng: random.Random, op_name: str, scale: bool = True
) -> Check:
    """2. One op alone on distinct inputs, then scaled by an upstream gradient.

    The scaling uses `x * c` (mul_const); pass `scale=False` when that op
    itself failed, so that its bug is not reported again under every op.
    """
    op = OPS[op_name]

    def examples() -> Iterator[Example]:
        forms = (
            [c for n, c in unary_forms(engine) if n == op_name]
            if op.arity == 1
            else [None]
        )
        count = len(SPREAD) if op.arity == 1 else 6  # one operand: |x| <= 10
        for constant in forms:
            yield from _points(_single(op_name, constant, op.arity), rng, count)
        if scale and "mul_const" in engine.supported and op_name != "mul_const":
            for constant in forms:
                b = GraphBuilder()
                args = [b.var(v) for v in ("x", "y")[: op.arity]]
                b.op(
                    "mul_const", b.op(op_name, *args, constant=constant), constant=-1.75
                )
                yield from _points(b.build(), rng, 3)

    return run_examples(
        engine, f"local-derivative[{op_name}]", "local-derivative", examples()
    )


def op_accumulation_graphs(engine: Engine, op_name: str) -> Iterator[Graph]:
    """Graphs that reuse a node with only `op_name` and `+` in them.

    A `=` instead of `+=` in one op's backward shows here under that op's
    own name, whatever the other ops do: f(x) + x, x + f(x), f(x) + f(x)
    for one operand; b(x, x), b(x, y) + x, y + b(x, y), b(t, t) for two.
    """
    op = OPS[op_name]
    if op.arity == 1:
        forms = [c for n, c in unary_forms(engine) if n == op_name]
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


def op_accumulation_probe(engine: Engine, rng: random.Random, op_name: str) -> Check:
    """3a. One op's input reused, with only that op and `+` (`accumulation[op]`)."""

    def examples() -> Iterator[Example]:
        if "add" not in engine.supported:
            return
        for graph in op_accumulation_graphs(engine, op_name):
            yield from _points(graph, rng, 2)

    return run_examples(engine, f"accumulation[{op_name}]", "accumulation", examples())


def accumulation_probe(engine: Engine, rng: random.Random) -> Check:
    """3. Reuse: a + a, a * a, diamonds, fan-out on the input of every op."""
    combine = [n for n in ("mul", "add", "sub") if n in engine.supported]

    def graphs() -> Iterator[Graph]:
        for name in binary_ops(engine):  # the same node in both slots: x+x, x*x
            b = GraphBuilder()
            x = b.var("x")
            b.op(name, x, x)
            yield b.build()
        for name, constant in unary_forms(engine):
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
        for name in binary_ops(engine):
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
        if "add" in engine.supported:
            b = GraphBuilder()  # micrograd issue #2: a = 1; b = a + a; c = b + b
            a = b.var("a")
            t = b.op("add", a, a)
            b.op("add", t, t)
            yield b.build()
        if {"mul", "tanh"} <= set(engine.supported):
            b = GraphBuilder()  # one node reused at three depths
            x, y = b.var("x"), b.var("y")
            t = b.op("mul", x, y)
            u = b.op("tanh", b.op("tanh", t))
            b.op("mul", b.op("mul", u, t), b.op("tanh", t))
            yield b.build()

    def examples() -> Iterator[Example]:
        for graph in graphs():
            yield from _points(graph, rng, 2)

    return run_examples(engine, "accumulation", "accumulation", examples())


def _chain(engine: Engine, length: int, rng: random.Random) -> Graph | None:
    """A short chain x -> f1 -> f2 -> ... of smooth unary ops, no reuse.

    Random undo pairs of the op table, and a `tanh` for curvature: values
    stay near the start and the gradient far from 0 and from overflow, so a
    wrong step anywhere along it shows in the input's gradient.
    """
    ops = set(engine.supported)
    pairs = chain_pairs(ops)
    if not pairs and "tanh" not in ops:
        return None
    b = GraphBuilder()
    node = b.var("x")
    next_tanh = 50
    while len(b) - 1 < length:
        if "tanh" in ops and (len(b) >= next_tanh or not pairs):
            node = b.op("tanh", node)
            next_tanh += 100
            continue
        first, second = rng.choice(pairs)
        node = b.op(first[0], node, constant=first[1])
        node = b.op(second[0], node, constant=second[1])
    return b.build(output=length)


def propagation_probe(engine: Engine, rng: random.Random) -> Check:
    """4. Chains of ops and several outputs combined, with no reuse at all."""
    forms = unary_forms(engine)
    combine = [n for n in ("add", "mul") if n in engine.supported]
    if not forms:
        combine = []  # nothing to chain or combine without one-operand ops

    def graphs() -> Iterator[Graph]:
        for length in (2, 3, 5, 8):
            chain = _chain(engine, length, rng)
            if chain is not None:
                yield chain
        for first, c1 in forms:
            second, c2 = rng.choice(forms)
            b = GraphBuilder()
            b.op(second, b.op(first, b.var("x"), constant=c1), constant=c2)
            yield b.build()
        for inner in binary_ops(engine):  # (x op1 y) op2 z, no reuse
            outer_op = rng.choice(binary_ops(engine))
            b = GraphBuilder()
            b.op(outer_op, b.op(inner, b.var("x"), b.var("y")), b.var("z"))
            yield b.build()
        yield from _cancellation(engine)
        for outer in combine:  # many outputs combined into one
            b = GraphBuilder()
            parts = []
            for k, (name, constant) in enumerate(rng.sample(forms, min(4, len(forms)))):
                parts.append(b.op(name, b.var(f"x{k}"), constant=constant))
            total = parts[0]
            for part in parts[1:]:
                total = b.op(outer, total, part)
            yield b.build()

    def examples() -> Iterator[Example]:
        for graph in graphs():
            yield from _points(graph, rng, 2)

    return run_examples(engine, "propagation", "propagation", examples())


def _cancellation(engine: Engine) -> Iterator[Graph]:
    """Ill-conditioned graphs: huge contributions that cancel exactly or nearly."""
    ops = set(engine.supported)
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


def deep_probe(engine: Engine, pairs: tuple[Pair, ...], depth: int = DEEP) -> Check:
    """4b. A chain deeper than the default recursion limit.

    The chain is the depth search's own (`chains.chain_graph`), so at a
    measured depth limit it is exactly the graph that just worked there.
    """

    def examples() -> Iterator[Example]:
        if pairs:
            yield Example(chain_graph(pairs, depth), {"x": CHAIN_START})

    return run_examples(engine, f"deep-chain[{depth}]", "propagation", examples())


Probe = Callable[[Engine, random.Random], Check]
