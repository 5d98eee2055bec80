"""Where in the engine's source each failing check points: file and line.

CI annotations (`::error file=...,line=...`) and the JSON's `location` need
the engine code to blame. The worker reports where each op's method starts
(`Engine.defined_at`) and where a broken op raised (`Engine.broken`); this
module picks, for each failing check, the op it is about: the op in its name
(`local-derivative[tanh]`), else the first divergent node of its minimal
graph, else the only op in that graph. Lines inside a notebook are lines of
the module built from its cells, not of the notebook, so only the file is
kept there.
"""

from __future__ import annotations

import os
from typing import Any

from gradcheck.internal.checking.engine_client import Engine
from gradcheck.internal.expr.graph import CONST, VAR
from gradcheck.report import FAIL, Check, EngineReport


def _op_of(check: Check, known: dict[str, Any]) -> str | None:
    """The op a failing check is about, when one op is to blame."""
    named = check.name.partition("[")[2].rstrip("]")
    if named in known:
        return named
    example = check.counterexample
    if example is None:
        return None
    graph = example.graph
    if example.divergent_node is not None:
        op = graph.nodes[example.divergent_node].op
        if op not in (VAR, CONST):
            return op
    used = graph.ops_used() - {VAR, CONST}
    return next(iter(used)) if len(used) == 1 else None


def _usable(file: str, line: int | None) -> tuple[str, int | None] | None:
    if not os.path.isfile(file):  # source given as text, or a built module
        return None
    return (file, None) if file.endswith(".ipynb") else (file, line)


def locate_failures(engine: Engine, report: EngineReport) -> None:
    """Set `location` on each failing check whose op's definition is known."""
    raised: dict[str, Any] = {
        op: broken["where"]
        for op, broken in engine.broken.items()
        if isinstance(broken.get("where"), dict)
    }
    known = {**engine.defined_at, **dict.fromkeys(raised)}
    for check in report.checks:
        if check.status != FAIL or check.location is not None:
            continue
        op = _op_of(check, known)
        if op is None:
            continue
        if op in raised:
            where = raised[op]
            check.location = _usable(str(where["file"]), where.get("line"))
        elif op in engine.defined_at:
            check.location = _usable(*engine.defined_at[op])
