"""The versioned JSON documents that `--json` prints, one builder per kind.

Every document starts with `"schema": {"name": ..., "version": 3}` and has a
JSON Schema in `gradcheck/schemas/` (see `schema()`), which the tests hold
real outputs to. Every key is always present: a missing value is `null`,
never an absent key, so a consumer needs no `.get()` guesswork.
Counterexamples are given in full, as text and as a node list that rebuilds
the graph; the 400-character cut is for display only.

Fields the report objects gain over time are read with `getattr` and a
default, so older report objects still produce valid documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from importlib import resources
from typing import IO, Any

from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    SKIP,
    Check,
    Counterexample,
    EngineReport,
    ExpressionReport,
    ExpressionResult,
    GradientRow,
)

VERSION = 3
ENGINE, EXPRESSION, MUTANTS, ERROR = (
    "gradcheck-engine-report",
    "gradcheck-expression-report",
    "gradcheck-mutants-report",
    "gradcheck-error",
)
KINDS = (ENGINE, EXPRESSION, MUTANTS, ERROR)


def _schema_key(name: str) -> dict[str, Any]:
    return {"name": name, "version": VERSION}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) shipped for document kind `name`."""
    if name not in KINDS:
        raise ValueError(f"unknown document kind {name!r}; known: {', '.join(KINDS)}")
    text = (
        resources.files("gradcheck")
        .joinpath("schemas")
        .joinpath(f"{name}.json")
        .read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


# -- shared parts -------------------------------------------------------------


def report_status(report: Any) -> str:
    """pass, fail or inconclusive, also for reports that predate `inconclusive`."""
    status = str(getattr(report, "status", PASS))
    if status != PASS:
        return status
    parts = getattr(report, "checks", None) or getattr(report, "results", [])
    if any(getattr(p, "status", PASS) == INCONCLUSIVE for p in parts):
        return INCONCLUSIVE
    return PASS


def _location(obj: Any) -> dict[str, Any] | None:
    """`check.location` (file, line) as a dict, or None when unknown."""
    where = getattr(obj, "location", None)
    if not where:
        return None
    file, line = where
    return {"file": str(file), "line": int(line) if line is not None else None}


def gradient_row(row: GradientRow) -> dict[str, Any]:
    return {
        "backprop": row.backprop,
        "symbolic": row.symbolic,
        "reference": row.reference,
        "finite_difference": row.finite_difference,
        "abs_error": row.abs_error,
        "tolerance": row.tolerance,
        "ok": row.ok,
    }


def graph_nodes(graph: Any) -> list[dict[str, Any]]:
    """Every node in topological order: enough to rebuild the graph exactly."""
    return [
        {
            "index": i,
            "op": node.op,
            "args": list(node.args),
            "constant": node.constant,
            "name": node.name or None,
        }
        for i, node in enumerate(graph.nodes)
    ]


def counterexample(example: Counterexample | None) -> dict[str, Any] | None:
    if example is None:
        return None
    graph = example.graph
    return {
        "expression": graph.to_text(),
        "display": example.expression,
        "nodes": graph_nodes(graph),
        "output": graph.output,
        "point": dict(example.point),
        "value": {
            "backprop": example.value_backprop,
            "reference": example.value_reference,
        },
        "gradients": {row.variable: gradient_row(row) for row in example.gradients},
        "divergent_node": example.divergent_node,
        "divergent_label": example.divergent_label,
        "hint": example.hint or None,
        "error": example.error,
        "engine_grads": _list_or_none(example.engine_grads),
        "reference_adjoints": _list_or_none(example.reference_adjoints),
        "reproduce": getattr(example, "reproduce", None),
    }


def _list_or_none(values: Any) -> list[Any] | None:
    return None if values is None else list(values)


def check(item: Check) -> dict[str, Any]:
    example = item.counterexample
    return {
        "name": item.name,
        "category": item.category,
        "status": item.status,
        "message": item.message,
        "seconds": float(getattr(item, "seconds", 0.0) or 0.0),
        "examples": item.examples,
        "inconclusive": item.inconclusive,
        "same_as": item.same_as,
        "rerun": _list_or_none(getattr(item, "rerun", None)),
        "location": _location(item) or _location(example),
        "counterexample": counterexample(example),
        # tensor checks: the kind of finding, and its program and elements
        "kind": getattr(item, "kind", None),
        "tensor": _tensor(item),
    }


def _tensor(item: Check) -> dict[str, Any] | None:
    details = getattr(item, "tensor_dict", None)
    return details() if callable(details) else None


def limit(item: Any) -> dict[str, Any]:
    bound = getattr(item, "bound", None)
    return {
        "name": str(getattr(item, "name", "")),
        "category": getattr(item, "category", None),
        "message": str(getattr(item, "message", "")),
        "bound": bound if isinstance(bound, int | float | str) else None,
        "hint": getattr(item, "hint", None) or None,
    }


def errors_by_category(report: EngineReport) -> dict[str, int]:
    """How many failing checks of each category (repeats of one cause once)."""
    counts: dict[str, int] = {}
    for item in report.checks:
        if item.status == FAIL and item.same_as is None:
            counts[item.category] = counts.get(item.category, 0) + 1
    return counts


def exit_code(report: Any, strict: bool = False) -> int:
    """The report's own `exit_code(strict)`, or the same rule computed here."""
    method = getattr(report, "exit_code", None)
    if callable(method):
        return int(method(strict))
    status = report_status(report)
    if status == FAIL or (strict and getattr(report, "limits", [])):
        return 1
    return 3 if status == INCONCLUSIVE else 0


# -- documents ----------------------------------------------------------------


def engine_target(report: EngineReport, strict: bool = False) -> dict[str, Any]:
    """One engine's verdict, ops, limits and checks (`engine_document` lists
    its checks and limits at the top level)."""
    limits = list(getattr(report, "limits", []) or [])
    counts = {
        s: sum(1 for c in report.checks if c.status == s)
        for s in (PASS, FAIL, SKIP, INCONCLUSIVE)
    }
    isolated = getattr(report, "isolated", None)
    return {
        "target": report.engine,
        "status": report_status(report),
        "exit_code": exit_code(report, strict),
        "engine": report.engine,
        "engine_file": getattr(report, "engine_file", None),
        "isolated": bool(isolated) if isolated is not None else None,
        "seed": report.seed,
        "seconds": float(report.seconds),
        "api": dict(getattr(report, "api", None) or {}),
        "ops": {
            "supported": list(report.supported),
            "unsupported": dict(sorted(report.unsupported.items())),
            "not_checked": list(getattr(report, "not_checked", None) or []),
        },
        "summary": {
            "checks": len(report.checks),
            **counts,
            "errors_by_category": errors_by_category(report),
            "limits": len(limits),
        },
        "info": dict(report.info),
        "notes": [str(n) for n in getattr(report, "notes", None) or []],
        "limits": [limit(item) for item in limits],
        "output_tail": [str(n) for n in getattr(report, "output_tail", None) or []],
        "checks": [check(item) for item in report.checks],
    }


# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, "EngineReport | str"]

# The run's exit code is the first of these any target has (else 0), as the
# command's: a failure (or a limit under --strict) beats a load error.
_WORST = ((1, FAIL), (2, "error"), (3, INCONCLUSIVE))


def engine_document(
    outcomes: Sequence[Outcome] | EngineReport, strict: bool = False
) -> dict[str, Any]:
    """The `gradcheck engine --json` document: one shape for any number of targets.

    `targets` holds each target's verdict (or the load error that stopped
    it); `checks` and `limits` hold every target's checks and limits, each
    naming its `target`. With one target, `doc["checks"]` and `doc["limits"]`
    are that engine's, as they were before targets were listed.
    """
    if isinstance(outcomes, EngineReport):
        outcomes = [(outcomes.engine, outcomes)]
    targets: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    for name, report in outcomes:
        if isinstance(report, str):
            targets.append(
                {"target": name, "status": "error", "exit_code": 2, "message": report}
            )
            continue
        entry = {**engine_target(report, strict), "target": name}
        checks += [{"target": name, **item} for item in entry.pop("checks")]
        limits += [{"target": name, **item} for item in entry.pop("limits")]
        targets.append(entry)
    statuses = [t["status"] for t in targets]
    codes = {t["exit_code"] for t in targets}
    code, status = next(((c, s) for c, s in _WORST if c in codes), (0, PASS))
    return {
        "schema": _schema_key(ENGINE),
        "status": status,
        "exit_code": code,
        "targets": targets,
        "checks": checks,
        "limits": limits,
        "summary": {
            "targets": len(targets),
            **{s: statuses.count(s) for s in (PASS, FAIL, INCONCLUSIVE, "error")},
        },
    }


def target_view(document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """One target of an engine document with its own checks and limits, whole.

    For a consumer that reads one engine at a time (a grader's loop).
    """
    entry = dict(document["targets"][index])
    name = entry["target"]
    for key in ("checks", "limits"):
        entry[key] = [
            {k: v for k, v in item.items() if k != "target"}
            for item in document[key]
            if item["target"] == name
        ]
    return entry


def expression_result(result: ExpressionResult) -> dict[str, Any]:
    return {
        "expression": result.expression,
        "nodes": graph_nodes(result.graph),
        "point": dict(result.point),
        "value": {
            "backprop": result.value_backprop,
            "reference": result.value_reference,
        },
        "gradients": {row.variable: gradient_row(row) for row in result.gradients},
        "status": result.status,
        "category": result.category,
        "message": result.message or None,
        "counterexample": counterexample(result.counterexample),
    }


def expression_document(report: ExpressionReport) -> dict[str, Any]:
    """The `gradcheck EXPR ... --json` document."""
    isolated = getattr(report, "isolated", None)
    return {
        "schema": _schema_key(EXPRESSION),
        "status": report_status(report),
        "exit_code": exit_code(report),
        "engine": report.engine,
        "engine_file": getattr(report, "engine_file", None),
        "isolated": bool(isolated) if isolated is not None else None,
        "seed": report.seed,
        "results": [expression_result(r) for r in report.results],
    }


MUTANT_KEYS = (
    "name",
    "expected",
    "found",
    "categories",
    "caught",
    "check",
    "hint",
    "description",
    "seconds",
)


def mutants_document(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """The `gradcheck mutants --json` document; `rows` as the CLI builds them."""
    missed = any(not row.get("caught") for row in rows)
    return {
        "schema": _schema_key(MUTANTS),
        "status": FAIL if missed else PASS,
        "exit_code": 1 if missed else 0,
        "seed": seed,
        "mutants": [{key: row.get(key) for key in MUTANT_KEYS} for row in rows],
    }


def error_document(message: str, target: str | None = None) -> dict[str, Any]:
    """What `--json` prints when there is no report: a usage or load error."""
    return {
        "schema": _schema_key(ERROR),
        "status": "error",
        "exit_code": 2,
        "target": target,
        "message": message,
    }


# -- writing ------------------------------------------------------------------


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such floats become 'nan', 'inf', '-inf'."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            pairs: Any = item.items()
        elif isinstance(item, list):
            pairs = enumerate(item)
        else:
            continue
        for key, child in list(pairs):
            if isinstance(child, float) and not math.isfinite(child):
                item[key] = repr(child)
            else:
                stack.append(child)
    return value


def dump(document: Any, stream: IO[str]) -> None:
    """Write one document, then a newline."""
    json.dump(finite(document), stream, indent=2, allow_nan=False)
    stream.write("\n")
