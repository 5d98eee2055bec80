"""The targeted probes, simplest first: values, each op alone, reuse, chains.

Each probe takes small graphs of the ops the engine supports (built once per
process, `probe_graphs`), draws points inside their domains, and judges
every example. A probe passes when no example fails; its first failure
becomes the counterexample. Graphs are ordered smallest first, so the
counterexample is already minimal.
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
    links_graph,
)
from gradcheck.internal.checking.engine_client import Engine
from gradcheck.internal.checking.judge import judge
from gradcheck.internal.checking.probe_graphs import (
    accumulation_graphs,
    accumulation_graphs_of,
    cancellation,
    combined,
    nested,
    same_table,
    scaled,
    single,
    spread_in_domain,
)
from gradcheck.internal.checking.verdict import NOT_RUN, Outcome, prepare
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import OPS, POW_EXPONENTS, Link
from gradcheck.internal.refs.points import SPREAD, sample_point
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
        if name in engine.op_constants:  # measured on the engine (a slope),
            # or the exponents a pow that refuses some of them accepts
            forms.extend((name, c) for c in engine.op_constants[name])
        elif name == "pow":
            forms.extend((name, n) for n in POW_EXPONENTS)
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
    same_table()  # the cached spread points follow the op table (`--op-def`)
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
    spread = spread_in_domain(graph, count)
    for k in spread:
        point = {v: SPREAD[(k + 3 * j) % len(SPREAD)] for j, v in enumerate(variables)}
        yield Example(graph, point)
    seen = len(spread)
    while seen < count:
        drawn = sample_point(graph, rng)
        if drawn is None:
            return
        seen += 1
        yield Example(graph, drawn)


def value_probe(engine: Engine, rng: random.Random) -> Check:
    """1. Forward values of every op alone, across its domain.

    The two-operand ops go first: learners build neg, `x * 3` and `-` from
    `*` and `+`, so a wrong `*` is named as itself, not as a wrong `-x`.
    """

    def examples() -> Iterator[Example]:
        first = {"add": 0, "mul": 1}
        for name in sorted(binary_ops(engine), key=lambda n: first.get(n, 2)):
            yield from _points(single(name, None, 2), rng, 5)
        for name, constant in unary_forms(engine):  # all of SPREAD: |x| <= 10
            yield from _points(single(name, constant, 1), rng, len(SPREAD))

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
            yield from _points(single(op_name, constant, op.arity), rng, count)
        if scale and "mul_const" in engine.supported and op_name != "mul_const":
            for constant in forms:
                yield from _points(scaled(op_name, constant, op.arity), rng, 3)

    return run_examples(
        engine, f"local-derivative[{op_name}]", "local-derivative", examples()
    )


def op_accumulation_graphs(engine: Engine, op_name: str) -> Iterator[Graph]:
    """Graphs that reuse a node with only `op_name` and `+` in them.

    A `=` instead of `+=` in one op's backward shows here under that op's
    own name, whatever the other ops do: f(x) + x, x + f(x), f(x) + f(x)
    for one operand; b(x, x), b(x, y) + x, y + b(x, y), b(t, t) for two.
    """
    forms = tuple(c for n, c in unary_forms(engine) if n == op_name)
    return iter(accumulation_graphs_of(op_name, OPS[op_name].arity, forms))


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
    graphs = accumulation_graphs(tuple(engine.supported), tuple(unary_forms(engine)))

    def examples() -> Iterator[Example]:
        for graph in graphs:
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
    links: list[Link] = []
    next_tanh = 50
    while len(links) < length:
        if "tanh" in ops and (len(links) + 1 >= next_tanh or not pairs):
            links.append(("tanh", None))
            next_tanh += 100
            continue
        links.extend(rng.choice(pairs))
    return links_graph(tuple(links[:length]))


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
        for first in forms:
            yield links_graph((first, rng.choice(forms)))
        for inner in binary_ops(engine):  # (x op1 y) op2 z, no reuse
            yield nested(inner, rng.choice(binary_ops(engine)))
        yield from cancellation(frozenset(engine.supported))
        for outer in combine:  # many outputs combined into one
            yield combined(outer, tuple(rng.sample(forms, min(4, len(forms)))))

    def examples() -> Iterator[Example]:
        for graph in graphs():
            yield from _points(graph, rng, 2)

    return run_examples(engine, "propagation", "propagation", examples())


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
