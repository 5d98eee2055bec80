"""Reports as HTML, for Jupyter: registered as `report.HTML_RENDERERS`.

A notebook shows the table of checks, the limits and, when Graphviz's `dot`
is on PATH, each failing graph as an inline SVG. Every piece of text from a
report goes through `html.escape`: messages quote engine output and names.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from typing import Any

from gradcheck.report import (
    HTML_RENDERERS,
    Check,
    Counterexample,
    EngineReport,
    ExpressionReport,
)

# SVGs drawn per report: the first failures, each a distinct example.
MAX_GRAPHS = 3
DOT_TIMEOUT = 10.0
_STATUS_COLOURS = {
    "pass": "#1a7f37",
    "fail": "#cf222e",
    "skip": "#6e7781",
    "inconclusive": "#9a6700",
    "error": "#9a6700",
}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def status_badge(status: str) -> str:
    colour = _STATUS_COLOURS.get(status, "#000")
    return f'<b style="color:{colour}">{esc(status.upper())}</b>'


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th style='text-align:left'>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def svg_of(example: Counterexample, title: str) -> str | None:
    """The counterexample drawn by `dot` as inline SVG; None without Graphviz."""
    from gradcheck.internal.output.dot import counterexample_dot

    program = shutil.which("dot")
    if program is None:
        return None
    try:
        done = subprocess.run(
            [program, "-Tsvg"],
            input=counterexample_dot(example, title),
            capture_output=True,
            text=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    start = done.stdout.find("<svg")
    if done.returncode != 0 or start < 0:
        return None
    return done.stdout[start:]  # without the XML prolog and DOCTYPE


def _example_html(example: Counterexample, title: str) -> str:
    parts = [
        f"<p><b>{esc(title)}</b>: <code>{esc(example.expression)}</code> at "
        + esc(", ".join(f"{k}={v!r}" for k, v in example.point.items()))
        + "</p>"
    ]
    if example.hint:
        parts.append(f"<p>hint: {esc(example.hint)}</p>")
    if example.reproduce:  # paste it into a cell: it shows the wrong gradient
        parts.append(f"<pre><code>{esc(example.reproduce)}</code></pre>")
    svg = svg_of(example, title)
    if svg is not None:
        parts.append(f"<div>{svg}</div>")
    return "".join(parts)


def _graphs(checks: list[Check]) -> str:
    """The first distinct failing examples, drawn or described."""
    shown: list[str] = []
    for check in checks:
        if check.status != "fail" or check.counterexample is None or check.same_as:
            continue
        shown.append(_example_html(check.counterexample, check.name))
        if len(shown) == MAX_GRAPHS:
            break
    if shown and shutil.which("dot") is None:
        shown.append("<p><i>install Graphviz (the `dot` program) to see graphs</i></p>")
    return "".join(shown)


def check_html(check: Check) -> str:
    """One check: its verdict line, and its graph when it failed."""
    line = (
        f"<p>{status_badge(check.status)} <b>{esc(check.name)}</b> "
        f"({esc(check.category)}): {esc(check.message)}</p>"
    )
    return f"<div>{line}{_graphs([check])}</div>"


def engine_html(report: EngineReport) -> str:
    """The engine report: header, checks table, limits, notes, failing graphs."""
    rows = [
        [status_badge(c.status), esc(c.name), esc(c.category), esc(c.message)]
        for c in report.checks
    ]
    parts = [
        f"<div><p><b>{esc(report.engine)}</b>: {status_badge(report.status)} "
        f"(seed {esc(report.seed)}, {report.seconds:.1f} s)</p>",
    ]
    if report.engine_file:
        parts.append(f"<p>file: <code>{esc(report.engine_file)}</code></p>")
    parts.append(table(["verdict", "check", "category", "details"], rows))
    if report.limits:
        parts.append("<p><b>limits</b> (not errors):</p><ul>")
        parts.extend(f"<li>{esc(limit.message)}</li>" for limit in report.limits)
        parts.append("</ul>")
    if report.unsupported:
        parts.append(
            "<p>not supported: " + esc(", ".join(sorted(report.unsupported))) + "</p>"
        )
    if report.api:
        mapped = ", ".join(f"{k}={v}" for k, v in report.api.items())
        parts.append(f"<p>api: {esc(mapped)}</p>")
    parts.extend(f"<p>note: {esc(note)}</p>" for note in report.notes)
    parts.append(_graphs(report.checks))
    parts.append("</div>")
    return "".join(parts)


def expression_html(report: ExpressionReport) -> str:
    """One row per expression and point."""
    rows = [
        [
            status_badge(r.status),
            f"<code>{esc(r.expression)}</code>",
            esc(", ".join(f"{k}={v!r}" for k, v in r.point.items())),
            esc(r.category or ""),
            esc(r.message),
        ]
        for r in report.results
    ]
    return (
        f"<div><p><b>{esc(report.engine)}</b>: {status_badge(report.status)} "
        f"(seed {esc(report.seed)})</p>"
        + table(["verdict", "expression", "point", "category", "details"], rows)
        + "</div>"
    )


HTML_RENDERERS.update(
    {Check: check_html, EngineReport: engine_html, ExpressionReport: expression_html}
)
