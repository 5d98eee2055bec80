"""Causes of a wrong gradient, each tested on the engine before it is named.

A hint names a cause only when small graphs run on the engine show it:

* overwritten, not accumulated: with an op's input reused, the input's
  gradient is that op's contribution alone (the last one written), while the
  op is right when its input is not reused;
* a lost backward: an op is right on a leaf but wrong on a computed input,
  while another op on the same computed input is right (the op's backward
  was attached to its input, `self`, instead of `out`);
* a dropped input: an op gives one operand exactly 0 while the reference
  does not, and the other operand its right gradient, at two points;
* nodes with equal values treated as one: `u(x) + u(y)` is right at x != y
  and wrong at x == y;
* out of order: a chain of two ops, each right alone, is wrong for two
  different outer ops alike, with the inner node's gradient right and its
  inputs' wrong (a backward that ran before its output's gradient arrived).

Each test returns a `Finding` (category, hint, the small graph that shows
it) or None; with None the caller says only what it observed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gradcheck.errors import PointError
from gradcheck.internal.checking.engine_client import (
    Engine,
    EngineFault,
    Run,
    WorkerCrash,
)
from gradcheck.internal.checking.hint_words import shown
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.refs.references import Reference, reference

# Generic, distinct leaf values: no two equal, none a simple function of another.
GENERIC = (0.8125, -1.3671875, 0.59375)
_LETTERS = ("x", "y", "z")
# Outer ops for a control graph, each tried on the same computed input.
_CONTROLS: tuple[tuple[str, float | None], ...] = (
    ("mul_const", 2.0),
    ("add_const", 1.5),
    ("neg", None),
    ("tanh", None),
    ("mul", None),
)


@dataclass
class Trial:
    """One small graph run on the engine, with its reference."""

    graph: Graph
    point: dict[str, float]
    run: Run
    ref: Reference

    def grad_ok(self, i: int) -> bool:
        return abs(self.run.grads[i] - self.ref.adjoint(i)) <= (
            self.ref.bounds.grad_tolerance(i)
        )

    def value_ok(self, i: int) -> bool:
        return abs(self.run.data[i] - self.ref.value(i)) <= (
            self.ref.bounds.value_tolerance(i)
        )

    @property
    def ok(self) -> bool:
        """Passes as `judge` passes: every value, and every variable's gradient."""
        nodes = self.graph.nodes
        return all(self.value_ok(i) for i in range(len(nodes))) and all(
            self.grad_ok(i) for i, node in enumerate(nodes) if node.op == "var"
        )

    def kept(self, i: int) -> bool:
        """The engine keeps a gradient on node `i` (None is not 0)."""
        return not (self.run.missing and self.run.missing[i])

    def leaf(self, name: str) -> int:
        return next(
            i
            for i, node in enumerate(self.graph.nodes)
            if node.op == "var" and node.name == name
        )

    def wrong_leaves(self) -> list[str]:
        """'d/dx is G, should be W' for every wrong variable."""
        return [
            f"d/d{node.name} is {self.run.grads[i]!r}, "
            f"should be {self.ref.adjoint(i)!r}"
            for i, node in enumerate(self.graph.nodes)
            if node.op == "var" and not self.grad_ok(i)
        ]

    def at(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.point.items())


@dataclass
class Finding:
    """A cause the engine confirmed: category, hint, the graph that shows it."""

    category: str
    hint: str
    trial: Trial


def attempt(engine: Engine, graph: Graph, point: Mapping[str, float]) -> Trial | None:
    """Run `graph` on the engine; None when it cannot be judged there."""
    point = {k: float(point[k]) for k in graph.variables}
    if not graph.ops_used() <= set(engine.supported) | {"var", "const"}:
        return None
    if graph.ops_used() & engine.hung_ops:
        return None
    try:
        ref = reference(graph, point, unit_roundoff=engine.unit_roundoff)
    except PointError:
        return None
    if not ref.conclusive:
        return None
    try:
        run = engine.run(graph, point, True)
    except (EngineFault, WorkerCrash):
        return None
    return Trial(graph, point, run, ref)


def _single(op: str, constant: float | None, names: Sequence[str]) -> Graph:
    b = GraphBuilder()
    b.op(op, *[b.var(n) for n in names], constant=constant)
    return b.build()


# -- overwritten instead of accumulated -----------------------------------------


def overwrite(
    engine: Engine, op: str, constant: float | None, value: float
) -> Finding | None:
    """Does `op` overwrite its input's gradient? Tested with its input reused.

    On f(x) + x, x + f(x), f(x)*3 + x (or b(x, y) + x, y + b(x, y),
    b(x, y)*3 + x) the reused leaf must get f's contribution alone, the last
    one written, while every other leaf is right and f is right when x is
    not reused. A graph where f's share equals the other use's proves
    nothing and is passed over.
    """
    arity = OPS[op].arity
    names = _LETTERS[:arity]
    point = {"x": value, "y": GENERIC[1] if value != GENERIC[1] else GENERIC[0]}
    point = {n: point[n] for n in names}
    alone = attempt(engine, _single(op, constant, names), point)
    if alone is None or not alone.ok or "add" not in engine.supported:
        return None
    for graph in _reuse_graphs(op, constant, arity, "mul_const" in engine.supported):
        trial = attempt(engine, graph, point)
        if trial is None or trial.ok:
            continue
        inner = next(i for i, n in enumerate(graph.nodes) if n.op == op)
        reused = trial.leaf("x" if graph.variable_uses("x") > 1 else "y")
        got, total = trial.run.grads[reused], trial.ref.adjoint(reused)
        share = sum(
            trial.ref.adjoint(inner) * float(trial.ref.symbolic.partials[inner][k])
            for k, a in enumerate(graph.nodes[inner].args)
            if a == reused
        )
        others = [
            i for i, node in enumerate(graph.nodes) if node.op == "var" and i != reused
        ]
        if _close(share, total - share) or not all(trial.grad_ok(i) for i in others):
            continue
        # The op is deeper than `+`, so its backward runs last: its share
        # alone means it wrote over what `+` had added.
        if _close(got, share):
            return Finding("accumulation", "", trial)
    return None


def _reuse_graphs(
    op: str, constant: float | None, arity: int, scale: bool
) -> list[Graph]:
    """The op's input reused beside `+`, the op deeper than `+`."""
    graphs = []
    names = ("x",) if arity == 1 else ("x", "y")
    orders = [True, False] + ([None] if scale else [])
    for reused in names:
        for op_first in orders:
            b = GraphBuilder()
            leaves = [b.var(n) for n in names]
            t = b.op(op, *leaves, constant=constant)
            x = b.var(reused)
            if op_first is None:  # f(x)*3 + x: the shares differ for `+` too
                b.op("add", b.op("mul_const", t, constant=3.0), x)
            else:
                b.op("add", *((t, x) if op_first else (x, t)))
            graphs.append(b.build())
    return graphs


# -- a dropped operand ---------------------------------------------------------


def dropped_operand(engine: Engine, op: str, trial: Trial) -> Finding | None:
    """`op` (alone, in `trial`) gives one operand exactly 0 and the other its due.

    Confirmed at a second, generic point before it is said.
    """
    if OPS[op].arity != 2:
        return None
    first = _dropped(trial)
    if first is None or out_of_order(engine) is not None:
        # With backward run out of order, x - y built as x + (-y) drops y too.
        return None
    names = trial.graph.variables
    again = attempt(
        engine, trial.graph, {n: GENERIC[k] for k, n in enumerate(names)}
    ) or attempt(engine, trial.graph, {n: abs(GENERIC[k]) for k, n in enumerate(names)})
    if again is None or _dropped(again) != first:
        return None
    position = ("first", "second")[names.index(first)]
    i = trial.leaf(first)
    hint = (
        f"{shown(op)} passes no gradient to its {position} operand: on "
        f"{trial.graph.to_text()} at {trial.at()}, d/d{first} is exactly 0, should "
        f"be {trial.ref.adjoint(i)!r}, while the other operand's gradient is right "
        f"(the same at {again.at()}): its backward adds nothing to {first}'s "
        f"gradient, or {first} is missing from the children (`_prev`) of the result"
    )
    return Finding("local-derivative", hint, trial)


def _dropped(trial: Trial) -> str | None:
    """The one variable whose gradient is exactly 0 (and should not be)."""
    names = trial.graph.variables
    if len(names) != 2 or len(trial.graph.nodes) != 3:
        return None
    zero = [
        n
        for n in names
        if trial.run.grads[trial.leaf(n)] == 0.0 and not trial.grad_ok(trial.leaf(n))
    ]
    right = [n for n in names if trial.grad_ok(trial.leaf(n))]
    return zero[0] if len(zero) == 1 and len(right) == 1 else None


# -- equal values treated as one node ---------------------------------------------


def has_equal_values(run: Run) -> bool:
    """Two distinct nodes hold the same value (up to sign: engines make -y)."""
    data = [abs(d) for d in run.data]
    return len(set(data)) < len(data)


def equal_values(engine: Engine) -> Finding | None:
    """Is u(x) + u(y) right at x != y and wrong at x == y? (cached per engine)"""
    store: dict[str, Finding | None] = engine.hypotheses
    if "equal" not in store:
        store["equal"] = _equal_values(engine)
    return store["equal"]


def _equal_values(engine: Engine) -> Finding | None:
    combine = "add" if "add" in engine.supported else "mul"
    for op, constant in _CONTROLS:
        if op not in engine.supported or OPS[op].arity != 1:
            continue
        b = GraphBuilder()
        b.op(
            combine,
            b.op(op, b.var("x"), constant=constant),
            b.op(op, b.var("y"), constant=constant),
        )
        graph = b.build()
        apart = attempt(engine, graph, {"x": GENERIC[0], "y": GENERIC[1]})
        if apart is None or not apart.ok:
            continue
        together = attempt(engine, graph, {"x": GENERIC[0], "y": GENERIC[0]})
        if together is None or together.ok:
            return None
        hint = (
            f"nodes with equal values are treated as one: {graph.to_text()} is right "
            f"at {apart.at()}, but at {together.at()} "
            f"{'; '.join(together.wrong_leaves())} (a visited set keyed by .data, "
            "or an __eq__/__hash__ that compares values?)"
        )
        return Finding("accumulation", hint, together)
    return None


# -- a backward attached to the wrong node, or run out of order ---------------------


def lost_backward(engine: Engine, graph: Graph) -> Finding | None:
    """An op of `graph` that is right on leaves and wrong on a computed input.

    For each op u of the graph fed by another op v, u(v(...)) is run at
    generic points beside u alone, v alone and a control w(v(...)) with
    another outer op w. u is blamed only when the control is right; when the
    control is wrong as well, the chain itself fails (see `out_of_order`).
    """
    seen: set[tuple[str, float | None, int, str, float | None]] = set()
    for node in reversed(graph.nodes):
        if node.is_leaf:
            continue
        for position, a in enumerate(node.args):
            inner = graph.nodes[a]
            if inner.is_leaf:
                continue
            key = (node.op, node.constant, position, inner.op, inner.constant)
            if key in seen:
                continue
            seen.add(key)
            found = _lost_in(engine, node.op, node.constant, position, inner.op,
                             inner.constant)  # fmt: skip
            if found is not None:
                return found
    return None


def _composite(
    outer: str,
    outer_constant: float | None,
    position: int,
    inner: str,
    inner_constant: float | None,
) -> Graph:
    """outer(..., inner(x[, y]), ...) with fresh leaves everywhere else."""
    b = GraphBuilder()
    inner_arity = OPS[inner].arity
    t = b.op(
        inner, *[b.var(n) for n in _LETTERS[:inner_arity]], constant=inner_constant
    )
    others = iter(_LETTERS[inner_arity:])
    args = [
        t if k == position else b.var(next(others)) for k in range(OPS[outer].arity)
    ]
    b.op(outer, *args, constant=outer_constant)
    return b.build()


def _points(graph: Graph) -> list[dict[str, float]]:
    names = graph.variables
    return [
        {n: GENERIC[k] for k, n in enumerate(names)},
        {n: abs(GENERIC[k]) for k, n in enumerate(names)},
        {n: abs(GENERIC[k]) + 1.0 for k, n in enumerate(names)},
    ]


def _first_judged(engine: Engine, graph: Graph) -> Trial | None:
    for point in _points(graph):
        trial = attempt(engine, graph, point)
        if trial is not None:
            return trial
    return None


def _lost_in(
    engine: Engine,
    outer: str,
    outer_constant: float | None,
    position: int,
    inner: str,
    inner_constant: float | None,
) -> Finding | None:
    composite = _composite(outer, outer_constant, position, inner, inner_constant)
    trial = _first_judged(engine, composite)
    if trial is None or trial.ok:
        return None
    inner_names = _LETTERS[: OPS[inner].arity]
    inner_alone = attempt(
        engine,
        _single(inner, inner_constant, inner_names),
        {n: trial.point[n] for n in inner_names},
    )
    t = next(i for i, n in enumerate(composite.nodes) if n.op == inner)
    # outer alone, its computed operand now a leaf x at the value it had.
    outer_names = ["x" if k == position else "y" for k in range(OPS[outer].arity)]
    outer_point = {"x": trial.ref.value(t)}
    for k, a in enumerate(composite.nodes[-1].args):
        if k != position:
            outer_point["y"] = trial.point[composite.nodes[a].name]
    outer_alone = attempt(
        engine, _single(outer, outer_constant, outer_names), outer_point
    )
    if (
        inner_alone is None
        or not inner_alone.ok
        or outer_alone is None
        or not outer_alone.ok
        or not all(trial.value_ok(i) for i in range(len(composite.nodes)))
    ):
        return None
    control = _control(engine, outer, inner, inner_constant, trial.point)
    if control is None:
        return None
    hint = (
        f"the backward of {shown(outer)} is lost when its input is computed: "
        f"{outer_alone.graph.to_text()} and {inner_alone.graph.to_text()} are right "
        f"alone, and so is {control.graph.to_text()}, but on "
        f"{composite.to_text()} at {trial.at()}: {'; '.join(trial.wrong_leaves())}"
    )
    below = [trial.leaf(composite.nodes[a].name) for a in composite.nodes[t].args]
    if trial.kept(t) and trial.grad_ok(t) and not any(trial.grad_ok(i) for i in below):
        # The computed input got its own gradient, and passed nothing on.
        hint += (
            f" ({inner_alone.graph.to_text()} gets its gradient from "
            f"{shown(outer)} but passes none on: is {shown(outer)}'s backward "
            "attached to `self` instead of `out`, replacing its input's own "
            "backward?)"
        )
    return Finding("propagation", hint, trial)


def _control(
    engine: Engine,
    avoid: str,
    inner: str,
    inner_constant: float | None,
    point: Mapping[str, float],
) -> Trial | None:
    """A right w(inner(...)) for some supported outer op w other than `avoid`.

    Several are tried: `x * 2` goes through the same method as `x * y`, so
    one control op may share the bug of the op under test.
    """
    for op, constant in _CONTROLS:
        if op == avoid or op not in engine.supported:
            continue
        graph = _composite(op, constant, 0, inner, inner_constant)
        names = graph.variables
        at = {n: point.get(n, GENERIC[k]) for k, n in enumerate(names)}
        trial = attempt(engine, graph, at)
        if trial is not None and trial.ok:
            return trial
    return None


def out_of_order(engine: Engine) -> Finding | None:
    """Chains of two right ops wrong whatever the outer op (cached per engine)."""
    store: dict[str, Finding | None] = engine.hypotheses
    if "order" not in store:
        store["order"] = _out_of_order(engine)
    return store["order"]


def _out_of_order(engine: Engine) -> Finding | None:
    """Are chains of two right ops wrong for two different outer ops alike?

    The signature of a backward that runs before its output's gradient is
    complete: the inner node ends with the right gradient, its input with a
    wrong one, whichever op is outside.
    """
    inner = next(
        (op for op, _ in _CONTROLS if op in engine.supported and OPS[op].arity == 1),
        None,
    )
    if inner is None:
        return None
    inner_constant = dict(_CONTROLS)[inner]
    trials: list[Trial] = []
    for outer, constant in _CONTROLS:
        if outer not in engine.supported or len(trials) == 2:
            continue
        graph = _composite(outer, constant, 0, inner, inner_constant)
        trial = _first_judged(engine, graph)
        alone = attempt(
            engine, _single(inner, inner_constant, ["x"]), {"x": GENERIC[0]}
        )
        if trial is None or alone is None or not alone.ok:
            return None
        t = next(i for i, n in enumerate(graph.nodes) if n.op == inner)
        if (
            trial.ok
            or not trial.kept(t)
            or not trial.grad_ok(t)
            or trial.grad_ok(trial.leaf("x"))
        ):
            return None
        trials.append(trial)
    if len(trials) < 2:
        return None
    shown = "; ".join(f"{t.graph.to_text()}: {t.wrong_leaves()[0]}" for t in trials)
    hint = (
        f"an op's backward runs before its output's gradient is complete: in {shown}, "
        "the inner node ends with the right gradient but passes a wrong one on, "
        "whatever the outer op (is the topological order walked forwards, or "
        "the output's gradient seeded after the loop?)"
    )
    return Finding("propagation", hint, trials[0])


def _close(a: float, b: float, rel: float = 1e-7) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)
