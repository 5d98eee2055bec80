"""Every `$ gradcheck ...` example in the docs runs, and prints what it shows.

`my_engine.py` in the docs stands for a learner's engine with the classic
bug: the lecture engine whose `*` overwrites gradients (`=` instead of `+=`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.mutants import mutant_named

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```(?:text|console)\n(.*?)```", re.DOTALL)


def _examples() -> list[tuple[str, str, list[str]]]:
    """(page, command, lines shown after it) for every gradcheck example."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for block in BLOCK.findall(page.read_text()):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                if not line.startswith("$ gradcheck"):
                    continue
                shown = []
                for after in lines[i + 1 :]:
                    if after.startswith("$ "):
                        break
                    shown.append(after)
                command = line[2:].split("  #")[0].strip()
                found.append((page.name, command, shown))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("page", "command", "shown"), EXAMPLES, ids=[f"{p}:{c}" for p, c, _ in EXAMPLES]
)
def test_docs_example_runs_as_shown(
    page: str,
    command: str,
    shown: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CI", "true")  # seed 0 unless the example gives one
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)
    buggy = mutant_named("mul-grad-overwrites")
    (tmp_path / "my_engine.py").write_text(buggy.source())
    argv = shlex.split(command)[1:]
    if "--examples" not in argv and argv[:1] == ["engine"]:
        argv += ["--examples", "20"]
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if argv[:1] == ["engine"]:
        assert code == 1  # my_engine.py is the buggy one
    text = out + err
    for line in shown:
        if line.startswith(("seed:", "engine:")) or not line.strip():
            continue
        assert line.rstrip() in text, f"{page}: {line!r} not printed by {command!r}"
    if "--junit-xml" in argv:
        assert Path(argv[argv.index("--junit-xml") + 1]).is_file()
    if "--dot" in argv:
        assert list(Path(argv[argv.index("--dot") + 1]).glob("*.dot"))


PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
README = DOCS.parent / "README.md"


def _python_examples() -> list[tuple[str, str]]:
    pages = [README, *sorted(DOCS.glob("*.md"))]
    return [
        (p.name, code) for p in pages for code in PYTHON_BLOCK.findall(p.read_text())
    ]


PYTHON_EXAMPLES = _python_examples()


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("page", "code"), PYTHON_EXAMPLES, ids=[p for p, _ in PYTHON_EXAMPLES]
)
def test_python_examples_run(
    page: str,
    code: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import inspect

    from gradcheck.mutants import BASE_ENGINE
    from gradcheck.mutants.tensor import TENSOR_BASE_ENGINE

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_engine.py").write_text(BASE_ENGINE)  # a correct engine here
    (tmp_path / "my_tensor.py").write_text(TENSOR_BASE_ENGINE)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(code, f"<{page}>", "exec"), namespace)
    for name, value in list(namespace.items()):
        # Tests that take fixtures (the plugin page) only need to compile.
        if (
            name.startswith("test_")
            and callable(value)
            and not inspect.signature(value).parameters
        ):
            value()
