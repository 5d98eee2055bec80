"""Check given expressions on an engine: at a point, or at random points.

`check.check_expression` loads the engine; this module parses, picks the
points (inside every node's domain), judges each and builds the report.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gradcheck.errors import PointError, UsageError
from gradcheck.internal.checking.engine_client import (
    REFUSABLE,
    Engine,
)
from gradcheck.internal.checking.judge import judge
from gradcheck.internal.checking.verdict import gradient_rows
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.refs.points import sample_point
from gradcheck.internal.refs.references import (
    FloatLimit,
    domain_problem,
    reference,
)
from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    ExpressionReport,
    ExpressionResult,
)
from gradcheck.seeds import resolve_seed


def check_expression_on(
    loaded: Engine,
    graph: Graph,
    text: str,
    point: Mapping[str, float] | None,
    points: int,
    seed: int | None,
) -> ExpressionReport:
    from gradcheck.internal.refs.symbolic import derivative_formulas

    missing = sorted(graph.ops_used() - set(loaded.supported))
    if missing:
        reasons = "; ".join(
            f"{op}: {loaded.unsupported.get(op, '?')}" for op in missing
        )
        raise UsageError(f"the engine {loaded.target} does not support {reasons}")
    refused = _refused_constants(loaded, graph)
    if refused:
        raise UsageError(f"the engine {loaded.target} does not support {refused}")
    seed = resolve_seed(seed)
    report = ExpressionReport(loaded.target, seed)
    formulas, _ = derivative_formulas(graph)
    rng = random.Random(seed)
    if point is not None:
        chosen = [_given_point(graph, point)]
    else:
        if points < 1:
            raise UsageError("points must be at least 1")
        chosen = []
        for _ in range(points):
            drawn = sample_point(graph, rng, tries=200)
            if drawn is None:
                raise PointError(f"found no point where {text} is defined and smooth")
            chosen.append(drawn)
    for at in chosen:
        problem = domain_problem(graph, at, margins=False)
        if isinstance(problem, FloatLimit):  # float64 overflows there: not judged
            report.results.append(_not_judged(graph, text, at, problem))
            continue
        report.results.append(_check_at(loaded, graph, text, at, formulas))
    return report


def _not_judged(
    graph: Graph, text: str, point: dict[str, float], why: str
) -> ExpressionResult:
    """A point where float64 itself overflows: a limit, and nothing verified."""
    return ExpressionResult(
        expression=text,
        graph=graph,
        point=point,
        value_backprop=None,
        value_reference="",  # not computed: no float64 run can be judged here
        gradients=[],
        status=INCONCLUSIVE,
        category="limit",
        message=why,
    )


def as_graph(expression: str | Graph) -> Graph:
    if isinstance(expression, Graph):
        return expression
    if not isinstance(expression, str):
        raise UsageError(
            f"expected an expression string or a Graph, got {type(expression).__name__}"
        )
    from gradcheck.internal.expr.parser import parse

    return parse(expression)


def _given_point(graph: Graph, point: Mapping[str, float]) -> dict[str, float]:
    missing = [v for v in graph.variables if v not in point]
    if missing:
        raise PointError(f"no value given for {', '.join(missing)}")
    unknown = sorted(set(point) - set(graph.variables))
    if unknown:
        raise PointError(f"{', '.join(unknown)} is not a variable of the expression")
    at = {v: float(point[v]) for v in graph.variables}
    problem = domain_problem(graph, at, margins=False)
    if problem is not None and not isinstance(problem, FloatLimit):
        shown = ", ".join(f"{k}={v:g}" for k, v in at.items())
        raise PointError(f"{problem} (at {shown})")
    return at


def _check_at(
    engine: Engine,
    graph: Graph,
    text: str,
    point: dict[str, float],
    formulas: Mapping[str, str],
) -> ExpressionResult:
    # The user chose the point: no margins around kinks and poles (a point
    # near one is judged when both references agree there).
    ref = reference(graph, point, unit_roundoff=engine.unit_roundoff, margins=False)
    outcome = judge(engine, graph, point, ref=ref, formulas=formulas)
    run = outcome.run
    rows = gradient_rows(graph, run, ref, formulas)
    example = outcome.counterexample
    if example is not None and (example.point != point or example.graph != graph):
        # The diagnosis confirmed its cause on another graph or point: the
        # table and the snippet stay at the user's, the hint says the cause.
        plain = judge(
            engine, graph, point, ref=ref, formulas=formulas, diagnose=False, ran=run
        )  # the run already made at the user's point, not a second one
        if plain.counterexample is not None:
            example = replace(plain.counterexample, hint=outcome.hint)
    if example is not None:
        rows = example.gradients
    status = outcome.status
    return ExpressionResult(
        expression=text,
        graph=graph,
        point=point,
        value_backprop=run.data[-1] if run is not None else None,
        value_reference=_digits(ref.symbolic.value),
        gradients=rows,
        status=status if status in (PASS, FAIL) else INCONCLUSIVE,
        category=outcome.category,
        message=outcome.hint,
        counterexample=example,
    )


def _digits(value: Any) -> str:
    from gradcheck.internal.checking.verdict import digits

    return digits(value)


def _refused_constants(loaded: Engine, graph: Graph) -> str:
    """The graph's op constants the engine was seen to refuse on purpose
    (`x ** 0.5` where `__pow__` takes integers only), as the error says them."""
    found = []
    for node in graph.nodes:
        why = loaded.refused_constants.get(node.op)
        tried = REFUSABLE.get(node.op, ())
        kept = loaded.op_constants.get(node.op, tried)
        if why and node.constant in tried and node.constant not in kept:
            found.append(f"{node.op} with {node.constant:g} (it refuses {why})")
    return "; ".join(dict.fromkeys(found))
