"""Gradescope autograder results (`results.json`) for teachers who grade there.

Gradescope reads `/autograder/results/results.json`: a top-level `score`,
`output` and `execution_time`, and a `tests` list whose entries have `name`,
`score`, `max_score`, `status` ("passed" or "failed"), `output` and
`visibility` (their "Autograder Specifications" page). One test per check,
worth one point; with several targets, one per target and check, the target
in the name.

What costs points is what the text report calls an error, and nothing more
(a false alarm costs a student points they should have): a check that was
skipped or verified nothing, and a failure already counted under another
check (`same_as`, e.g. `-` built from a wrong `*`), are listed with
`max_score` 0. Limits cost points only under `--strict`. A target that did
not load is one failed test named `load`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gradcheck.internal.output.render import explain_check
from gradcheck.internal.output.reproduce_text import reproduce_lines
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, SKIP, Check, EngineReport

# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, "EngineReport | str"]
POINTS = 1.0
VISIBLE = "visible"


def _test(
    name: str, score: float, max_score: float, passed: bool, output: str
) -> dict[str, Any]:
    return {
        "name": name,
        "score": score,
        "max_score": max_score,
        "status": "passed" if passed else "failed",
        "output": output,
        "visibility": VISIBLE,
    }


def check_output(check: Check, seed: int) -> str:
    """What a student reads under one test: the verdict and how to see it."""
    if check.status != FAIL:
        return f"{check.status}: {check.message}"
    lines = [explain_check(check)]
    where = check.location
    if where is not None:
        file, line = where
        lines.append(f"look at: {file}" + (f", line {line}" if line else ""))
    replay = reproduce_lines(check)  # the rerun command and the snippet
    if replay:
        lines += ["", *replay]
    lines.append(f"seed: {seed} (rerun with --seed {seed})")
    return "\n".join(lines)


def check_test(check: Check, seed: int, prefix: str = "") -> dict[str, Any]:
    """One check as one Gradescope test."""
    name = prefix + check.name
    output = check_output(check, seed)
    if check.status == PASS:
        return _test(name, POINTS, POINTS, True, output)
    if check.status in (SKIP, INCONCLUSIVE):  # nothing judged: no points at stake
        return _test(name, 0.0, 0.0, True, output)
    if check.same_as is not None:
        output = f"counted once, under {check.same_as}\n{output}"
        return _test(name, 0.0, 0.0, False, output)
    return _test(name, 0.0, POINTS, False, output)


def target_tests(
    name: str, report: EngineReport | str, strict: bool, prefix: str
) -> list[dict[str, Any]]:
    """The tests of one target: its checks and (under --strict) its limits."""
    if isinstance(report, str):
        return [
            _test(prefix + "load", 0.0, POINTS, False, f"{name} did not load: {report}")
        ]
    tests = [check_test(check, report.seed, prefix) for check in report.checks]
    for item in report.limits:
        text = item.message + (f"\nhint: {item.hint}" if item.hint else "")
        if strict:
            tests.append(_test(f"{prefix}limit[{item.name}]", 0.0, POINTS, False, text))
        else:
            note = f"limit (not an error without --strict): {text}"
            tests.append(_test(f"{prefix}limit[{item.name}]", 0.0, 0.0, True, note))
    return tests


def _summary(name: str, report: EngineReport | str) -> str:
    if isinstance(report, str):
        return f"{name}: ERROR: {report}"
    failed = [c for c in report.failures if c.same_as is None]
    verdict = report.status.upper()
    plural = "" if len(failed) == 1 else "s"
    found = f", {len(failed)} distinct failing check{plural}" if failed else ""
    return f"{name}: {verdict} ({len(report.checks)} checks{found}; seed {report.seed})"


def results_document(
    outcomes: Sequence[Outcome], strict: bool = False
) -> dict[str, Any]:
    """The whole `results.json` for one run of `gradcheck engine`."""
    several = len(outcomes) > 1
    tests: list[dict[str, Any]] = []
    for name, report in outcomes:
        tests += target_tests(name, report, strict, f"{name}: " if several else "")
    seconds = sum(r.seconds for _, r in outcomes if not isinstance(r, str))
    score = sum(test["score"] for test in tests)
    total = sum(test["max_score"] for test in tests)
    lines = [f"gradcheck: {score:g} of {total:g} points"]
    lines += [_summary(name, report) for name, report in outcomes]
    return {
        "score": score,
        "execution_time": round(seconds),
        "output": "\n".join(lines),
        "tests": tests,
    }


def write_gradescope(
    outcomes: Sequence[Outcome], path: str | Path, strict: bool = False
) -> Path:
    """Write `results.json` to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = results_document(outcomes, strict)
    target.write_text(
        json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return target
