"""Why a gradient is wrong: the category and hint of a failed example.

Walk the graph from the output to the first node whose engine gradient
leaves the reference adjoint: its consumers are all right, so the fault is
in how this node's gradient was formed. Each consumer op is rerun alone on
the engine (then scaled by its upstream gradient, then with a shared
operand) to find a wrong local derivative. When every op is right alone, a
cause is named only if `gradcheck.internal.checking.hypotheses` confirms it on the
engine; otherwise the hint says what was observed and no more.
"""

from __future__ import annotations

from itertools import combinations

from gradcheck.internal.checking import hypotheses
from gradcheck.internal.checking.engine_client import Engine, Run
from gradcheck.internal.checking.hint_words import (
    op_symbol,
    overwrite_hint,
    wrong_derivative_hint,
)
from gradcheck.internal.checking.verdict import (
    Outcome,
    close,
    failed_outcome,
    first_divergent,
    grad_ok,
    gradient_rows,
    leaf_only,
    verdict,
)
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.refs.references import Reference
from gradcheck.report import FAIL, PASS


def diagnose_failure(
    engine: Engine, graph: Graph, run: Run, ref: Reference, divergent: int | None
) -> tuple[str, str, Outcome | None, int | None]:
    """(category, hint, a smaller failing example or None, the divergent node).

    An engine that keeps no gradient on inner nodes is judged on its leaves,
    and then no node is divergent.
    """
    if leaf_only(graph, run):
        category, hint, smaller = _diagnose_leaves(engine, graph, run, ref)
        return category, hint, smaller, None
    assert divergent is not None
    category, hint, smaller = _diagnose(engine, graph, run, ref, divergent)
    return category, hint, smaller, divergent


def _nothing_changed(run: Run) -> bool:
    """backward() left every gradient at 0 or None, the output's included."""
    return all(g == 0.0 for g in run.grads)


NOTHING_CHANGED = (
    "backward() changes no gradient at all, not even the output's: its loop "
    "never runs (is it indented inside build_topo?), or it never seeds "
    "out.grad = 1 before walking the graph"
)


def _diagnose_leaves(
    engine: Engine, graph: Graph, run: Run, ref: Reference
) -> tuple[str, str, Outcome | None]:
    """Diagnose from the op probes alone: the engine keeps leaf gradients only."""
    if _nothing_changed(run):
        return "propagation", NOTHING_CHANGED, None
    for c in range(len(graph.nodes) - 1, -1, -1):
        if graph.nodes[c].is_leaf:
            continue
        verdict = _isolated(engine, graph, ref, c)
        if verdict is not None:
            return verdict
    for i, node in enumerate(graph.nodes):
        if node.op == "var" and not grad_ok(run, ref, i):
            overwritten = _overwrite_hint(engine, graph, ref, i, run.grads[i])
            if overwritten is not None:
                return "accumulation", overwritten, None
    found = _tested_cause(engine, graph, run)
    if found is not None:
        return found
    wrong = [r for r in gradient_rows(graph, run, ref) if not r.ok]
    shown = "; ".join(
        f"{r.variable} gets {r.backprop!r} instead of {float(r.reference)!r}"
        for r in wrong
    )
    category = "accumulation" if graph.has_reuse else "propagation"
    return (
        category,
        (
            f"{shown}, although every op is right on its own (judged on the "
            f"leaves: the engine keeps no gradient on inner nodes){_reuse_note(graph)}"
        ),
        None,
    )


def _reuse_note(graph: Graph) -> str:
    """'; the graph uses t1 2 times' when it shares nodes, else ''."""
    labels = graph.node_labels()
    shared = [
        f"{labels[i]} {graph.fanout(i)} times"
        for i in range(len(graph.nodes))
        if graph.fanout(i) > 1
    ]
    if not shared:
        return ""
    return (
        "; the graph uses "
        + ", ".join(shared[:3])
        + (", ..." if len(shared) > 3 else "")
    )


def _tested_cause(
    engine: Engine, graph: Graph, run: Run
) -> tuple[str, str, Outcome | None] | None:
    """A cause of a failure with every op right alone, confirmed on the engine."""
    found = None
    if hypotheses.has_equal_values(run):
        found = hypotheses.equal_values(engine)
    if found is None:
        found = hypotheses.lost_backward(engine, graph)
    if found is None:
        found = hypotheses.out_of_order(engine)
    if found is None:
        return None
    return found.category, found.hint, _trial_outcome(found)


def _trial_outcome(found: hypotheses.Finding) -> Outcome:
    """The small graph a finding was confirmed on, as a failing outcome."""
    trial = found.trial
    rows = gradient_rows(trial.graph, trial.run, trial.ref)
    divergent = first_divergent(trial.graph, trial.run, trial.ref)
    return failed_outcome(
        trial.graph,
        trial.point,
        trial.run,
        trial.ref,
        rows,
        found.category,
        found.hint,
        divergent,
    )


def _diagnose(
    engine: Engine, graph: Graph, run: Run, ref: Reference, index: int
) -> tuple[str, str, Outcome | None]:
    """(category, hint, the smaller failing example if one was found)."""
    labels = graph.node_labels()
    if index == graph.output and _nothing_changed(run):
        return "propagation", NOTHING_CHANGED, None
    if index == graph.output:
        return (
            "propagation",
            (
                f"after backward() the output's own gradient is {run.grads[index]!r}, "
                "not 1: seed it with out.grad = 1 before walking the graph"
            ),
            None,
        )
    consumers = [c for c, node in enumerate(graph.nodes) if index in node.args]
    for c in consumers:
        verdict = _isolated(engine, graph, ref, c)
        if verdict is not None:
            return verdict
    name = labels[index]
    got, want = run.grads[index], ref.adjoint(index)
    if hypotheses.has_equal_values(run):
        # Equal values can make a node look overwritten: ask that first.
        merged = hypotheses.equal_values(engine)
        if merged is not None:
            return merged.category, merged.hint, _trial_outcome(merged)
    overwritten = _overwrite_hint(engine, graph, ref, index, got)
    if overwritten is not None:
        return "accumulation", overwritten, None
    found = _tested_cause(engine, graph, run)
    if found is not None:
        return found
    ratio = f" ({got / want:.3g} times the right value)" if want and got else ""
    return (
        "accumulation" if graph.has_reuse else "propagation",
        (
            f"{name} gets {got!r} instead of {want!r}{ratio}, although every op "
            f"is right on its own{_reuse_note(graph)}"
        ),
        None,
    )


def _overwrite_hint(
    engine: Engine, graph: Graph, ref: Reference, index: int, got: float
) -> str | None:
    """The hint when node `index` kept only some of its uses' contributions.

    Said only when the engine confirms it: the op whose contribution alone
    was kept, run with its input reused, again keeps only its own.
    """
    uses = graph.fanout(index)
    if uses < 2:
        return None
    consumers = [c for c, node in enumerate(graph.nodes) if index in node.args]
    contributions = []
    for c in consumers:
        node = graph.nodes[c]
        share = sum(
            float(ref.symbolic.partials[c][k])
            for k, a in enumerate(node.args)
            if a == index
        )
        contributions.append(ref.adjoint(c) * share)
    if not _matches_part(got, contributions):
        return None
    writers = list(
        dict.fromkeys(
            (graph.nodes[c].op, graph.nodes[c].constant)
            for c, part in zip(consumers, contributions, strict=True)
            if close(got, part, 1e-7)
        )
    )
    for op, constant in writers:
        confirmed = hypotheses.overwrite(engine, op, constant, ref.value(index))
        if confirmed is None:
            continue
        trial = confirmed.trial
        return (
            f"{overwrite_hint(op_symbol(op))}{graph.node_labels()[index]} is used "
            f"{uses} times, but its gradient {got!r} equals the contribution of "
            f"only some of its uses (all together: {ref.adjoint(index)!r}); "
            f"{op} alone is right, but on {trial.graph.to_text()} at {trial.at()} "
            f"the engine keeps only {op}'s own share "
            f"({'; '.join(trial.wrong_leaves())}): gradients are overwritten (=) "
            "instead of accumulated (+=)"
        )
    return None


def _matches_part(got: float, parts: list[float]) -> bool:
    """True when `got` equals the sum of a proper, non-empty subset of `parts`."""
    if len(parts) > 8:
        return any(close(got, p, 1e-7) for p in parts)
    for size in range(1, len(parts)):
        for subset in combinations(parts, size):
            if close(got, sum(subset), 1e-7):
                return True
    return False


def _isolated(
    engine: Engine, graph: Graph, ref: Reference, consumer: int
) -> tuple[str, str, Outcome | None] | None:
    """Re-run one op alone on the engine, at the values it saw, with its upstream.

    Returns (category, hint, failing outcome) when the op is wrong on its own:
    first the op alone, then scaled by its upstream gradient, then with a
    shared operand used twice (x*x) when the graph used it that way.
    """
    node = graph.nodes[consumer]
    upstream = ref.adjoint(consumer)
    letters = ("x", "y")
    spread_point = {letters[k]: ref.value(a) for k, a in enumerate(node.args)}
    alone = _mini(node.op, node.constant, letters[: len(node.args)], None)
    outcome = verdict(engine, alone, spread_point)
    if outcome.status == FAIL:
        return _blame_op(engine, node.op, alone, outcome, 1.0)
    if upstream != 1.0 and "mul_const" in engine.supported and _finite(upstream):
        scaled = _mini(node.op, node.constant, letters[: len(node.args)], upstream)
        outcome = verdict(engine, scaled, spread_point)
        if outcome.status == FAIL:
            if _all_zero(outcome):
                found = hypotheses.lost_backward(engine, scaled)
                if found is None:
                    found = hypotheses.out_of_order(engine)
                if found is not None:
                    return found.category, found.hint, _trial_outcome(found)
                return (
                    "propagation",
                    (
                        f"{node.op} is right alone but passes no gradient on in "
                        f"{scaled.to_text()}"
                    ),
                    outcome,
                )
            return _blame_op(engine, node.op, scaled, outcome, upstream)
    distinct = list(dict.fromkeys(node.args))
    if len(distinct) < len(node.args):
        names = [letters[distinct.index(a)] for a in node.args]
        shared = _mini(node.op, node.constant, names, None)
        point = {letters[k]: ref.value(a) for k, a in enumerate(distinct)}
        outcome = verdict(engine, shared, point)
        if outcome.status == FAIL:
            if outcome.category in ("crash", "value"):
                return str(outcome.category), outcome.hint, outcome
            hint = _shared_hint(engine, node.op, node.constant, shared, outcome)
            return "accumulation", hint, outcome
    return None


def _shared_hint(
    engine: Engine, op: str, constant: float | None, shared: Graph, outcome: Outcome
) -> str:
    """Why op(x, x) fails when op(x, y) is right: overwritten only if it shows.

    Overwritten is said when the op, rerun with its input reused beside `+`
    (b(x, y) + x, y + b(x, y)), keeps its own share alone there too.
    """
    example = outcome.counterexample
    wrong = "; ".join(
        f"d/d{r.variable} is {r.backprop!r}, should be {float(r.reference)!r}"
        for r in (example.gradients if example else [])
        if not r.ok
    )
    same = (
        f"{shared.to_text()} uses one node twice: the engine is right with two "
        "separate operands but wrong when they are the same node"
    )
    value = next(iter(example.point.values()), None) if example else None
    if value is not None and hypotheses.overwrite(engine, op, constant, value):
        return (
            f"{overwrite_hint(op_symbol(op))}{same}: one contribution "
            "overwrites the other (= instead of +=)"
        )
    return f"{same} ({wrong})"


def _mini(
    op: str,
    constant: float | None,
    names: list[str] | tuple[str, ...],
    upstream: float | None,
) -> Graph:
    b = GraphBuilder()
    out = b.op(op, *[b.var(n) for n in names], constant=constant)
    if upstream is not None:
        b.op("mul_const", out, constant=upstream)
    return b.build()


def _fails_only_on_equal_values(engine: Engine, mini: Graph, outcome: Outcome) -> bool:
    """A failure that needs two distinct nodes with equal data, and nothing else."""
    run = outcome.run
    if run is None:
        return False
    # Engines make hidden nodes too (-y inside x - y), so equal up to sign counts.
    data = [abs(d) for d in run.data]
    if len(set(data)) == len(data):
        return False
    generic = {"x": 0.8125, "y": -1.3671875}
    point = {v: generic[v] for v in mini.variables}
    return verdict(engine, mini, point).status == PASS


def example_point(outcome: Outcome) -> dict[str, float]:
    """The point of an outcome's counterexample ({} when it has none)."""
    example = outcome.counterexample
    return dict(example.point) if example is not None else {}


def _all_zero(outcome: Outcome) -> bool:
    example = outcome.counterexample
    return example is not None and all(
        row.backprop == 0.0 for row in example.gradients if not row.ok
    )


def _blame_op(
    engine: Engine, op: str, mini: Graph, outcome: Outcome, upstream: float
) -> tuple[str, str, Outcome]:
    if outcome.category in ("crash", "value"):
        return str(outcome.category), outcome.hint, outcome
    if _fails_only_on_equal_values(engine, mini, outcome):
        return (
            "accumulation",
            (
                f"nodes with equal values are treated as one: {mini.to_text()} is "
                "right at other points but wrong here, where two different nodes "
                "hold the same value (a visited set keyed by .data, or an "
                "__eq__/__hash__ that compares values?)"
            ),
            outcome,
        )
    if (
        outcome.run is not None
        and outcome.reference is not None
        and example_point(outcome)
    ):
        trial = hypotheses.Trial(
            mini, example_point(outcome), outcome.run, outcome.reference
        )
        dropped = hypotheses.dropped_operand(engine, op, trial)
        if dropped is not None:
            return dropped.category, dropped.hint, outcome
    if _all_zero(outcome) and not _anything_propagates(engine):
        return (
            "propagation",
            (
                "no gradient reaches the inputs of any op (every op alone gives 0): "
                "the output's gradient is not seeded to 1 before the backward loop "
                "runs, or the loop never calls the ops' backward functions"
            ),
            outcome,
        )
    return "local-derivative", _derivative_hint(op, mini, outcome, upstream), outcome


_BASIC = (
    ("mul", ("x", "y")),
    ("add", ("x", "y")),
    ("tanh", ("x",)),
    ("exp", ("x",)),
    ("sub", ("x", "y")),
    ("mul_const", ("x",)),
)


def _anything_propagates(engine: Engine) -> bool:
    """Does any basic op alone give a correct gradient on this engine?"""
    if engine.propagates is not None:
        return engine.propagates
    answer = False
    for op, names in _BASIC:
        if op not in engine.supported:
            continue
        constant = 3.0 if OPS[op].takes_constant else None
        mini = _mini(op, constant, names, None)
        point = {"x": 0.8, "y": -1.3}
        if verdict(engine, mini, {n: point[n] for n in names}).status == PASS:
            answer = True
            break
    engine.propagates = answer
    return answer


def _finite(x: float) -> bool:
    return abs(x) < 1e300 and abs(x) > 1e-300


def _derivative_hint(
    op_name: str, mini: Graph, outcome: Outcome, upstream: float
) -> str:
    example = outcome.counterexample
    assert example is not None
    parts = []
    for row in example.gradients:
        if not row.ok:
            want = float(row.reference)
            parts.append(f"d/d{row.variable} is {row.backprop!r}, should be {want!r}")
    hint = (
        f"{wrong_derivative_hint(op_name)}on {mini.to_text()} at "
        + ", ".join(f"{k}={v!r}" for k, v in example.point.items())
        + ": "
        + "; ".join(parts)
    )
    bad = [r for r in example.gradients if not r.ok]
    if bad and all(r.backprop == 0 for r in bad):
        hint += " (no gradient flows: is its backward missing or masked wrongly?)"
    elif (
        bad
        and upstream != 1.0
        and all(
            close((r.backprop or 0.0) * upstream, float(r.reference), 1e-7) for r in bad
        )
    ):
        hint += " (the upstream gradient out.grad is not multiplied in)"
    elif bad and all(
        abs((r.backprop or 0.0) - float(r.reference)) <= 1e-4 * abs(float(r.reference))
        for r in bad
    ):
        worst = max(
            abs((r.backprop or 0.0) / float(r.reference) - 1)
            for r in bad
            if float(r.reference)
        )
        hint += f" (off by a relative {worst:.1e}: an approximated derivative?)"
    return hint
