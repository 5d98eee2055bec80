"""GitHub Actions output: the job summary and the `::error` annotations."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.internal.output.github import (
    annotation,
    annotation_lines,
    in_github_actions,
    summary_markdown,
    write_github,
)
from gradcheck.mutants import mutant_named
from gradcheck.report import FAIL, Check, Counterexample, EngineReport


def _report() -> EngineReport:
    from gradcheck.internal.expr.graph import GraphBuilder

    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    example = Counterexample(b.build(), {"x": 1.5}, 2.25, "2.25", [], 0, "use +=")
    report = EngineReport("my_engine.py", 7, ["mul"], {})
    located = Check("accumulation", "accumulation", FAIL, "x*x is wrong", example)
    located.location = ("my_engine.py", 42)
    report.checks += [
        located,
        Check("random-graphs", "accumulation", FAIL, "same", example, same_as="a"),
        Check("deep-chain", "crash", FAIL, "RecursionError: 100%, a, b"),
    ]
    return report


def test_only_on_github_actions() -> None:
    assert in_github_actions({"GITHUB_ACTIONS": "true"})
    assert not in_github_actions({"GITHUB_ACTIONS": "false"})
    assert not in_github_actions({})


def test_annotations_point_at_the_op_when_known(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    lines = annotation_lines([("my_engine.py", _report())])
    assert len(lines) == 2  # the repeat of the same cause is left out
    located, unlocated = lines
    assert located.startswith("::error file=my_engine.py,line=42,title=gradcheck ")
    assert "%0Ahint: use +=" in located and "%0Aminimal graph: x*x" in located
    assert unlocated.startswith("::error title=gradcheck deep-chain [crash]")
    assert unlocated.endswith("::RecursionError: 100%25, a, b")


def test_annotation_escapes_properties() -> None:
    line = annotation("a: b, c", "line 1\nline 2", ("/x/e,1.py", None))
    assert line == "::error file=/x/e%2C1.py,title=a%3A b%2C c::line 1%0Aline 2"


def test_summary_lists_targets_failures_and_limits() -> None:
    class Limit:
        message = "tanh raises OverflowError for x >= 355.0"

    report = _report()
    report.limits = [Limit()]  # type: ignore[attr-defined]
    text = summary_markdown([("my_engine.py", report), ("gone.py", "not found")])
    assert "| `my_engine.py` | FAIL | accumulation: 1, crash: 1 | 1 |" in text
    assert "| `gone.py` | ERROR | not found | |" in text
    assert "Limits (not errors unless --strict):" in text and "355.0" in text
    assert "<details><summary>accumulation: minimal graph</summary>" in text
    assert "look at `my_engine.py`, line 42" in text
    report.checks[0].counterexample.reproduce = "(x * x).backward()"
    text = summary_markdown([("my_engine.py", report)])
    assert "```python\n(x * x).backward()\n```" in text
    assert "seed: 7" in text


def test_write_github_appends_the_summary(tmp_path: Path) -> None:
    import io

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    stream = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    write_github([("my_engine.py", _report())], stream, env)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n## gradcheck")
    assert stream.getvalue().count("::error ") == 2


def _check_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's check_engine runs once; later calls get copies of its report.

    For a test that runs the same engine twice to see what the output does
    with it: the verdict cannot change, only what is written.
    """
    import gradcheck.internal.checking.check as check_module

    real = check_module.check_engine
    reports: list[object] = []

    def once(*args: object, **kwargs: object) -> object:
        if not reports:
            reports.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return copy.deepcopy(reports[0])

    monkeypatch.setattr(check_module, "check_engine", once)


@pytest.mark.heavy
def test_cli_on_github_actions(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("NO_COLOR", "1")
    engine = mutant_named("mul-grad-overwrites").write(tmp_path)
    _check_once(monkeypatch)
    code = main(["engine", str(engine), "--examples", "0", "--seed", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    # stdout stays one JSON document
    assert json.loads(out)["targets"][0]["status"] == "fail"
    assert "::error " in err and "accumulation" in err
    # the op's method in the engine file: file= and line= from a real run
    annotated = [line for line in err.splitlines() if line.startswith("::error ")]
    assert any(f"file={engine}," in line and ",line=" in line for line in annotated)
    assert "| FAIL |" in summary.read_text(encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    summary.unlink()
    main(["engine", str(engine), "--examples", "0", "--seed", "1", "--json"])
    assert "::error" not in capsys.readouterr().err and not summary.exists()


def test_op_definitions_are_lines_of_the_users_file() -> None:
    """A .py file run as definitions only, and a notebook, are built into a
    new module: the lines given are the file's own (none in a notebook)."""
    from gradcheck.internal.checking.engine_client import load_engine

    notebooks = Path(__file__).parent / "notebooks"
    messy = notebooks / "messy_engine.py"
    lines = messy.read_text(encoding="utf-8").splitlines()
    engine = load_engine(str(messy))
    try:
        found = dict(engine.defined_at)
    finally:
        engine.close()
    assert set(found) >= {"mul", "tanh"}
    for op, method in (("mul", "def __mul__("), ("tanh", "def tanh(")):
        file, line = found[op]
        assert file == str(messy) and line is not None
        assert lines[line - 1].strip().startswith(method), (op, line)
    engine = load_engine(str(notebooks / "later_methods.ipynb"))
    try:
        assert engine.defined_at and all(
            line is None for _, line in engine.defined_at.values()
        )
    finally:
        engine.close()
