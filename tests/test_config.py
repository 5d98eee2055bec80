"""`[tool.gradcheck]` in pyproject.toml: found, checked, below the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from cli_runner import run_cli

from gradcheck.cli.config import find_config, load_config
from gradcheck.cli.parser import mapping, parse_args
from gradcheck.errors import UsageError


def _project(tmp_path: Path, text: str) -> Path:
    """A project with `text` as its pyproject.toml; returns a folder inside it."""
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    inner = tmp_path / "src" / "deep"
    inner.mkdir(parents=True)
    return inner


def _parsed(folder: Path, *argv: str) -> argparse.Namespace:
    """What `gradcheck ARGV` run in `folder` would get, config applied."""
    monkey = pytest.MonkeyPatch()
    monkey.chdir(folder)
    try:
        namespace = parse_args(argv)
        config = load_config(namespace)
        if config is not None:
            namespace = parse_args(argv, config.configure)
            config.finish(namespace)
        return namespace
    finally:
        monkey.undo()


PROJECT = """
[project]
name = "learner"

[tool.gradcheck]
seed = 7
examples = 50
strict = true
verbosity = "quiet"
memory-limit = "512M"

[tool.gradcheck.engine]
targets = ["engine.py:Value"]
jobs = 2
time-limit = 3
junit-xml = "reports/junit.xml"
api = { data = "value", grad = "derivative" }
op-def = { log = "log(x + 1e-6)" }
ops = ["add", "mul"]

[tool.gradcheck.mutants]
examples = 5

[tool.gradcheck.check]
at = ["x=1", "y=2"]
"""


def test_the_nearest_pyproject_gives_the_defaults(tmp_path: Path) -> None:
    inner = _project(tmp_path, PROJECT)
    assert find_config(inner) == tmp_path / "pyproject.toml"
    args = _parsed(inner, "engine")
    assert args.seed == 7 and args.strict is True and args.verbosity == -1
    assert args.examples == 50 and args.jobs == 2 and args.time_limit == 3.0
    assert args.memory_limit == 512 * 2**20
    assert args.targets == [f"{tmp_path / 'engine.py'}:Value"]  # from the file
    assert args.junit_xml == str(tmp_path / "reports" / "junit.xml")
    assert mapping("--api", args.api) == {"data": "value", "grad": "derivative"}
    assert args.op_def == [[("log", "log(x + 1e-6)")]] and args.ops == "add,mul"
    assert args.config_file == str(tmp_path / "pyproject.toml")
    assert _parsed(inner, "mutants").examples == 5  # its own table wins
    check = _parsed(inner, "x*y")
    assert check.at == ["x=1", "y=2"] and check.seed == 7


def test_the_command_line_wins(tmp_path: Path) -> None:
    inner = _project(tmp_path, PROJECT)
    argv = ["engine", "other.py", "--seed", "1", "--examples", "200", "-v"]
    args = _parsed(inner, *argv, "--api", "data=d", "--jobs", "1")
    assert args.targets == ["other.py"] and args.seed == 1
    assert args.examples == 200 and args.verbosity == 1 and args.jobs == 1
    assert args.api == [[("data", "d")]]  # replaced, not added to
    assert _parsed(inner, "x", "--at", "x=3").at == ["x=3"]
    ignored = _parsed(inner, "engine", "--no-config")
    assert ignored.seed is None and ignored.targets == [] and ignored.strict is False


def test_no_table_or_no_file_is_no_config(tmp_path: Path) -> None:
    inner = _project(tmp_path, "[project]\nname = 'x'\n")
    # No --examples: each engine's kind then takes its own default.
    assert _parsed(inner, "engine").examples is None
    other = tmp_path / "named.toml"
    other.write_text("[tool.gradcheck]\nexamples = 4\n", encoding="utf-8")
    assert _parsed(inner, "engine", "--config", str(other)).examples == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[tool.gradcheck]\nsed = 7",
            "[tool.gradcheck] unknown key sed (did you mean seed?)",
        ),
        (
            "[tool.gradcheck]\ntime_limit = 7",
            "unknown key time_limit (did you mean time-limit?)",
        ),
        (
            "[tool.gradcheck.mutants]\njobs = 2",
            "[tool.gradcheck.mutants] unknown key jobs",
        ),
        (
            "[tool.gradcheck]\nexamples = 'many'",
            "[tool.gradcheck] examples: not a whole number: 'many'",
        ),
        ("[tool.gradcheck]\nexamples = -1", "examples: must not be negative: -1"),
        (
            "[tool.gradcheck]\nstrict = 'yes'",
            "strict: expected true or false, not 'yes'",
        ),
        (
            "[tool.gradcheck]\nseed = true",
            "seed: expected a string or a number, not a bool",
        ),
        (
            "[tool.gradcheck]\nkind = 'vector'",
            "kind: expected one of scalar, tensor, not 'vector'",
        ),
        (
            "[tool.gradcheck]\nverbosity = 'loud'",
            "verbosity: expected one of quiet, normal, verbose",
        ),
        (
            "[tool.gradcheck]\nmemory-limit = '1K'",
            "memory-limit: must be at least 64M, not 1K",
        ),
        (
            "[tool.gradcheck.check]\nengine = {a = 1}",
            "engine: expected a string or a number, not a table",
        ),
        (
            "[tool.gradcheck]\nengine = 'e.py'",
            "tool.gradcheck.engine must be a table (the engine form's",
        ),
        ("[tool.gradcheck]\nconfig = 'x.toml'", "unknown key config"),
        ("[tool.gradcheck]\ncheck = 1", "tool.gradcheck.check must be a table"),
        ("[tool]\ngradcheck = 3", "tool.gradcheck must be a table"),
        ("[tool.gradcheck\n", "not valid TOML: "),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    inner = _project(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        _parsed(inner, "engine")
    assert str(caught.value).startswith(f"{tmp_path / 'pyproject.toml'}: ")
    assert message in str(caught.value)
    done = run_cli("engine", "--json", cwd=inner)
    assert done.code == 2
    (line,) = done.err.splitlines()
    assert line.startswith("gradcheck: error: ") and message in line
    assert json.loads(done.out)["status"] == "error"
    assert run_cli("engine", "--no-config", "--ops", "nope", cwd=inner).code == 2


def test_a_named_config_must_exist_and_hold_the_table(tmp_path: Path) -> None:
    done = run_cli("x", "--config", str(tmp_path / "none.toml"), cwd=tmp_path)
    assert done.code == 2 and "--config: no such file" in done.err
    empty = tmp_path / "empty.toml"
    empty.write_text("[project]\n", encoding="utf-8")
    done = run_cli("x", "--config", str(empty), cwd=tmp_path)
    assert done.code == 2 and "no [tool.gradcheck] table" in done.err


def test_the_run_uses_the_file(tmp_path: Path) -> None:
    inner = _project(tmp_path, "[tool.gradcheck]\nseed = 11\nverbosity = 'quiet'\n")
    done = run_cli("x*y", "--at", "x=0.5,y=2", cwd=inner)
    assert (done.code, done.out) == (0, "PASS x*y at x=0.5, y=2.0; seed 11\n"), done.err
    loud = run_cli("x*y", "--at", "x=0.5,y=2", "-v", "--seed", "3", cwd=inner)
    assert "seed: 3 (rerun with --seed 3)" in loud.out
    assert loud.err == f"gradcheck: note: options from {tmp_path / 'pyproject.toml'}\n"
    assert done.err == ""
