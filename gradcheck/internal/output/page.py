"""One self-contained HTML page for a run of `gradcheck engine` (`--html`).

For a teacher with a class of engines or a CI artefact: a summary table of
the targets, then each engine's findings (the failing checks, their minimal
graphs, where to look, and a reproducing snippet when the check carries
one), its limits and notes, and all its checks folded away. Failing graphs
are inline SVG when Graphviz's `dot` is on PATH (`html.svg_of`).

The page loads nothing: its style is inline, and a Content-Security-Policy
allows no script at all, so that even text that escaped escaping could not
run. Every name and message comes from an engine or its author and goes
through `html.escape`.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from gradcheck import __version__
from gradcheck.internal.output.html import esc, status_badge, svg_of, table
from gradcheck.internal.output.json_doc import errors_by_category, report_status
from gradcheck.internal.output.render import explain_check
from gradcheck.internal.output.reproduce_text import reproduce_lines
from gradcheck.report import FAIL, PASS, Check, EngineReport

# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, "EngineReport | str"]
# Graphs drawn per engine: the first distinct failures.
MAX_GRAPHS = 3

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1f2328;
       max-width: 70em; }
h1 { font-size: 1.6em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
pre { background: #f6f8fa; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
.finding { border-left: 4px solid #cf222e; padding-left: 1em; margin: 1.2em 0; }
.error { border-left-color: #9a6700; }
.muted { color: #57606a; }
svg { max-width: 100%; height: auto; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _anchor(number: int) -> str:
    return f"target-{number}"


def _summary_table(outcomes: Sequence[Outcome], strict: bool) -> str:
    rows = []
    for number, (name, report) in enumerate(outcomes):
        link = f'<a href="#{_anchor(number)}">{esc(name)}</a>'
        if isinstance(report, str):
            rows.append([link, status_badge("error"), "", esc(report), "", ""])
            continue
        passed = sum(c.status == PASS for c in report.checks)
        counts = errors_by_category(report)
        shown = ", ".join(f"{k}: {n}" for k, n in counts.items()) or "none"
        limits = len(report.limits)
        limit_text = f"{limits} (errors)" if strict and limits else str(limits)
        rows.append(
            [
                link,
                status_badge(report_status(report)),
                f"{passed} of {len(report.checks)}",
                esc(shown),
                esc(limit_text),
                f"{report.seconds:.1f} s",
            ]
        )
    headers = ["target", "verdict", "checks passed", "errors by category", "limits"]
    return table([*headers, "time"], rows)


def _finding(check: Check, report: EngineReport, draw: bool) -> str:
    """One failing check: what, where, the minimal graph, how to reproduce."""
    kind = " error" if check.category == "crash" else ""
    parts = [
        f'<div class="finding{kind}"><h4>{status_badge(check.status)} '
        f"{esc(check.name)} <span class='muted'>[{esc(check.category)}]</span></h4>",
        f"<p>{esc(check.message)}</p>",
    ]
    if check.location is not None:
        file, line = check.location
        where = esc(file) + (f", line {esc(line)}" if line else "")
        parts.append(f"<p>look at: <code>{where}</code></p>")
    parts.append(f"<pre>{esc(explain_check(check))}</pre>")
    replay = reproduce_lines(check)  # the rerun command and the snippet
    if replay:
        text = "\n".join(replay)
        parts.append(f"<pre class='reproduce'>{esc(text)}</pre>")
    example = check.counterexample
    if draw and example is not None:
        svg = svg_of(example, check.name)
        if svg is not None:
            parts.append(f"<div>{svg}</div>")
    parts.append(
        f"<p class='muted'>rerun with <code>--seed {esc(report.seed)}</code></p></div>"
    )
    return "".join(parts)


def _engine_section(number: int, name: str, report: EngineReport | str) -> str:
    head = f'<section id="{_anchor(number)}"><h2>{esc(name)} '
    if isinstance(report, str):
        return head + f"{status_badge('error')}</h2><pre>{esc(report)}</pre></section>"
    parts = [head + f"{status_badge(report_status(report))}</h2>"]
    facts = [f"seed {esc(report.seed)}", f"{report.seconds:.1f} s"]
    if report.engine_file:
        facts.append(f"file <code>{esc(report.engine_file)}</code>")
    parts.append(f"<p class='muted'>{', '.join(facts)}</p>")
    distinct = [c for c in report.failures if c.same_as is None]
    repeats = [c for c in report.failures if c.same_as is not None]
    if distinct:
        parts.append("<h3>findings</h3>")
        parts += [
            _finding(check, report, number_drawn < MAX_GRAPHS)
            for number_drawn, check in enumerate(distinct)
        ]
    if repeats:
        items = "".join(
            f"<li>{esc(c.name)}: the same problem as {esc(c.same_as)}</li>"
            for c in repeats
        )
        parts.append(f"<p>also failing, from the same cause:</p><ul>{items}</ul>")
    if report.limits:
        items = "".join(
            f"<li><b>{esc(item.name)}</b>: {esc(item.message)}"
            + (
                f" <span class='muted'>hint: {esc(item.hint)}</span>"
                if item.hint
                else ""
            )
            + "</li>"
            for item in report.limits
        )
        parts.append(f"<h3>limits</h3><ul>{items}</ul>")
    if report.unsupported:
        shown = ", ".join(sorted(report.unsupported))
        parts.append(f"<p>not supported (not checked): {esc(shown)}</p>")
    parts += [f"<p class='muted'>note: {esc(note)}</p>" for note in report.notes]
    rows = [
        [status_badge(c.status), esc(c.name), esc(c.category), esc(c.message)]
        for c in report.checks
    ]
    parts.append(
        f"<details><summary>all {len(report.checks)} checks</summary>"
        + table(["verdict", "check", "category", "details"], rows)
        + "</details></section>"
    )
    return "".join(parts)


def page_html(outcomes: Sequence[Outcome], strict: bool = False) -> str:
    """The whole page as one string."""
    failed = sum(not isinstance(r, str) and r.status == FAIL for _, r in outcomes)
    errors = sum(isinstance(r, str) for _, r in outcomes)
    verdict = f"{len(outcomes)} targets: {failed} failing, {errors} not loaded"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gradcheck report ({esc(verdict)})</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>gradcheck report</h1><p class='muted'>gradcheck {esc(__version__)}; "
        f"{esc(verdict)}</p>",
        _summary_table(outcomes, strict),
    ]
    if shutil.which("dot") is None:
        parts.append(
            "<p class='muted'>install Graphviz (the <code>dot</code> program) "
            "to see the failing graphs drawn</p>"
        )
    parts += [_engine_section(n, name, r) for n, (name, r) in enumerate(outcomes)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_page(
    outcomes: Sequence[Outcome], path: str | Path, strict: bool = False
) -> Path:
    """Write the page to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page_html(outcomes, strict), encoding="utf-8")
    return target
