"""GitHub Actions output: a Markdown job summary and `::error` annotations.

GitHub shows neither JUnit files nor plain logs in a pull request by itself;
it does show the Markdown appended to `$GITHUB_STEP_SUMMARY` and the
annotations a step prints as workflow commands. Annotations point at the
engine file and line where the failing op is defined, when the check knows
it (`check.location`); otherwise they carry no file. They are written to
stderr, which the runner reads too, so `--json` on stdout stays one document.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from gradcheck.internal.output.json_doc import errors_by_category, report_status
from gradcheck.internal.output.render import clip
from gradcheck.internal.output.reproduce_text import reproduce_lines
from gradcheck.report import FAIL, EngineReport

# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, "EngineReport | str"]


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    """True when GitHub Actions runs us (it sets GITHUB_ACTIONS=true)."""
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def location(check: Any) -> tuple[str, int | None] | None:
    """(file, line) of the failing op's definition, when the checker found it."""
    where = getattr(check, "location", None)
    if not where:
        where = getattr(check.counterexample, "location", None)
    if not where:
        return None
    file, line = where
    return str(file), (int(line) if line is not None else None)


def annotation(title: str, message: str, where: tuple[str, int | None] | None) -> str:
    """One `::error` workflow command."""
    props = []
    if where is not None:
        file, line = where
        props.append(f"file={_escape_property(_relative(file))}")
        if line is not None:
            props.append(f"line={line}")
    props.append(f"title={_escape_property(title)}")
    return f"::error {','.join(props)}::{_escape_data(message)}"


def _relative(file: str) -> str:
    """Paths relative to the workspace, as GitHub matches them to the diff."""
    root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    try:
        return str(Path(file).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return file


def annotation_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """An annotation per failing check (repeats of one cause once) or load error."""
    lines: list[str] = []
    for target, report in outcomes:
        if isinstance(report, str):
            lines.append(annotation(f"gradcheck: {target} did not load", report, None))
            continue
        for check in report.failures:
            if check.same_as is not None:
                continue
            example = check.counterexample
            text = check.message
            if example is not None and example.hint and example.hint != text:
                text += f"\nhint: {example.hint}"
            if example is not None:
                text += f"\nminimal graph: {example.expression}"
            title = f"gradcheck {check.name} [{check.category}] on {report.engine}"
            lines.append(annotation(title, text, location(check)))
    return lines


def _cell(text: str) -> str:
    return clip(text, 160).replace("|", "\\|")


def _details(check: Any) -> list[str]:
    """A folded block under the table: minimal graph, where to look, and the
    reproducing snippet when the check carries one."""
    example = check.counterexample
    where = location(check)
    replay = reproduce_lines(check, markdown=True)
    if example is None and where is None and not replay:
        return []
    out = ["", f"<details><summary>{check.name}: minimal graph</summary>", ""]
    if where is not None:
        file, line = where
        out += [f"look at `{_relative(file)}`" + (f", line {line}" if line else ""), ""]
    if example is not None:
        out += ["```text", example.expression, f"point: {example.point}"]
        out += [f"hint: {example.hint}", "```"]
    if replay:
        out += ["", *replay]
    return [*out, "</details>"]


def summary_markdown(outcomes: Sequence[Outcome], strict: bool = False) -> str:
    """The job summary: one table of targets, then each engine's failures."""
    out = ["## gradcheck", ""]
    out += ["| target | verdict | errors by category | limits |", "|---|---|---|---|"]
    for target, report in outcomes:
        if isinstance(report, str):
            out.append(f"| `{_cell(target)}` | ERROR | {_cell(report)} | |")
            continue
        counts = errors_by_category(report)
        shown = ", ".join(f"{k}: {n}" for k, n in counts.items()) or "none"
        limits = len(getattr(report, "limits", None) or [])
        verdict = report_status(report).upper()
        out.append(f"| `{_cell(target)}` | {verdict} | {shown} | {limits} |")
    for target, report in outcomes:
        if isinstance(report, str):
            continue
        failing = [c for c in report.checks if c.status == FAIL and c.same_as is None]
        found = list(getattr(report, "limits", None) or [])
        if not failing and not found:
            continue
        out += ["", f"### `{target}`", ""]
        if failing:
            out += ["| check | category | details |", "|---|---|---|"]
            for check in failing:
                name, details = _cell(check.name), _cell(check.message)
                out.append(f"| {name} | {check.category} | {details} |")
            for check in failing:
                out += _details(check)
        if found:
            label = "errors (--strict)" if strict else "not errors unless --strict"
            out += ["", f"Limits ({label}):", ""]
            out += [f"- {_cell(str(getattr(item, 'message', '')))}" for item in found]
        out += ["", f"seed: {report.seed} (rerun with `--seed {report.seed}`)"]
    return "\n".join(out) + "\n"


def write_github(
    outcomes: Sequence[Outcome],
    stream: IO[str],
    env: Mapping[str, str] | None = None,
    strict: bool = False,
) -> None:
    """Annotations on `stream`, and the summary appended to $GITHUB_STEP_SUMMARY."""
    env = os.environ if env is None else env
    for line in annotation_lines(outcomes):
        stream.write(line + "\n")
    stream.flush()
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(summary_markdown(outcomes, strict))
