"""`check_function` reports in plain words and as HTML for notebooks.

Registered as `report.TEXT_RENDERERS` (`str(report)`) and
`report.HTML_RENDERERS` (Jupyter), so a notebook cell that ends with
`gradcheck.check_function(f, 0.5, -1.2)` shows the verdict, each input's
gradient against the references, and, for a wrong one, the snippet that
shows it in the engine's own API. Engine and expression reports get the
command line's own text, so `print(check_engine(Value))` in a script shows
the whole report.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

from gradcheck.internal.output.render import (
    number,
    point_text,
    print_engine_report,
    print_expression_report,
    short,
)
from gradcheck.internal.output.render import verdict as verdict_word
from gradcheck.internal.output.terminal import NORMAL, Printer
from gradcheck.report import (
    FAIL,
    HTML_RENDERERS,
    INCONCLUSIVE,
    TEXT_RENDERERS,
    EngineReport,
    ExpressionReport,
    ExpressionResult,
    FunctionReport,
    GradientRow,
)


def _rows(result: ExpressionResult) -> list[GradientRow]:
    return result.gradients


def _smaller(result: ExpressionResult) -> str | None:
    """The smallest failing graph, when it is not f's own graph."""
    example = result.counterexample
    if example is None or example.graph == result.graph:
        return None
    rows = "; ".join(_row_words(row) for row in example.gradients)
    return (
        f"smallest graph with the same bug: {example.expression} at "
        f"{point_text(example.point)}" + (f": {rows}" if rows else "")
    )


def _snippet(result: ExpressionResult) -> str | None:
    example = result.counterexample
    return example.reproduce if example is not None else None


def _row_words(row: GradientRow, judged: bool = True) -> str:
    verdict = "right" if row.ok else f"WRONG, off by {short(row.abs_error)}"
    if not judged:
        verdict = "not judged"
    return (
        f"d/d{row.variable}: engine {number(row.backprop)}, "
        f"true {row.reference} ({verdict})"
    )


def function_text(report: FunctionReport) -> str:
    """The verdict and every input's gradient, in plain words."""
    lines = [f"{report.function} on {report.engine}: {report.status.upper()}"]
    for result in report.results:
        rows = _rows(result)
        lines.append(f"  traced graph: {result.expression}")
        lines.append(f"  at {point_text(result.point)}")
        lines.append(
            f"  value: engine {number(result.value_backprop)}, "
            f"true {result.value_reference}"
        )
        judged = result.status != INCONCLUSIVE
        lines += [f"  {_row_words(row, judged)}" for row in rows]
        if result.status != FAIL and rows:
            lines.append(
                "  every gradient matches the SymPy and mpmath references"
                if all(r.ok for r in rows)
                else "  nothing verified here (inconclusive)"
            )
        if result.message and result.status != "pass":
            lines.append(f"  hint: {result.message}")
        smaller = _smaller(result)
        if smaller:
            lines.append(f"  {smaller}")
        snippet = _snippet(result)
        if snippet:
            lines.append("  reproduce in the engine's own API:")
            lines += [f"      {line}" for line in snippet.splitlines()]
    lines += [f"  note: {note}" for note in report.notes]
    lines.append(f"  seed: {report.seed}")
    return "\n".join(lines)


_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def function_html(report: FunctionReport) -> str:
    """The same as a small table, for Jupyter's `_repr_html_`."""
    colour = _COLOURS.get(report.status, "#000")
    parts = [
        f"<div><p><code>{_e(report.function)}</code> on <b>{_e(report.engine)}</b>: "
        f'<b style="color:{colour}">{_e(report.status.upper())}</b> '
        f"(seed {_e(report.seed)})</p>"
    ]
    for result in report.results:
        parts.append(
            f"<p>traced graph <code>{_e(result.expression)}</code> at "
            f"{_e(point_text(result.point))}</p>"
        )
        head = "".join(
            f"<th style='text-align:left'>{h}</th>"
            for h in ("input", "engine", "true (SymPy)", "mpmath", "verdict")
        )
        body = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:left'>{_e(cell)}</td>"
                for cell in (
                    row.variable,
                    number(row.backprop),
                    row.reference,
                    row.finite_difference,
                    verdict_word(row, result.status != INCONCLUSIVE),
                )
            )
            + "</tr>"
            for row in _rows(result)
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
        if result.message and result.status != "pass":
            parts.append(f"<p>hint: {_e(result.message)}</p>")
        smaller = _smaller(result)
        if smaller:
            parts.append(f"<p>{_e(smaller)}</p>")
        snippet = _snippet(result)
        if snippet:
            parts.append(
                "<p>reproduce in the engine's own API:</p>"
                f"<pre><code>{_e(snippet)}</code></pre>"
            )
    parts += [f"<p>note: {_e(note)}</p>" for note in report.notes]
    parts.append("</div>")
    return "".join(parts)


def _as_text(print_report: Callable[[Any, Printer, int], None]) -> Callable[[Any], str]:
    """A report printer of the command line, as a `str(report)` renderer."""

    def text(report: Any) -> str:
        stream = io.StringIO()
        print_report(report, Printer(stream), NORMAL)
        return stream.getvalue().rstrip("\n")

    return text


TEXT_RENDERERS[FunctionReport] = function_text
TEXT_RENDERERS[EngineReport] = _as_text(print_engine_report)
TEXT_RENDERERS[ExpressionReport] = _as_text(print_expression_report)
HTML_RENDERERS[FunctionReport] = function_html
