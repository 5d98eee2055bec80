"""Human-readable reports: plain aligned text, or rich tables on a terminal.

Every renderer writes through a `Printer`, which is plain text by default and
uses rich (tables, colour) only when asked: the command line asks when rich
is importable, stdout is a terminal and `NO_COLOR` is unset. The plain
explanations (`explain_check`, `explain_result`) are shared with the JUnit
writer, the pytest plugin and `assert_gradients`, so every place says the
same thing about a failure.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from gradcheck.internal.output.reproduce_text import reproduce_lines
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

# Counterexamples from deep probes can print as thousands of characters.
MAX_EXPRESSION = 400
# Lines of the engine's own output shown under the report.
MAX_TAIL = 50
_STYLES = {PASS: "green", FAIL: "bold red", SKIP: "yellow", "inconclusive": "yellow"}


def want_rich(stream: IO[str] | None = None) -> bool:
    """True when rich is importable, `stream` is a terminal and NO_COLOR unset."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") is not None:
        return False
    try:
        isatty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    if not isatty:
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class Printer:
    """Plain text output: lines and aligned tables."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def line(self, text: str = "", style: str | None = None) -> None:
        self.stream.write(text + "\n")

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        indent: int = 2,
    ) -> None:
        widths = [len(h) for h in headers]
        for row in rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
        pad = " " * indent
        for row in [list(headers), *rows]:
            cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
            self.stream.write(pad + "  ".join(cells).rstrip() + "\n")


class RichPrinter(Printer):
    """The same output with rich tables and colour."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console

        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)

    def line(self, text: str = "", style: str | None = None) -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style or ""))

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        indent: int = 2,
    ) -> None:
        from rich.padding import Padding
        from rich.table import Table

        table = Table(*headers, box=None, header_style="bold", pad_edge=False)
        for k, row in enumerate(rows):
            table.add_row(*row, style=(styles[k] if styles else None) or "")
        self.console.print(Padding(table, (0, 0, 0, indent)))


def printer(stream: IO[str] | None = None, rich: bool | None = None) -> Printer:
    """A `RichPrinter` when `rich` (default: `want_rich(stream)`), else plain."""
    if rich is None:
        rich = want_rich(stream)
    return RichPrinter(stream) if rich else Printer(stream)


# -- small formatting helpers -----------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return repr(float(value))


def short(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return repr(value)
    return f"{value:.2g}"


def shorten(text: str, limit: int = MAX_EXPRESSION) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]} ... {text[-30:]} ({len(text):,} characters)"


def clip(text: str, limit: int) -> str:
    """The first line of `text`, cut to `limit` characters."""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "(no variables)"


def verdict(row: GradientRow) -> str:
    return "ok" if row.ok else "WRONG"


# -- expressions ------------------------------------------------------------


def gradient_table(rows: Sequence[GradientRow]) -> tuple[list[str], list[list[str]]]:
    headers = ["var", "backprop", "symbolic", "reference", "finite difference"]
    headers += ["abs error", "verdict"]
    body = [
        [
            row.variable,
            number(row.backprop),
            row.symbolic or "-",
            row.reference,
            row.finite_difference,
            short(row.abs_error),
            verdict(row),
        ]
        for row in rows
    ]
    return headers, body


def print_expression_report(report: ExpressionReport, out: Printer) -> None:
    """One block per expression and point, then the seed and the total."""
    for result in report.results:
        out.line(f"{shorten(result.expression)}  at {point_text(result.point)}", "bold")
        out.line(
            f"  value: backprop {number(result.value_backprop)}, "
            f"reference {result.value_reference}"
        )
        headers, body = gradient_table(result.gradients)
        styles = [None if row.ok else "red" for row in result.gradients]
        if body:
            out.table(headers, body, styles)
        status = result.status.upper()
        if result.status == FAIL:
            status += f" ({result.category})" if result.category else ""
        out.line(f"  {status}", _STYLES.get(result.status))
        if result.status != PASS and result.message:
            out.line(f"  {result.message}")
        out.line()
    failed = sum(1 for r in report.results if r.status == FAIL)
    total = len(report.results)
    out.line(f"engine: {report.engine}")
    out.line(f"seed: {report.seed} (rerun with --seed {report.seed})")
    summary = f"{failed} of {total} failed" if failed else f"all {total} passed"
    out.line(f"result: {report.status.upper()} ({summary})", _STYLES.get(report.status))


def explain_result(result: ExpressionResult) -> str:
    """Plain text of one expression result, for assertion messages."""
    lines = [
        f"{result.status.upper()}"
        + (f" ({result.category})" if result.category else "")
        + f": {shorten(result.expression)} at {point_text(result.point)}",
        f"value: backprop {number(result.value_backprop)}, "
        f"reference {result.value_reference}",
    ]
    headers, body = gradient_table(result.gradients)
    lines += _plain_table(headers, body)
    if result.message:
        lines.append(f"hint: {result.message}")
    return "\n".join(lines)


def _plain_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    import io

    buffer = io.StringIO()
    Printer(buffer).table(headers, body)
    return buffer.getvalue().rstrip("\n").splitlines()


# -- engines ----------------------------------------------------------------


def explain_counterexample(example: Counterexample, message: str = "") -> list[str]:
    """The minimal graph, point, values, gradients, divergent node and hint."""
    lines = [
        f"graph ({len(example.graph)} nodes): {shorten(example.expression)}",
        f"point: {point_text(example.point)}",
        f"value: engine {number(example.value_backprop)}, "
        f"reference {example.value_reference}",
    ]
    if example.error:
        lines.append(f"error: {example.error}")
    if example.gradients:
        headers = ["var", "engine", "reference", "abs error", "verdict"]
        body = [
            [
                r.variable,
                number(r.backprop),
                r.reference,
                short(r.abs_error),
                verdict(r),
            ]
            for r in example.gradients
        ]
        lines += _plain_table(headers, body)
    label = example.divergent_label
    if label is not None:
        lines.append(f"first divergent node: {shorten(label, 200)}")
    hint = example.hint or message
    if hint:
        lines.append(f"hint: {hint}")
    return lines


def same_as_line(check: Check, where: str = "") -> str:
    """Why a failure is not shown in full: its minimal example, or its bug, repeats.

    An op built from a failing op, or a composite check that fails on an
    op's bug, says "the same bug as"; its own example is named, since it
    differs from the one shown above.
    """
    if "the same bug as" in check.message:
        example = check.counterexample
        seen = f", seen here on {example.expression}" if example is not None else ""
        return f"the same bug as {check.same_as}{where}{seen}"
    return f"same minimal example and cause as {check.same_as}{where}"


def explain_check(check: Check) -> str:
    """Plain text of one check: verdict, category, message, counterexample."""
    example = check.counterexample
    message = check.message
    if example is not None and example.hint == message:
        message = message.split(":")[0]  # the whole hint follows below
    lines = [f"{check.status.upper()} {check.name} [{check.category}]: {message}"]
    if check.same_as is not None:
        lines.append(f"  {same_as_line(check)}")
    if example is not None:
        explained = explain_counterexample(example, check.message)
        lines += ["  " + line for line in explained]
    return "\n".join(lines)


def check_line(check: Check) -> list[str]:
    return [check.status.upper(), check.name, check.category, clip(check.message, 100)]


def engine_header(report: EngineReport) -> list[str]:
    """`engine: ...` and, when known, where it ran and which file it came from."""
    lines = [f"engine: {report.engine}"]
    isolated = getattr(report, "isolated", None)
    file = getattr(report, "engine_file", None)
    parts = []
    if isolated is not None:
        parts.append("isolated: yes" if isolated else "isolated: no (in-process)")
    if file:
        parts.append(f"loaded from {file}")
    if parts:
        lines.append(", ".join(parts))
    return lines


def print_engine_report(report: EngineReport, out: Printer) -> None:
    header = engine_header(report)
    out.line(header[0], "bold")
    for line in header[1:]:
        out.line(line)
    rows = [check_line(c) for c in report.checks]
    styles = [_STYLES.get(c.status) for c in report.checks]
    out.table(["verdict", "check", "category", "details"], rows, styles)
    failures = report.failures
    if failures:
        out.line()
        out.line(f"{len(failures)} failing check(s):", "bold red")
    for check in failures:
        out.line()
        out.line(f"{check.name}: {check.category}", "bold red")
        if check.same_as is not None:
            out.line(f"  {same_as_line(check, ' (above)')}")
            for line in reproduce_lines(check, snippet=False):
                out.line(f"  {line}")
            continue
        example = check.counterexample
        if check.message and (example is None or check.message != example.hint):
            out.line(f"  {check.message}")
        if example is not None:
            for line in explain_counterexample(example, check.message):
                out.line(f"  {line}")
        for line in reproduce_lines(check):
            out.line(f"  {line}")
        kind, hint = getattr(check, "kind", None), getattr(check, "hint", "")
        if kind and hint and hint not in check.message:  # a tensor finding
            out.line(f"  kind: {kind}; hint: {hint}")
    _print_limits(report, out)
    out.line()
    out.line(f"ops supported: {', '.join(report.supported) or '(none)'}")
    if report.unsupported:
        out.line("ops unsupported:")
        for name, reason in sorted(report.unsupported.items()):
            out.line(f"  {name}: {reason}")
    not_checked = list(getattr(report, "not_checked", None) or [])
    if not_checked:
        out.line(f"not checked (no op covers them): {', '.join(not_checked)}")
    api = dict(getattr(report, "api", None) or {})
    if api:
        out.line("api: " + ", ".join(f"{k}={v}" for k, v in api.items()))
    for key, value in report.info.items():
        out.line(f"{key}: {value}")
    for note in getattr(report, "notes", None) or []:
        out.line(f"note: {note}")
    tail = list(getattr(report, "output_tail", None) or [])
    if tail:
        out.line(f"engine output (last {MAX_TAIL} lines):")
        for line in tail[-MAX_TAIL:]:
            out.line(f"  | {line}")
    out.line(f"seed: {report.seed} (rerun with --seed {report.seed})")
    counts = {
        s: sum(1 for c in report.checks if c.status == s)
        for s in (PASS, FAIL, SKIP, INCONCLUSIVE)
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    limits = len(getattr(report, "limits", None) or [])
    if limits:
        summary += f", {limits} limit(s)"
    status = _status(report)
    out.line(f"result: {status.upper()} ({summary})", _STYLES.get(status))


def _status(report: Any) -> str:
    from gradcheck.internal.output.json_doc import report_status

    return report_status(report)


def _print_limits(report: EngineReport, out: Printer) -> None:
    """Limits: right in the normal range, wrong beyond a measured bound."""
    limits = list(getattr(report, "limits", None) or [])
    if not limits:
        return
    out.line()
    out.line("Limits (not errors unless --strict):", "bold yellow")
    for item in limits:
        name = getattr(item, "name", "limit")
        out.line(f"  {name}: {getattr(item, 'message', '')}")
        hint = getattr(item, "hint", None)
        if hint:
            out.line(f"    hint: {hint}")


def print_summary(rows: Sequence[tuple[str, Any]], out: Printer) -> None:
    """The table after several engines: target, verdict, errors, limits.

    Each row is (target, report) or (target, error message) for a target that
    did not load.
    """
    from gradcheck.internal.output.json_doc import errors_by_category

    body: list[list[str]] = []
    styles: list[str | None] = []
    for target, report in rows:
        if isinstance(report, str):
            body.append([target, "ERROR", clip(report, 80), "-"])
            styles.append("bold red")
            continue
        counts = errors_by_category(report)
        errors = ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"
        limits = str(len(getattr(report, "limits", None) or []))
        status = _status(report)
        body.append([target, status.upper(), errors, limits])
        styles.append(_STYLES.get(status))
    out.line()
    out.line(f"summary of {len(rows)} engines:", "bold")
    out.table(["target", "verdict", "errors by category", "limits"], body, styles)


# -- progress ---------------------------------------------------------------


class Progress:
    """A progress display for the random-graph phase, on a terminal only.

    Use as a context manager; call it as `progress(done, total)`. With rich
    it is a bar, without it a `\\r` counter; when `stream` is not a terminal
    it shows nothing.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        label: str = "random graphs",
        enabled: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.enabled = enabled and _isatty(self.stream)
        self._bar: Any = None
        self._task: Any = None
        self._update: Callable[[int, int], None] = self._plain
        self._shown = False

    def __enter__(self) -> Progress:
        if self.enabled and want_rich(self.stream):
            from rich.console import Console
            from rich.progress import Progress as Bar

            self._bar = Bar(console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None)
            self._update = self._rich
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.enabled:
            self._update(done, total)

    def _rich(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def _plain(self, done: int, total: int) -> None:
        self.stream.write(f"\r{self.label}: {done}/{total}")
        self.stream.flush()
        self._shown = True

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
