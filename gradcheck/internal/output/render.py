"""Human-readable reports: which lines and tables, at three verbosities.

Every renderer writes through a `Printer` (`terminal.py`: plain text, or the
same text coloured by rich on a terminal). `QUIET` is one line per target,
`NORMAL` the verdict, the findings, the limits and one line on what passed,
`VERBOSE` every check in a table. The plain explanations (`explain_check`,
`explain_result`) are shared with the JUnit writer, the pytest plugin and
`assert_gradients`, so every place says the same thing about a failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gradcheck.internal.output.reproduce_text import reproduce_lines
from gradcheck.internal.output.terminal import (
    NORMAL,
    QUIET,
    VERBOSE,
    Printer,
    table_lines,
)
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
# Lines of the engine's own output shown by default (-v: MAX_TAIL).
SHORT_TAIL = 10
# Information lines the findings' header says already.
_FINDING_INFO = ("distinct problems found", "first failure")
_STYLES = {PASS: "green", FAIL: "bold red", SKIP: "yellow", "inconclusive": "yellow"}


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
    """The first line of `text`, cut to `limit` characters at a space."""
    first = text.splitlines()[0] if text else ""
    if len(first) <= limit:
        return first
    cut = first[: limit - 3]
    if first[limit - 3] != " " and " " in cut:  # never half a number or word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "..."


def point_text(point: dict[str, float]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "(no variables)"


def verdict(row: GradientRow, judged: bool = True) -> str:
    """A row's verdict; "-" when its result judged nothing (inconclusive)."""
    if not judged:
        return "-"
    return "ok" if row.ok else "WRONG"


# -- expressions ------------------------------------------------------------


def gradient_table(
    rows: Sequence[GradientRow], judged: bool = True
) -> tuple[list[str], list[list[str]]]:
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
            verdict(row, judged),
        ]
        for row in rows
    ]
    return headers, body


_ORDER = (PASS, FAIL, INCONCLUSIVE)


def print_expression_report(
    report: ExpressionReport, out: Printer, verbosity: int = NORMAL
) -> None:
    """One block per expression and point, then the seed and the total.

    `QUIET`: one line per expression and point, with the seed.
    """
    if verbosity <= QUIET:
        for result in report.results:
            where = f"{shorten(result.expression)} at {point_text(result.point)}"
            out.line(
                f"{_status_word(result)} {where}; seed {report.seed}",
                _STYLES.get(result.status),
            )
        return
    for result in report.results:
        out.line(f"{shorten(result.expression)}  at {point_text(result.point)}", "bold")
        out.line(
            f"  value: backprop {number(result.value_backprop)}, "
            f"reference {result.value_reference or '-'}"
        )
        judged = result.status != INCONCLUSIVE
        headers, body = gradient_table(result.gradients, judged)
        styles = [None if row.ok or not judged else "red" for row in result.gradients]
        if body:
            out.table(headers, body, styles)
        out.line(f"  {_status_word(result)}", _STYLES.get(result.status))
        if result.status != PASS and result.message:
            out.line(f"  {result.message}")
        if result.status == FAIL:
            for line in reproduce_lines(result):
                out.line(f"  {line}")
        out.line()
    total = len(report.results)
    counts = {s: sum(1 for r in report.results if r.status == s) for s in _ORDER}
    out.line(f"engine: {report.engine}")
    out.line(f"seed: {report.seed} (rerun with --seed {report.seed})")
    if counts[FAIL]:
        summary = f"{counts[FAIL]} of {total} failed"
    elif counts[PASS] == total:
        summary = f"all {total} passed"
    else:
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    out.line(f"result: {report.status.upper()} ({summary})", _STYLES.get(report.status))


def _status_word(result: ExpressionResult) -> str:
    status = result.status.upper()
    if result.status == FAIL and result.category:
        status += f" ({result.category})"
    return status


def explain_result(result: ExpressionResult) -> str:
    """Plain text of one expression result, for assertion messages."""
    lines = [
        f"{result.status.upper()}"
        + (f" ({result.category})" if result.category else "")
        + f": {shorten(result.expression)} at {point_text(result.point)}",
        f"value: backprop {number(result.value_backprop)}, "
        f"reference {result.value_reference}",
    ]
    headers, body = gradient_table(result.gradients, result.status != INCONCLUSIVE)
    lines += _plain_table(headers, body)
    if result.message:
        lines.append(f"hint: {result.message}")
    return "\n".join(lines)


def _plain_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    return table_lines(headers, body)


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
    example = check.counterexample
    seen = f", seen here on {example.expression}" if example is not None else ""
    return f"the same problem as {check.same_as}{where}{seen}"


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


def print_engine_report(
    report: EngineReport, out: Printer, verbosity: int = NORMAL
) -> None:
    """The report on one engine at `verbosity` (see the module docstring)."""
    if verbosity <= QUIET:
        out.line(quiet_line(report.engine, report), _STYLES.get(_status(report)))
        return
    verbose = verbosity >= VERBOSE
    header = engine_header(report)
    out.line(header[0], "bold")
    for line in header[1:]:
        out.line(line)
    shown = [c for c in report.checks if verbose or c.status != PASS]
    if shown:
        rows = [check_line(c) for c in shown]
        styles = [_STYLES.get(c.status) for c in shown]
        out.table(["verdict", "check", "category", "details"], rows, styles)
    _print_findings(report, out, verbose)
    _print_limits(report, out)
    out.line()
    if not verbose:
        out.line(passed_line(report), _STYLES[PASS])
    _print_ops(report, out, verbose)
    not_checked = list(getattr(report, "not_checked", None) or [])
    if not_checked:
        out.line(f"not checked (no op covers them): {', '.join(not_checked)}")
    api = dict(getattr(report, "api", None) or {})
    if api:
        out.line("api: " + ", ".join(f"{k}={v}" for k, v in api.items()))
    for key, value in report.info.items():
        said = key in _FINDING_INFO or (api and key.startswith("api "))
        if verbose or not said:  # by default, not what a line above says
            out.line(f"{key}: {value}")
    for note in getattr(report, "notes", None) or []:
        out.line(f"note: {note}")
    _print_tail(report, out, MAX_TAIL if verbose else SHORT_TAIL)
    out.line(f"seed: {report.seed} (rerun with --seed {report.seed})")
    status = _status(report)
    out.line(f"result: {status.upper()} ({counts_text(report)})", _STYLES.get(status))


def counts_text(report: EngineReport) -> str:
    """`43 pass, 6 fail, 1 limit(s)`: the checks by verdict, then the limits."""
    counts = {
        s: sum(1 for c in report.checks if c.status == s)
        for s in (PASS, FAIL, SKIP, INCONCLUSIVE)
    }
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    limits = len(getattr(report, "limits", None) or [])
    if limits:
        strict = " (errors under --strict)" if getattr(report, "strict", False) else ""
        parts.append(f"{limits} limit(s){strict}")
    return ", ".join(parts) or "no checks"


def quiet_line(target: str, report: EngineReport | str) -> str:
    """One line for `-q`: verdict, target, counts and seed (or the load error)."""
    if isinstance(report, str):
        return f"ERROR {target}: {clip(report, 200)}"
    status = _status(report).upper()
    return f"{status} {target}: {counts_text(report)}; seed {report.seed}"


def passed_line(report: EngineReport) -> str:
    """What passed, by category, in one line (`-v` lists every check)."""
    passed = [c for c in report.checks if c.status == PASS]
    if not passed:
        return "passed: no check"
    by_category: dict[str, int] = {}
    for check in passed:
        by_category[check.category] = by_category.get(check.category, 0) + 1
    parts = ", ".join(f"{name} {n}" for name, n in by_category.items())
    return (
        f"passed: {len(passed)} of {len(report.checks)} checks ({parts}; -v lists them)"
    )


def finding_lines(check: Check, above: str = " (above)") -> list[str]:
    """One failing check: its category, message, counterexample and hint.

    The first line is the finding's title; the others are indented details.
    A failure with the same cause as one shown earlier is one line.
    """
    lines = [f"{check.name}: {check.category}"]
    if check.same_as is not None:
        lines.append(f"  {same_as_line(check, above)}")
        return [*lines, *(f"  {x}" for x in reproduce_lines(check, snippet=False))]
    example = check.counterexample
    if check.message and (example is None or check.message != example.hint):
        lines.append(f"  {check.message}")
    if example is not None:
        lines += [
            f"  {line}" for line in explain_counterexample(example, check.message)
        ]
    lines += [f"  {line}" for line in reproduce_lines(check)]
    kind, hint = getattr(check, "kind", None), getattr(check, "hint", "")
    if kind and hint and hint not in check.message:  # a tensor finding
        lines.append(f"  kind: {kind}; hint: {hint}")
    where = getattr(check, "location", None)
    if where:
        file, line = where
        lines.append(f"  look at: {file}" + (f", line {line}" if line else ""))
    return lines


def _print_findings(report: EngineReport, out: Printer, verbose: bool) -> None:
    """The findings: every failing check, each with its details.

    By default a failure whose hint repeats an earlier finding's word for
    word (same category) is one line naming that finding; `-v` shows it whole.
    """
    failures = report.failures
    if not failures:
        return
    out.line()
    distinct = report.info.get("distinct problems found")
    title = f"{len(failures)} failing check(s)"
    if distinct and distinct != str(len(failures)):
        title += f", {distinct} distinct problem(s)"
    out.line(f"{title}:", "bold red")
    first_with: dict[tuple[str, str], str] = {}
    for check in failures:
        example = check.counterexample
        hint = (example.hint if example is not None else "") or check.message
        key = (check.category, hint)
        earlier = first_with.get(key)
        if earlier is not None and check.same_as is None and not verbose:
            seen = (
                f", seen here on {shorten(example.expression, 200)}" if example else ""
            )
            lines = [
                f"{check.name}: {check.category}",
                f"  the same hint as {earlier} (above){seen}",
            ]
        else:
            # A base op's check may come after an op built from it (`/` from `**`).
            shown = {c.name for c in failures[: failures.index(check)]}
            where = " (above)" if check.same_as in shown else " (below)"
            lines = finding_lines(check, where)
            first_with.setdefault(key, check.name)
        out.line()
        out.line(lines[0], "bold red")
        for line in lines[1:]:
            out.line(line)


def _print_ops(report: EngineReport, out: Printer, verbose: bool) -> None:
    """The ops the engine has; why it lacks the others only with -v."""
    out.line(f"ops supported: {', '.join(report.supported) or '(none)'}")
    if not report.unsupported:
        return
    if not verbose:
        names = ", ".join(sorted(report.unsupported))
        out.line(f"ops unsupported: {names} (-v says why)")
        return
    out.line("ops unsupported:")
    for name, reason in sorted(report.unsupported.items()):
        out.line(f"  {name}: {reason}")


def _print_tail(report: EngineReport, out: Printer, most: int) -> None:
    """The last `most` lines the engine printed (they never reach stdout)."""
    tail = list(getattr(report, "output_tail", None) or [])
    if not tail:
        return
    shown = tail[-most:]
    more = " (-v shows more)" if len(tail) > most and most < MAX_TAIL else ""
    out.line(f"engine output (last {len(shown)} lines){more}:")
    for line in shown:
        out.line(f"  | {line}")


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


def print_summary(
    rows: Sequence[tuple[str, Any]], out: Printer, verbosity: int = NORMAL
) -> None:
    """The table after several engines: target, verdict, errors, limits.

    Each row is (target, report) or (target, error message) for a target that
    did not load. `QUIET` prints nothing: its one line per target says it.
    """
    from gradcheck.internal.output.json_doc import errors_by_category

    if verbosity <= QUIET:
        return
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
