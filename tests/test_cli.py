"""The `gradcheck` command: outputs, JSON shape, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_runner import AMBIENT

from gradcheck.cli import main, parse_point
from gradcheck.errors import UsageError
from gradcheck.internal.output.json_doc import target_view
from gradcheck.mutants import BASE_ENGINE, mutant_named


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """No colour, and none of a CI runner's variables: on GitHub Actions the
    command line would add `::error` lines to stderr and write to the job's
    summary."""
    monkeypatch.setenv("NO_COLOR", "1")
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def buggy_engine(tmp_path: Path) -> Path:
    return mutant_named("mul-grad-overwrites").write(tmp_path)


@pytest.fixture
def good_engine(tmp_path: Path) -> Path:
    path = tmp_path / "good_engine.py"
    path.write_text(BASE_ENGINE, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# -- expressions ------------------------------------------------------------------


def test_expression_passes_with_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tanh(x*y) + x**2", "--at", "x=0.5,y=-1.5")
    assert code == 0, err
    assert "2*x + y*(1 - tanh(x*y)**2)" in out  # the symbolic derivative
    assert "finite difference" in out and "abs error" in out
    assert "PASS" in out and "seed:" in out
    assert err == ""


def test_expression_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "x*y + x", "--at", "x=2", "--at", "y=-3", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "pass"
    assert isinstance(doc["seed"], int)
    (result,) = doc["results"]
    assert result["expression"] == "x*y + x"
    assert result["point"] == {"x": 2.0, "y": -3.0}
    assert set(result["value"]) >= {"backprop", "reference"}
    assert set(result["gradients"]) == {"x", "y"}
    row = result["gradients"]["x"]
    expected = {"backprop", "symbolic", "reference", "finite_difference"}
    assert set(row) >= expected | {"abs_error", "ok"}
    assert row["backprop"] == -2.0 and row["ok"] is True
    assert row["symbolic"] == "y + 1"


def test_reference_strings_carry_many_digits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run(capsys, "tanh(x)", "--at", "x=0.3", "--json")
    row = json.loads(out)["results"][0]["gradients"]["x"]
    digits = row["reference"].lstrip("-").replace(".", "").lstrip("0")
    assert len(digits) >= 25


@pytest.mark.heavy
def test_random_points_are_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("x**2 + log(y)", "--points", "3", "--seed", "7", "--json")
    _, first, _ = run(capsys, *argv)
    _, second, _ = run(capsys, *argv)
    doc = json.loads(first)
    assert doc["seed"] == 7 and len(doc["results"]) == 3
    assert [r["point"] for r in doc["results"]] == [
        r["point"] for r in json.loads(second)["results"]
    ]


def test_several_expressions_share_a_point(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "x*y", "exp(x)", "--at", "x=0.5,y=2", "--json")
    assert code == 0
    results = json.loads(out)["results"]
    assert [r["point"] for r in results] == [{"x": 0.5, "y": 2.0}, {"x": 0.5}]


def test_expression_starting_with_minus(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-x**2", "--at", "x=-1.5", "--json")
    assert code == 0
    assert json.loads(out)["results"][0]["gradients"]["x"]["backprop"] == 3.0


@pytest.mark.heavy
def test_wrong_gradient_exits_1(
    capsys: pytest.CaptureFixture[str], buggy_engine: Path
) -> None:
    argv = ("x*x", "--at", "x=1.5", "--engine", str(buggy_engine))
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert "FAIL" in out and "WRONG" in out and "accumulation" in out
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "fail"
    assert doc["results"][0]["gradients"]["x"]["ok"] is False


def test_correct_engine_file_passes(
    capsys: pytest.CaptureFixture[str], good_engine: Path
) -> None:
    code, _, _ = run(
        capsys, "x*x + 2 - x", "--at", "x=1.5", "--engine", str(good_engine)
    )
    assert code == 0


BAD = [
    (["foo(x)"], "unknown function foo", True),
    (["x +"], "ends too early", True),
    (["__import__('os').system('echo hi')"], "attribute access", True),
    (["(-2)**x", "--at", "x=1"], "must be a positive number", True),
    (["x/0", "--at", "x=1"], "division by zero", True),
    (["exp(1000)*x"], "overflow", True),
    (["log(x)", "--at", "x=-1"], "log", False),
    (["1/x", "--at", "x=0"], "at x=0", False),
    (["x*y", "--at", "x=1"], "no value for y", False),
    (["x", "--at", "z=1"], "unknown name z", False),
    (["x", "--at", "x=abc"], "bad number 'abc'", False),
    (["x", "--at", "x=nan"], "not a finite number", False),
    (["x", "--at", "x"], "NAME=VALUE", False),
    (["x", "--at", "x=1,x=2"], "given twice", False),
    (["x", "--at"], "expected a value", False),
    (["x", "--points", "0"], "at least 1", False),
    (["x", "--seed", "abc"], "not a whole number", False),
    (["x", "--bogus"], "unrecognized option", False),
    ([], "no expression given", False),
    (["x", "--engine", "no_such_module_xyz"], "cannot import engine", False),
    (["x", "--engine", "/no/such/engine.py"], "engine file not found", False),
    (["engine", "no_such_module_xyz", "--examples", "0"], "cannot import", False),
    (["engine", "--examples", "-1"], "must not be negative", False),
    (["engine", "--ops", "add,frobnicate", "--examples", "0"], "unknown op", False),
    (["engine", "--frob"], "unrecognized arguments", False),
    (["mutants", "--only", "no-such-mutant"], "unknown mutant", False),
]


@pytest.mark.parametrize(
    ("argv", "message", "caret"), BAD, ids=[" ".join(a) for a, _, _ in BAD]
)
def test_input_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str, caret: bool
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("gradcheck: error: ")
    assert message in lines[0]
    if caret:
        assert len(lines) == 3  # the message, the input, the caret line
        assert lines[2].strip().startswith("^")
    else:
        assert len(lines) == 1


def test_engine_that_does_not_load_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("class Value(:\n", encoding="utf-8")
    code, _, err = run(capsys, "engine", str(broken), "--examples", "0")
    assert code == 2
    assert err.startswith("gradcheck: error: cannot load engine file")
    assert len(err.splitlines()) == 1
    # -q: the target's one line on stdout too, as when there are several
    code, out, err = run(capsys, "engine", str(broken), "-q")
    assert code == 2 and out.startswith(f"ERROR {broken}: cannot load"), out


def test_internal_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradcheck.internal.checking.check

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(gradcheck.internal.checking.check, "check_expression", explode)
    code, _, err = run(capsys, "x", "--at", "x=1")
    assert code == 2
    assert err == (
        "gradcheck: error: internal error: RuntimeError: boom "
        "(set GRADCHECK_DEBUG=1 for the traceback)\n"
    )


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "gradcheck engine" in out and "--at" in out
    code, out, _ = run(capsys, "engine", "--help")
    assert code == 0 and "--junit-xml" in out
    code, out, _ = run(capsys, "mutants", "-h")
    assert code == 0 and "--examples" in out


def test_parse_point() -> None:
    assert parse_point([]) is None
    assert parse_point(["x=1, y=-2.5", "z=1e-3"]) == {"x": 1.0, "y": -2.5, "z": 0.001}
    with pytest.raises(UsageError, match="not a variable name"):
        parse_point(["1x=2"])


# -- engine ---------------------------------------------------------------------


@pytest.mark.heavy
def test_engine_json_and_junit_and_dot(
    capsys: pytest.CaptureFixture[str], buggy_engine: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "out" / "junit.xml"
    dots = tmp_path / "dots"
    argv = [
        "engine", str(buggy_engine), "--examples", "5", "--seed", "3", "--json",
        "--junit-xml", str(junit), "--dot", str(dots),
    ]  # fmt: skip
    code, out, _ = run(capsys, *argv)
    assert code == 1
    whole = json.loads(out)
    assert whole["schema"] == {"name": "gradcheck-engine-report", "version": 3}
    assert whole["summary"]["targets"] == 1 and whole["status"] == "fail"
    doc = target_view(whole)
    assert set(doc) >= {"target", "status", "engine", "seed", "ops", "checks"}
    assert doc["status"] == "fail" and doc["seed"] == 3
    assert set(doc["ops"]) == {"supported", "unsupported", "not_checked"}
    for check in doc["checks"]:
        assert set(check) >= {"name", "category", "status", "message", "counterexample"}
    failing = [c for c in doc["checks"] if c["status"] == "fail"]
    assert "accumulation" in {c["category"] for c in failing}
    assert all(c["counterexample"] is None or "expression" in c["counterexample"]
               for c in failing)  # fmt: skip

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(doc["checks"])
    failures = [c.find("failure") for c in cases if c.find("failure") is not None]
    assert len(failures) == len(failing)
    assert any("hint:" in (f.text or "") for f in failures if f is not None)

    written = sorted(p.name for p in dots.iterdir())
    assert any(name.endswith(".dot") for name in written)
    assert "accumulation.dot" in written
    if os.environ.get("PATH") and __import__("shutil").which("dot"):
        assert "accumulation.svg" in written


@pytest.mark.heavy
def test_engine_human_output(
    capsys: pytest.CaptureFixture[str], buggy_engine: Path
) -> None:
    code, out, err = run(
        capsys, "engine", str(buggy_engine), "--examples", "3", "--seed", "4"
    )
    assert code == 1
    # The default: the failing checks and their findings; passes in one line.
    assert "FAIL" in out and "PASS " not in out
    assert re.search(r"^passed: \d+ of \d+ checks \(", out, re.MULTILINE)
    assert "first divergent node:" in out and "hint:" in out
    assert "ops supported:" in out
    assert "seed: 4 (rerun with --seed 4)" in out
    assert "repeated backward:" in out
    assert err == ""  # no progress bar when not on a terminal
    argv = ("engine", str(buggy_engine), "--examples", "3", "--seed", "4")
    code, verbose, _ = run(capsys, *argv, "-v")
    assert code == 1
    assert "PASS" in verbose and "passed:" not in verbose  # every check listed
    code, quiet, _ = run(capsys, *argv, "-q")
    assert code == 1
    (line,) = quiet.splitlines()
    assert re.fullmatch(
        rf"FAIL {re.escape(str(buggy_engine))}: \d+ pass, .*; seed 4", line
    )


@pytest.mark.heavy
def test_engine_passes_on_a_correct_engine(
    capsys: pytest.CaptureFixture[str], good_engine: Path
) -> None:
    code, out, _ = run(
        capsys, "engine", str(good_engine), "--examples", "3", "--seed", "1"
    )
    assert code == 0, out
    assert "result: PASS" in out


@pytest.mark.heavy
def test_engine_ops_restricts_checks(
    capsys: pytest.CaptureFixture[str], good_engine: Path
) -> None:
    argv = (
        "engine",
        str(good_engine),
        "--ops",
        "add,mul,tanh",
        "--examples",
        "2",
        "--json",
    )
    code, out, _ = run(capsys, *argv)
    assert code == 0
    doc = target_view(json.loads(out))
    assert doc["ops"]["supported"] == ["add", "mul", "tanh"]
    names = [c["name"] for c in doc["checks"]]
    assert "local-derivative[tanh]" in names and "local-derivative[exp]" not in names


# -- mutants ----------------------------------------------------------------------


@pytest.mark.heavy
def test_mutants_gallery_subset(
    capsys: pytest.CaptureFixture[str], shared_mutant_checks: object
) -> None:
    """Text, then --json: the same checks, so the session's gallery runs them
    once (the `shared_mutant_checks` fixture); the output is made twice."""
    argv = (
        "mutants",
        "--only",
        "mul-grad-overwrites,tanh-one-minus-t",
        "--examples",
        "3",
    )
    code, out, _ = run(capsys, *argv, "--seed", "1")
    assert code == 0, out
    assert "mul-grad-overwrites" in out and "tanh-one-minus-t" in out
    assert "2 of 2 caught" in out
    code, out, _ = run(capsys, *argv, "--seed", "1", "--json")
    doc = json.loads(out)
    assert doc["status"] == "pass"
    assert {m["name"]: m["found"] for m in doc["mutants"]} == {
        "mul-grad-overwrites": "accumulation",
        "tanh-one-minus-t": "local-derivative",
    }


# -- the real program ------------------------------------------------------------
# A subprocess only where the process is the point: start-up, what --help
# imports, the exit code a shell sees. Everything else runs in-process.


def program(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    env.pop("GRADCHECK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "gradcheck", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_program_help() -> None:
    done = program("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: gradcheck")


def test_program_help_does_not_import_sympy() -> None:
    code = "import sys; from gradcheck.cli import main; main(['--help']); "
    code += "print('sympy' in sys.modules, file=sys.stderr)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.stderr.strip() == "False"


@pytest.mark.heavy
def test_program_bad_expression() -> None:
    done = program("x + foo(y)")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "gradcheck: error: unknown function foo; known: tanh, exp, log, relu, "
        "sigmoid, sin, cos, sqrt, abs, softplus, leaky_relu, gelu, gelu_tanh, erf",
        "    x + foo(y)",
        "        ^~~",
    ]


def test_program_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sigmoid(x)*x", "--at", "x=0.25", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "pass"


# -- rendering ----------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.heavy
def test_rich_and_plain_renderings_agree_on_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("rich")
    from gradcheck.internal.checking.check import check_expression
    from gradcheck.internal.output.render import print_expression_report
    from gradcheck.internal.output.terminal import printer, want_rich

    report = check_expression("x*y", {"x": 2.0, "y": 3.0}, seed=1)
    fancy, plain = _Terminal(), io.StringIO()
    print_expression_report(report, printer(fancy, rich=True))
    print_expression_report(report, printer(plain))
    for text in (fancy.getvalue(), plain.getvalue()):
        assert "x*y" in text and "seed: 1" in text and "PASS" in text
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert want_rich(_Terminal()) is True
    assert want_rich(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "")
    assert want_rich(_Terminal()) is False


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck.internal.output.terminal import Progress

    quiet = io.StringIO()
    with Progress(quiet) as progress:
        progress(1, 2)
    assert quiet.getvalue() == ""
    terminal = _Terminal()
    with Progress(terminal) as progress:  # NO_COLOR is set: the plain counter
        progress(1, 2)
    assert "random graphs: 1/2" in terminal.getvalue()
    monkeypatch.delenv("NO_COLOR")
    if importlib.util.find_spec("rich"):
        with Progress(_Terminal()) as progress:
            progress(1, 2)


MINIMAL_ENGINE = """
class Value:
    def __init__(self, data):
        self.data, self.grad, self._prev, self._back = data, 0.0, (), lambda: None

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data)
        out._prev = (self, other)

        def back():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._back = back
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            node._back()
"""


@pytest.mark.heavy
def test_unsupported_op_is_an_input_error_not_a_bug(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    engine = tmp_path / "minimal.py"
    engine.write_text(MINIMAL_ENGINE, encoding="utf-8")
    code, _, _ = run(capsys, "x*x", "--at", "x=1.5", "--engine", str(engine))
    assert code == 0
    code, out, err = run(capsys, "2 - x", "--at", "x=1", "--engine", str(engine))
    assert code == 2 and out == ""
    assert err.startswith("gradcheck: error: engine ")
    assert "does not support rsub" in err and len(err.splitlines()) == 1


@pytest.mark.heavy
def test_an_engine_that_prints_cannot_corrupt_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = tmp_path / "noisy.py"
    noisy.write_text(
        'print("loading my engine")\n'
        + BASE_ENGINE.replace(
            "    def backward(self):",
            '    def backward(self):\n        print("backward!")',
        )
    )
    code = main(["engine", str(noisy), "--examples", "3", "--seed", "0", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    # one document, whatever the engine prints
    document = target_view(json.loads(captured.out))
    assert document["status"] == "pass"
    assert "backward!" in document["output_tail"]
    assert len(document["output_tail"]) <= 50  # the last lines only


# -- the command line itself (issue 12) --------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from gradcheck import __version__

    for argv in (["--version"], ["engine", "--version"], ["x", "--version"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and out.strip() == f"gradcheck {__version__}"


def test_help_names_no_repository_paths(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["engine", "--help"], ["mutants", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0
        assert "docs/" not in out and ".md" not in out
        assert "exit codes:" in out and "130" in out and "inconclusive" in out
    _, out, _ = run(capsys, "--help")
    assert "see the grammar page of the docs" in " ".join(out.split())


@pytest.mark.heavy
def test_check_word_is_the_default_form(capsys: pytest.CaptureFixture[str]) -> None:
    plain = run(capsys, "x*y", "--at", "x=1,y=2", "--json")
    worded = run(capsys, "check", "x*y", "--at", "x=1,y=2", "--json")
    assert plain[0] == worded[0] == 0
    assert json.loads(plain[1])["results"] == json.loads(worded[1])["results"]


def test_dash_reads_expressions_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("x*y\n\n# a comment\n  tanh(x)  \n"))
    code, out, _ = run(capsys, "exp(x)", "-", "--at", "x=0.5,y=2", "--json")
    assert code == 0
    assert [r["expression"] for r in json.loads(out)["results"]] == [
        "exp(x)",
        "x*y",
        "tanh(x)",
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("# nothing\n\n"))
    code, out, err = run(capsys, "-")
    assert code == 2 and out == ""
    assert "no expression given on stdin" in err


ENGINE_BAD = [
    (["--junit-xml", ""], "--junit-xml: needs a file"),
    (["--junit-xml="], "--junit-xml: needs a file"),
    (["--dot", " "], "--dot: needs a file"),
    (["--memory-limit", "3X"], "not a size like 512M"),
    (["--memory-limit", "1M"], "at least 64M"),
    (["--import-timeout", "0"], "must be a positive number"),
    (["--import-timeout", "soon"], "not a number"),
    (["--time-limit", "inf"], "must be a positive number"),
    (["--range", "-1"], "must be a positive number"),
    (["--min-depth", "0"], "at least 1"),
    (["--kind", "matrix"], "invalid choice"),
    (["--api", "data"], "expected KEY=VALUE"),
    (["--api", "data=1x"], "not an attribute name"),
    (["--api", "grad=g", "--api", "grad=h"], "grad is given twice"),
    (["--op", "frob=expo"], "unknown op frob"),
    (["--op", "exp=e-x"], "is not a method name"),
    (["--op-def", "log=log(z)"], "only x and y"),
    (["--op-def", "1log=x"], "is not a name"),
]


@pytest.mark.parametrize(
    ("extra", "message"), ENGINE_BAD, ids=[" ".join(a) for a, _ in ENGINE_BAD]
)
def test_engine_option_errors_exit_2(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run(capsys, "engine", "--examples", "0", *extra)
    assert code == 2 and out == ""
    assert err.startswith("gradcheck: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_op_def_syntax_error_points_at_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "engine", "--op-def", "log=log(x +", "--examples", "0")
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("gradcheck: error: --op-def log:")
    assert lines[1].strip() == "log(x +" and lines[2].strip().startswith("^")


def _fake_checker(
    monkeypatch: pytest.MonkeyPatch, make: object, calls: list[dict[str, object]]
) -> None:
    """Replace check_engine by `make(target, **kwargs)` with the full signature."""
    import gradcheck.internal.checking.check

    def check_engine(  # the signature the lead's checker will have
        target: object = None,
        *,
        examples: int = 200,
        seed: int | None = None,
        max_nodes: int = 30,
        ops: object = None,
        jobs: int = 1,
        time_limit: float = 2.0,
        progress: object = None,
        import_timeout: float = 20.0,
        memory_limit: int = 0,
        strict: bool = False,
        min_depth: int | None = None,
        range_limit: float | None = None,
        api: object = None,
        op_names: object = None,
        op_defs: object = None,
        kind: str | None = None,
    ) -> object:
        kwargs = dict(locals())
        kwargs.pop("target")
        calls.append(kwargs)
        return make(target)  # type: ignore[operator]

    monkeypatch.setattr(gradcheck.internal.checking.check, "check_engine", check_engine)


def _report(status: str = "pass", **extra: object) -> object:
    from gradcheck.report import Check, EngineReport

    report = EngineReport("fake.py", 5, ["add"], {"tanh": "no tanh method"})
    report.checks.append(Check("value", "value", status, "3 examples", examples=3))
    for key, value in extra.items():
        setattr(report, key, value)
    return report


def test_new_engine_options_reach_check_engine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, object]] = []
    _fake_checker(monkeypatch, lambda target: _report(), calls)
    argv = [
        "engine", "e.py", "--import-timeout", "2.5", "--memory-limit", "512M",
        "--time-limit", "3", "--strict", "--min-depth", "500", "--range", "400",
        "--api", "data=value,grad=derivative", "--api", "backward=backprop",
        "--api", "requires_grad=True", "--op", "exp=expo,log=ln",
        "--op-def", "log=log(x + 1e-6)", "--kind", "scalar", "--seed", "9",
        "--examples", "7",
    ]  # fmt: skip
    code, _, err = run(capsys, *argv)
    assert code == 0 and "note:" not in err
    (kwargs,) = calls
    assert kwargs["import_timeout"] == 2.5 and kwargs["memory_limit"] == 512 * 2**20
    assert kwargs["time_limit"] == 3.0 and kwargs["strict"] is True
    assert kwargs["min_depth"] == 500 and kwargs["range_limit"] == 400.0
    assert kwargs["api"] == {
        "data": "value",
        "grad": "derivative",
        "backward": "backprop",
        "requires_grad": "True",
    }
    assert kwargs["op_names"] == {"exp": "expo", "log": "ln"}
    assert kwargs["op_defs"] == {"log": "log(x + 1e-6)"}
    assert kwargs["kind"] == "scalar" and kwargs["seed"] == 9
    assert kwargs["examples"] == 7
    calls.clear()
    run(capsys, "engine", "e.py")
    assert calls[0]["import_timeout"] == 20.0 and calls[0]["memory_limit"] == 4 * 2**30
    assert calls[0]["min_depth"] is None and calls[0]["api"] is None


def test_options_the_checker_lacks_are_dropped_with_a_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradcheck.internal.checking.check

    seen: list[dict[str, object]] = []

    def old_check_engine(target: object = None, *, examples: int = 1) -> object:
        seen.append({"examples": examples})
        return _report()

    monkeypatch.setattr(
        gradcheck.internal.checking.check, "check_engine", old_check_engine
    )
    code, _, err = run(capsys, "engine", "--min-depth", "9", "--examples", "4")
    assert code == 0 and seen == [{"examples": 4}]
    assert err == (
        "gradcheck: note: --min-depth is not supported by this checker yet; ignored\n"
    )


@pytest.mark.parametrize(
    ("status", "extra", "strict", "code"),
    [
        ("pass", {}, False, 0),
        ("fail", {}, False, 1),
        ("inconclusive", {}, False, 3),
        ("pass", {"limits": [object()]}, False, 0),
        ("pass", {"limits": [object()]}, True, 1),
    ],
)
def test_exit_codes_from_the_report(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: str,
    extra: dict[str, object],
    strict: bool,
    code: int,
) -> None:
    _fake_checker(monkeypatch, lambda target: _report(status, **extra), [])
    argv = ["engine", "e.py", *(["--strict"] if strict else [])]
    assert run(capsys, *argv)[0] == code
    assert run(capsys, *argv, "--json")[0] == code


def test_the_reports_own_exit_code_wins(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _report()
    asked: list[bool] = []

    def exit_code(strict: bool) -> int:
        asked.append(strict)
        return 3

    report.exit_code = exit_code  # type: ignore[attr-defined]
    _fake_checker(monkeypatch, lambda target: report, [])
    assert run(capsys, "engine", "e.py", "--strict")[0] == 3
    assert asked and all(asked)


def test_several_targets_give_reports_and_a_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gradcheck.errors import EngineError

    def make(target: str) -> object:
        if target == "missing.py":
            raise EngineError("engine file not found: missing.py")
        return _report("fail" if target == "bad.py" else "pass")

    _fake_checker(monkeypatch, make, [])
    code, out, err = run(capsys, "engine", "good.py", "bad.py", "missing.py")
    assert code == 1  # a failure is worse than a load error
    assert "summary of 3 engines:" in out
    summary = out.split("summary of 3 engines:")[1].splitlines()
    assert summary[1].split()[:3] == ["target", "verdict", "errors"]
    rows = {line.split()[0]: line.split()[1] for line in summary[2:5]}
    assert rows == {"good.py": "PASS", "bad.py": "FAIL", "missing.py": "ERROR"}
    assert "gradcheck: error: missing.py: engine file not found" in err
    code, out, _ = run(capsys, "engine", "good.py", "missing.py", "--json")
    assert code == 2
    whole = json.loads(out)
    assert whole["schema"]["name"] == "gradcheck-engine-report"
    assert whole["status"] == "error" and whole["exit_code"] == 2
    docs = whole["targets"]
    assert [d["target"] for d in docs] == ["good.py", "missing.py"]
    assert docs[1]["status"] == "error" and "not found" in docs[1]["message"]
    assert whole["summary"] == {
        "targets": 2, "pass": 1, "fail": 0, "inconclusive": 0, "error": 1
    }  # fmt: skip
    assert run(capsys, "engine", "good.py", "good.py")[0] == 0


@pytest.mark.heavy
def test_several_real_targets_over_processes(
    capsys: pytest.CaptureFixture[str],
    good_engine: Path,
    buggy_engine: Path,
    tmp_path: Path,
) -> None:
    junit = tmp_path / "junit.xml"
    argv = [
        "engine", str(good_engine), str(buggy_engine), "--examples", "0",
        "--seed", "2", "--json", "--junit-xml", str(junit),
        "--ops", "add,mul",  # the bug is in `*`; fewer ops, shorter runs
    ]  # fmt: skip
    code, out, _ = run(capsys, *argv)
    code2, out2, _ = run(capsys, *argv, "--jobs", "2")
    assert code == code2 == 1
    first, second = json.loads(out)["targets"], json.loads(out2)["targets"]
    assert [d["status"] for d in first] == [d["status"] for d in second]
    assert [d["status"] for d in first] == ["pass", "fail"]
    root = ET.parse(junit).getroot()
    assert len(root.findall("testsuite")) == 2


def test_json_error_document_on_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["engine", "--examples", "-1", "--json"],
        ["x +", "--json"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 2
        doc = json.loads(out)
        assert doc["schema"]["name"] == "gradcheck-error"
        assert doc["status"] == "error" and doc["message"] in err
    # an engine named by the expression form: the error document names it
    code, out, err = run(capsys, "x*y", "--engine", "/no/such/engine.py", "--json")
    assert code == 2 and json.loads(out)["target"] == "/no/such/engine.py"
    # a target that does not load is a target of the usual document
    code, out, err = run(capsys, "engine", "/no/such/engine.py", "--json")
    assert code == 2
    doc = json.loads(out)
    assert doc["schema"]["name"] == "gradcheck-engine-report"
    assert doc["status"] == "error" and doc["targets"][0]["message"] in err


def test_ctrl_c_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradcheck.internal.checking.check

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(
        gradcheck.internal.checking.check, "check_expression", interrupted
    )
    code, _, err = run(capsys, "x", "--at", "x=1")
    assert code == 130 and err == "gradcheck: error: interrupted\n"


def test_ctrl_c_swallowed_by_a_callback_still_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python ignores an exception raised in a gc callback (Hypothesis has
    # one): the run would go on and exit 0 after the user pressed Ctrl-C.
    import signal

    import gradcheck.internal.checking.check

    real = gradcheck.internal.checking.check.check_expression

    def swallowed(*args: object, **kwargs: object) -> object:
        with contextlib.suppress(KeyboardInterrupt):  # as such a callback does
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(
        gradcheck.internal.checking.check, "check_expression", swallowed
    )
    code, _, err = run(capsys, "x", "--at", "x=1")
    assert code == 130 and err.endswith("gradcheck: error: interrupted\n"), err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_expression_inconclusive_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradcheck.internal.checking.check
    from gradcheck.report import ExpressionReport

    real = gradcheck.internal.checking.check.check_expression

    def inconclusive(*args: object, **kwargs: object) -> ExpressionReport:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        report.results[0].status = "inconclusive"
        return report

    monkeypatch.setattr(
        gradcheck.internal.checking.check, "check_expression", inconclusive
    )
    code, out, _ = run(capsys, "x*x", "--at", "x=1", "--json")
    assert code == 3 and json.loads(out)["status"] == "inconclusive"


@pytest.mark.heavy
def test_expressions_and_mutants_write_junit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, buggy_engine: Path
) -> None:
    path = tmp_path / "expr.xml"
    argv = ["x*x", "x+1", "--at", "x=1.5", "--engine", str(buggy_engine)]
    code, _, _ = run(capsys, *argv, "--junit-xml", str(path))
    assert code == 1
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    path = tmp_path / "mutants.xml"
    argv = ["mutants", "--only", "mul-grad-overwrites", "--examples", "2"]
    code, _, _ = run(capsys, *argv, "--seed", "1", "--junit-xml", str(path))
    assert code == 0
    (case,) = ET.parse(path).getroot().iter("testcase")
    assert case.get("name") == "mul-grad-overwrites" and len(case) == 0


@pytest.mark.heavy
def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails with EPIPE
    env = dict(os.environ, NO_COLOR="1")
    for argv in (["--help"], ["x*y", "--at", "x=1,y=2"]):
        done = subprocess.run(
            [sys.executable, "-m", "gradcheck", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
    os.close(write)


def test_text_report_shows_limits_notes_output_and_isolation() -> None:
    from gradcheck.internal.output.render import print_engine_report
    from gradcheck.internal.output.terminal import VERBOSE, printer

    class Limit:
        name, message, hint = "depth", "RecursionError from depth 1,003", "a stack"

    report = _report(
        limits=[Limit()],
        isolated=True,
        engine_file="/abs/e.py",
        notes=["used cells 1-3"],
        output_tail=[f"line {k}" for k in range(60)],
    )
    buffer = io.StringIO()
    print_engine_report(report, printer(buffer))  # type: ignore[arg-type]
    text = buffer.getvalue()
    assert "isolated: yes, loaded from /abs/e.py" in text
    assert "Limits (not errors unless --strict):" in text
    assert "depth: RecursionError from depth 1,003" in text and "hint: a stack" in text
    assert "note: used cells 1-3" in text
    assert "engine output (last 10 lines) (-v shows more):" in text
    assert "line 59" in text and "line 49\n" not in text
    assert "1 limit(s)" in text
    buffer = io.StringIO()
    print_engine_report(report, printer(buffer), VERBOSE)  # type: ignore[arg-type]
    text = buffer.getvalue()
    assert "engine output (last 50 lines):" in text
    assert "line 59" in text and "line 9\n" not in text
    plain = io.StringIO()
    print_engine_report(_report(), printer(plain))  # type: ignore[arg-type]
    assert "Limits" not in plain.getvalue()
