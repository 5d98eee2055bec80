"""The pytest plugin (`--gradcheck-engine`) and `assert_gradients`."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.assertions import assert_gradients
from gradcheck.checking.engines import load_source
from gradcheck.mutants import BASE_ENGINE, mutant_named

pytest_plugins = ["pytester"]

FAST = ("--gradcheck-examples", "3", "--gradcheck-seed", "5", "-p", "no:randomly")


def _engine(pytester: pytest.Pytester, source: str) -> Path:
    path = pytester.path / "engine_under_test.py"
    path.write_text(source, encoding="utf-8")
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    return path


def test_buggy_engine_items_fail_with_the_category(pytester: pytest.Pytester) -> None:
    _engine(pytester, mutant_named("mul-grad-overwrites").source())
    result = pytester.runpytest("--gradcheck-engine", "engine_under_test.py", *FAST)
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 1 and outcomes["passed"] >= 2
    result.stdout.fnmatch_lines(
        [
            "gradcheck: engine=engine_under_test.py, seed=5, examples=3*",
            "*gradcheck::accumulation*",
            "FAIL accumulation ?accumulation?*",
            "*first divergent node:*",
            "*hint:*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_correct_engine_passes_from_the_ini_file(pytester: pytest.Pytester) -> None:
    _engine(pytester, BASE_ENGINE)
    pytester.makeini(
        "[pytest]\n"
        "gradcheck_engine = engine_under_test.py\n"
        "gradcheck_examples = 3\n"
        "gradcheck_seed = 11\n"
    )
    result = pytester.runpytest("-v", "-p", "no:randomly")
    result.assert_outcomes(passed=len(_check_names(result.outlines)) + 1)
    result.stdout.fnmatch_lines(
        [
            "gradcheck: engine=engine_under_test.py, seed=11*",
            "*gradcheck::value PASSED*",
        ]
    )


def _check_names(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines if line.startswith("gradcheck::")]


def test_without_the_option_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert "gradcheck:" not in result.stdout.str()


def test_unloadable_engine_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = pytester.runpytest("--gradcheck-engine", "missing_engine.py", *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradcheck: engine file not found*"])


def test_xdist_workers_collect_the_same_items(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _engine(pytester, mutant_named("tanh-one-minus-t").source())
    result = pytester.runpytest_subprocess(
        "-n", "2", "--gradcheck-engine", "engine_under_test.py",
        "--gradcheck-examples", "2", "-p", "no:randomly",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 1 and outcomes["passed"] >= 2
    result.stdout.fnmatch_lines(["gradcheck: engine=engine_under_test.py, seed=*"])
    result.stdout.fnmatch_lines(["*FAIL local-derivative*[[]local-derivative[]]*"])
    assert "Different tests were collected" not in result.stdout.str()


def test_plugin_module_imports_no_checker() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gradcheck.pytest_plugin; "
        "print(sorted(m for m in ('sympy', 'gradcheck.cli') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_assert_gradients_passes_and_returns_the_report() -> None:
    report = assert_gradients("tanh(x*y) + x**2", {"x": 0.5, "y": -1.5})
    assert report.ok
    assert [r.variable for r in report.results[0].gradients] == ["x", "y"]


def test_assert_gradients_explains_a_wrong_gradient() -> None:
    module = load_source("mul-overwrites", mutant_named("mul-grad-overwrites").source())
    with pytest.raises(AssertionError) as info:
        assert_gradients("x*x", {"x": 1.5}, engine=module)
    text = str(info.value)
    assert "FAIL (accumulation): x*x at x=1.5" in text
    assert "WRONG" in text and "hint:" in text and "seed:" in text


def test_assert_gradients_with_random_points() -> None:
    report = assert_gradients("log(x) * y", points=2, seed=3)
    assert len(report.results) == 2
