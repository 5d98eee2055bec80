"""The text reports: rich says what plain says, and -q / default / -v say enough."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from cli_runner import run_cli

from gradcheck.internal.expr.parser import parse
from gradcheck.internal.output.render import (
    clip,
    print_engine_report,
    print_expression_report,
    print_summary,
)
from gradcheck.internal.output.terminal import NORMAL, QUIET, VERBOSE, printer
from gradcheck.mutants import mutant_named
from gradcheck.report import (
    Check,
    Counterexample,
    EngineReport,
    ExpressionReport,
    ExpressionResult,
    GradientRow,
    Limit,
)

LONG = 0.10512128757800276  # 17 digits: rich used to cut it to 0.10512128757800…
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _row(name: str, value: float, ok: bool) -> GradientRow:
    reference = "0.105121287578002860990799537396"
    return GradientRow(name, value, reference, reference, "[y]*x", 0.5, 1e-9, ok)


def _failing_report() -> EngineReport:
    """Names that look like rich markup, long numbers, a limit and a note."""
    example = Counterexample(
        graph=parse("x*y + x"),
        point={"x": 0.5, "y": -1.5},
        value_backprop=-0.25,
        value_reference="-0.250000000000000000000000000000",
        gradients=[_row("x", LONG, False), _row("y", 0.5, True)],
        divergent_node=None,
        hint="`=` instead of `+=` in [mul]'s backward: [bold]x[/bold] is used twice",
    )
    report = EngineReport("[red]engine[/red].py", 7, ["add", "mul"], {"tanh": "[no]"})
    report.checks += [
        Check("value", "value", "pass", "595 examples", examples=595),
        Check("local-derivative[add]", "local-derivative", "pass", "9 examples"),
        Check("accumulation[mul]", "accumulation", "fail", example.hint, example),
        Check("accumulation", "accumulation", "fail", example.hint, example),
    ]
    report.limits.append(Limit("depth[tanh]", "propagation", "[deep] from 1,003"))
    report.notes.append("used cells [1]-[3]")
    report.info["repeated backward"] = "linear [as PyTorch]"
    return report


def _words(text: str) -> list[str]:
    return ANSI.sub("", text).split()


@pytest.mark.parametrize("verbosity", [QUIET, NORMAL, VERBOSE])
@pytest.mark.parametrize("columns", ["30", "200"])
def test_rich_prints_every_word_and_digit_that_plain_prints(
    monkeypatch: pytest.MonkeyPatch, verbosity: int, columns: str
) -> None:
    pytest.importorskip("rich")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", columns)  # a narrow terminal must not cut
    report = _failing_report()
    fancy, plain = _Terminal(), io.StringIO()
    for out in (printer(fancy, rich=True), printer(plain, rich=False)):
        print_engine_report(report, out, verbosity)
        print_summary([("[a].py", report), ("b.py", "[no] engine")], out, verbosity)
    assert _words(fancy.getvalue()) == _words(plain.getvalue())
    text = ANSI.sub("", fancy.getvalue())
    assert "[red]engine[/red].py" in text
    if verbosity >= NORMAL:
        assert "accumulation[mul]" in text and repr(LONG) in text
        assert "[bold]x[/bold]" in text and "[deep] from 1,003" in text
    if verbosity >= VERBOSE:
        assert "local-derivative[add]" in text and "tanh: [no]" in text


def test_rich_expression_report_equals_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "40")
    result = ExpressionResult(
        "x*y", parse("x*y"), {"x": 0.5}, LONG, "0.1", [_row("x", LONG, True)], "pass"
    )
    report = ExpressionReport("[built-in]", 3, [result])
    fancy, plain = _Terminal(), io.StringIO()
    print_expression_report(report, printer(fancy, rich=True))
    print_expression_report(report, printer(plain, rich=False))
    assert _words(fancy.getvalue()) == _words(plain.getvalue())
    assert repr(LONG) in fancy.getvalue() and "[y]*x" in fancy.getvalue()


def test_default_report_shows_findings_limits_and_one_line_of_passes() -> None:
    buffer = io.StringIO()
    print_engine_report(_failing_report(), printer(buffer, rich=False))
    text = buffer.getvalue()
    assert "local-derivative[add]" not in text  # a pass: counted, not listed
    assert "passed: 2 of 4 checks (value 1, local-derivative 1; -v lists them)" in text
    assert "2 failing check(s)" in text and "first divergent" not in text
    assert text.count("hint: `=` instead of `+=`") == 1  # the second: one line
    assert "accumulation: accumulation\n  the same hint as accumulation[mul]" in text
    assert "Limits (not errors unless --strict):" in text
    assert "ops unsupported: tanh (-v says why)" in text
    assert text.rstrip().endswith("result: FAIL (2 pass, 2 fail, 1 limit(s))")
    quiet = io.StringIO()
    print_engine_report(_failing_report(), printer(quiet, rich=False), QUIET)
    assert quiet.getvalue() == (
        "FAIL [red]engine[/red].py: 2 pass, 2 fail, 1 limit(s); seed 7\n"
    )


def test_clip_never_cuts_a_number_in_half() -> None:
    text = "the value is 109.09630006628848, but it should be -109.09630006628848"
    assert clip(text, 30) == "the value is..."
    assert clip(text, 200) == text


@pytest.mark.heavy
def test_a_correct_engine_fits_on_a_screen() -> None:
    done = run_cli("engine", "--examples", "20", "--seed", "0")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert len(lines) <= 25, done.out
    assert lines[-1].startswith("result: PASS")
    assert any(line.startswith("passed: ") for line in lines)
    quiet = run_cli("engine", "--examples", "20", "--seed", "0", "-q")
    assert quiet.out.splitlines() == [
        f"PASS micrograd (built-in): {lines[-1].split('(', 1)[1][:-1]}; seed 0"
    ]


@pytest.mark.heavy
def test_a_buggy_engine_shows_its_findings_by_default(tmp_path: Path) -> None:
    engine = mutant_named("tanh-grad-overwrites").write(tmp_path)
    argv = ("engine", str(engine), "--examples", "20", "--seed", "0")
    default, verbose = run_cli(*argv), run_cli(*argv, "-v")
    assert default.code == verbose.code == 1
    assert (
        "failing check(s)" in default.out and "hint: `=` instead of `+=`" in default.out
    )
    assert "accumulation[tanh]: accumulation" in default.out
    assert "PASS" not in default.out and "PASS" in verbose.out
    assert len(default.out.splitlines()) < len(verbose.out.splitlines())


@pytest.mark.heavy
def test_mutants_quiet_is_one_line(tmp_path: Path) -> None:
    argv = ("mutants", "--only", "tanh-one-minus-t", "--examples", "5", "--seed", "1")
    quiet, verbose = run_cli(*argv, "-q"), run_cli(*argv, "-v")
    assert quiet.out == "PASS mutants: 1 of 1 caught with their category; seed 1\n"
    assert "check" in verbose.out.splitlines()[0]
