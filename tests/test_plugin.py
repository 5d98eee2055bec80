"""The pytest plugin (`--gradcheck-engine`, fixture, marker) and `assert_gradients`.

Most plugin tests swap `check_engine` for a fake (in the pytester project's
conftest) that logs each call and returns a report chosen per family, so
they test the plugin's mechanics fast; a few run the real checker end to end.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gradcheck.assertions import assert_gradients
from gradcheck.internal.checking.engine_client import load_source
from gradcheck.mutants import BASE_ENGINE, mutant_named
from gradcheck.pytest_plugin import FAMILIES, class_line, engine_file, in_family

pytest_plugins = ["pytester"]

NO_RANDOMLY = ("-p", "no:randomly")
FAST = ("--gradcheck-examples", "3", "--gradcheck-seed", "5", *NO_RANDOMLY)
ITEMS = [f"gradcheck[{family}]" for family in FAMILIES]

# check_engine stand-in: logs every call to calls.jsonl and returns the statuses
# in STATUS (default pass). `checks=` is accepted unless OLD_SIGNATURE is set.
FAKE_CONFTEST = """
import json, os
import gradcheck.internal.checking.check as check_module
from gradcheck.report import Check, EngineReport

STATUS = {status!r}
OLD_SIGNATURE = {old!r}

def _report(target, families, seed, examples):
    with open("calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({{"families": families, "seed": seed,
            "examples": examples, "target": target,
            "worker": os.environ.get("PYTEST_XDIST_WORKER")}}) + "\\n")
    report = EngineReport(str(target), seed, [], {{}})
    for family in families or {families!r}:
        status = STATUS.get(family, "pass")
        if status == "unverified":
            check = Check(family, "value", "pass", "all kinks", None, 4, 4)
        else:
            check = Check(family, "value", status, f"{{family}} is {{status}}")
        report.checks.append(check)
        if family == "local-derivative":
            report.checks.append(Check("local-derivative[tanh]", "value", "pass", ""))
    return report

if OLD_SIGNATURE:
    def fake(target=None, *, seed=None, examples=200):
        return _report(target, None, seed, examples)
else:
    def fake(target=None, *, checks=None, seed=None, examples=200):
        return _report(target, checks, seed, examples)

_real = check_module.check_engine

def pytest_configure(config):
    check_module.check_engine = fake

def pytest_unconfigure(config):  # in-process runs share the module
    check_module.check_engine = _real
"""


def _project(
    pytester: pytest.Pytester,
    status: dict[str, str] | None = None,
    *,
    old: bool = False,
    engine: str = "my_engine.py",
) -> Path:
    """A project with an engine file, one ordinary test and the fake checker."""
    pytester.makeconftest(
        FAKE_CONFTEST.format(status=status or {}, old=old, families=list(FAMILIES))
    )
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    path = pytester.path / engine
    path.write_text(BASE_ENGINE, encoding="utf-8")
    return path


def _calls(pytester: pytest.Pytester) -> list[dict[str, object]]:
    log = pytester.path / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _header_seed(result: pytest.RunResult) -> int:
    text = result.stdout.str()
    found = re.search(
        r"gradcheck: engine \S+, seed (\d+), .*--gradcheck-seed=(\d+)", text
    )
    assert found is not None, text
    assert found.group(1) == found.group(2)
    return int(found.group(1))


# -- collection ----------------------------------------------------------------


@pytest.mark.heavy
def test_collection_names_one_item_per_family_and_runs_nothing(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    (pytester.path / "my_engine.py").write_text(
        "open('imported.txt', 'w').close()\n", encoding="utf-8"
    )
    result = pytester.runpytest(
        "--gradcheck-engine", "my_engine.py", "--collect-only", "-q", *FAST
    )
    assert result.ret == pytest.ExitCode.OK
    listed = [line for line in result.outlines if line.startswith("gradcheck[")]
    assert listed == ITEMS
    result.stdout.fnmatch_lines([f"{len(FAMILIES) + 1} tests collected*"])
    assert _calls(pytester) == []
    assert not (pytester.path / "imported.txt").exists()


def test_reportinfo_points_at_the_engine_file(pytester: pytest.Pytester) -> None:
    _project(pytester)
    found, _ = pytester.inline_genitems("--gradcheck-engine", "my_engine.py")
    ours = [item for item in found if item.nodeid.startswith("gradcheck[")]
    assert [item.nodeid for item in ours] == ITEMS
    # At the engine's class, so that skips and failures point into the engine.
    line = BASE_ENGINE.splitlines().index(
        next(x for x in BASE_ENGINE.splitlines() if x.startswith("class Value"))
    )
    assert line > 0
    assert ours[0].location == ("my_engine.py", line, "gradcheck[defined]")


def test_class_line_reads_the_named_class_without_importing(tmp_path: Path) -> None:
    engine = tmp_path / "eng.py"
    engine.write_text("raise SystemExit\nclass Value:\n    pass\nclass Other:\n")
    assert class_line(engine, "eng.py") == 1
    assert class_line(engine, "eng.py:Other") == 3
    assert class_line(engine, "eng.py:Missing") == 0
    assert class_line(tmp_path / "nb.ipynb", "nb.ipynb:Value@2") == 0
    assert class_line(tmp_path / "gone.py", "gone.py") == 0


def test_a_module_target_is_found_on_sys_path_without_importing(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('imported')\n")
    (package / "engine.py").write_text("raise SystemExit('imported')\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        assert engine_file("pkg.engine:Value", tmp_path) == package / "engine.py"
        assert engine_file("pkg", tmp_path) == package / "__init__.py"
        assert engine_file("no_such_module_here", tmp_path) is None
    finally:
        sys.path.remove(str(tmp_path))
    assert engine_file("sub/eng.py:Tensor", tmp_path) == tmp_path / "sub" / "eng.py"
    assert engine_file("nb.ipynb:Value@3", tmp_path) == tmp_path / "nb.ipynb"
    assert engine_file("/abs/eng.py", tmp_path) == Path("/abs/eng.py")


@pytest.mark.heavy
def test_families_cover_every_check_the_checker_runs() -> None:
    import gradcheck.internal.checking.check as check_module

    checker_families = getattr(check_module, "CHECK_FAMILIES", None)
    if checker_families is not None:
        assert tuple(checker_families) == FAMILIES
    report = check_module.check_engine(
        load_source("base", BASE_ENGINE), examples=0, seed=1
    )
    names = [check.name for check in report.checks]
    assert all(any(in_family(n, f) for f in FAMILIES) for n in names), names
    assert in_family("local-derivative[tanh]", "local-derivative")
    assert not in_family("value-ish", "value")


# -- run time ----------------------------------------------------------------------


def test_each_item_runs_only_its_family(pytester: pytest.Pytester) -> None:
    _project(pytester, {"accumulation": "fail", "zero-grad": "skip"})
    result = pytester.runpytest("--gradcheck-engine", "my_engine.py", "-rs", *FAST)
    result.assert_outcomes(passed=len(FAMILIES) - 1, failed=1, skipped=1)
    assert [c["families"] for c in _calls(pytester)] == [[f] for f in FAMILIES]
    assert {c["seed"] for c in _calls(pytester)} == {5}
    assert {c["examples"] for c in _calls(pytester)} == {3}
    result.stdout.fnmatch_lines(
        [
            "gradcheck: engine my_engine.py, seed 5, examples 3 "
            "(rerun with --gradcheck-seed=5)",
            "*_ gradcheck[[]accumulation[]] _*",
            "FAIL accumulation [[]value[]]: accumulation is fail",
            "seed: 5 (rerun with --gradcheck-seed=5)",
            "SKIPPED [[]1[]] my_engine.py:*: zero-grad is skip",
        ]
    )
    assert "pytest_plugin.py" not in result.stdout.str()


def test_keyword_selects_families_and_runs_only_those(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    result = pytester.runpytest(
        "--gradcheck-engine", "my_engine.py", "-k", "local-derivative", *FAST
    )
    result.assert_outcomes(passed=1, deselected=len(FAMILIES))
    assert [c["families"] for c in _calls(pytester)] == [["local-derivative"]]


@pytest.mark.heavy
def test_last_failed_reruns_only_the_failed_families(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, {"propagation": "fail", "training-loop": "fail"})
    first = pytester.runpytest("--gradcheck-engine", "my_engine.py", *FAST)
    first.assert_outcomes(passed=len(FAMILIES) - 1, failed=2)
    (pytester.path / "calls.jsonl").unlink()
    again = pytester.runpytest("--gradcheck-engine", "my_engine.py", "--lf", *FAST)
    again.assert_outcomes(failed=2, deselected=len(FAMILIES) - 1)
    assert [c["families"] for c in _calls(pytester)] == [
        ["propagation"],
        ["training-loop"],
    ]


def test_an_old_check_engine_runs_once_and_items_pick_their_checks(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, {"value": "fail"}, old=True)
    result = pytester.runpytest("--gradcheck-engine", "my_engine.py", *FAST)
    result.assert_outcomes(passed=len(FAMILIES), failed=1)
    assert [c["families"] for c in _calls(pytester)] == [None]


@pytest.mark.heavy
def test_inconclusive_fails_unless_allowed(pytester: pytest.Pytester) -> None:
    _project(pytester, {"random-graphs": "unverified"})
    args = ("--gradcheck-engine", "my_engine.py", "-k", "random", *FAST)
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1, deselected=len(FAMILIES))
    result.stdout.fnmatch_lines(
        ["INCONCLUSIVE random-graphs: every example was inconclusive*"]
    )
    pytester.runpytest(*args, "--gradcheck-allow-inconclusive").assert_outcomes(
        passed=1, deselected=len(FAMILIES)
    )
    pytester.makeini("[pytest]\ngradcheck_allow_inconclusive = true\n")
    pytester.runpytest(*args).assert_outcomes(passed=1, deselected=len(FAMILIES))


@pytest.mark.heavy(seconds=4)
def test_xdist_workers_run_only_their_items(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    _project(pytester, {"deep-chain": "fail"})
    result = pytester.runpytest_subprocess(
        "-n", "2", "--gradcheck-engine", "my_engine.py", *FAST
    )
    result.assert_outcomes(passed=len(FAMILIES), failed=1)
    calls = _calls(pytester)
    assert sorted(f for c in calls for f in c["families"]) == sorted(FAMILIES)
    assert {c["seed"] for c in calls} == {5}
    assert {c["worker"] for c in calls} == {"gw0", "gw1"}
    assert "Different tests were collected" not in result.stdout.str()


@pytest.mark.heavy(seconds=4)
def test_xdist_workers_get_the_controllers_random_seed(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    _project(pytester)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--gradcheck-engine", "my_engine.py", *NO_RANDOMLY
    )
    result.assert_outcomes(passed=len(FAMILIES) + 1)
    assert {c["seed"] for c in _calls(pytester)} == {_header_seed(result)}


# -- options -------------------------------------------------------------------------


def test_options_come_from_the_ini_file(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makeini(
        "[pytest]\n"
        "gradcheck_engine = my_engine.py\n"
        "gradcheck_examples = 7\n"
        "gradcheck_seed = 11\n"
    )
    result = pytester.runpytest("-v", *NO_RANDOMLY)
    result.assert_outcomes(passed=len(FAMILIES) + 1)
    assert _header_seed(result) == 11
    assert {(c["seed"], c["examples"]) for c in _calls(pytester)} == {(11, 7)}
    result.stdout.fnmatch_lines(["gradcheck[[]value[]] PASSED*"])


def test_the_ini_files_engine_is_found_from_its_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cd tests && pytest`: the ini file's relative path is from its own folder.
    _project(pytester)
    pytester.makeini("[pytest]\ngradcheck_engine = my_engine.py\n")
    inner = pytester.mkdir("tests")
    (inner / "test_inner.py").write_text("def test_inner():\n    assert True\n")
    monkeypatch.chdir(inner)
    result = pytester.runpytest("-v", *NO_RANDOMLY)
    assert "engine file not found" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*gradcheck[[]value[]] PASSED*"])


@pytest.mark.heavy
def test_seed_last_reuses_the_previous_runs_seed(pytester: pytest.Pytester) -> None:
    _project(pytester)
    args = ("--gradcheck-engine", "my_engine.py", "--co", *NO_RANDOMLY)
    first = _header_seed(pytester.runpytest(*args, "--gradcheck-seed=random"))
    assert _header_seed(pytester.runpytest(*args, "--gradcheck-seed=last")) == first
    assert _header_seed(pytester.runpytest(*args, "--gradcheck-seed=42")) == 42
    assert _header_seed(pytester.runpytest(*args, "--gradcheck-seed=last")) == 42


def test_seed_is_zero_under_ci_and_bad_seeds_are_usage_errors(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester)
    args = ("--gradcheck-engine", "my_engine.py", "--co", *NO_RANDOMLY)
    monkeypatch.setenv("CI", "true")
    assert _header_seed(pytester.runpytest(*args)) == 0
    bad = pytester.runpytest(*args, "--gradcheck-seed=soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*gradcheck_seed: not a seed: 'soon'*"])
    bad = pytester.runpytest(*args, "--gradcheck-examples=-1")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_without_the_option_the_plugin_does_nothing(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest(*NO_RANDOMLY)
    result.assert_outcomes(passed=1)
    assert "gradcheck:" not in result.stdout.str()
    assert _calls(pytester) == []


def test_missing_engine_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = pytester.runpytest("--gradcheck-engine", "missing_engine.py", *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradcheck: engine file not found*missing_engine.py"])


@pytest.mark.heavy
def test_engine_that_cannot_load_fails_every_item_in_one_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(my_engine="class NotValue:\n    pass\n")
    result = pytester.runpytest("--gradcheck-engine", "my_engine.py", *FAST)
    result.assert_outcomes(failed=len(FAMILIES))
    result.stdout.fnmatch_lines(["FAILED gradcheck[[]value[]] - Failed: gradcheck: *"])
    assert "Traceback" not in result.stdout.str()


def test_the_plugin_page_documents_exactly_the_options(
    pytester: pytest.Pytester,
) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "plugin.md").read_text()
    shown = pytester.runpytest("--help").stdout.str()
    pattern = r"--gradcheck-[a-z-]+|\bgradcheck_[a-z_]+"
    documented = set(re.findall(pattern, page))
    assert documented == set(re.findall(pattern, shown))


# -- fixture and marker ------------------------------------------------------------


def test_marker_configures_the_fixture(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.gradcheck(engine="my_engine.py", examples=2, seed=7)
        def test_marked(gradcheck_engine):
            assert gradcheck_engine.target == "my_engine.py"
            report = gradcheck_engine.check()
            assert report.seed == 7 and report.ok

        def test_unmarked(gradcheck_engine):
            assert gradcheck_engine.target is None
            assert gradcheck_engine.seed == 5 and gradcheck_engine.examples == 3
            gradcheck_engine.check(examples=0)
        """
    )
    result = pytester.runpytest("--strict-markers", "test_marked.py", *FAST)
    result.assert_outcomes(passed=2)
    calls = _calls(pytester)
    assert [(c["target"], c["seed"], c["examples"]) for c in calls] == [
        ("my_engine.py", 7, 2),
        (None, 5, 0),
    ]


def test_marker_with_a_bad_option_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.gradcheck(engin="typo.py")
        def test_marked(gradcheck_engine):
            pass
        """
    )
    result = pytester.runpytest("--strict-markers", *NO_RANDOMLY)
    result.stdout.fnmatch_lines(["*unknown gradcheck marker option(s): engin*"])
    assert result.ret != pytest.ExitCode.OK


# -- end to end with the real checker ------------------------------------------------


@pytest.mark.heavy
def test_buggy_engine_families_fail_with_the_explanation(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / "my_engine.py"
    path.write_text(mutant_named("mul-grad-overwrites").source(), encoding="utf-8")
    result = pytester.runpytest(
        "--gradcheck-engine", "my_engine.py", "-k", "accumulation or value",
        *FAST,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1, deselected=len(FAMILIES) - 2)
    result.stdout.fnmatch_lines(
        [
            "*_ gradcheck[[]accumulation[]] _*",
            "FAIL accumulation* [[]accumulation[]]*",
            "*first divergent node:*",
            "*hint:*",
            "reproduce in the engine's own API:",
            "*out.backward()",
            "seed: 5 (rerun with --gradcheck-seed=5)",
        ]
    )


@pytest.fixture
def no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry-point plugins (hypothesis's, ours) would import more than -p does."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.mark.heavy
@pytest.mark.usefixtures("no_autoload")
def test_plugin_start_up_imports_no_checker(pytester: pytest.Pytester) -> None:
    """`-p gradcheck.pytest_plugin --co` with an engine: no SymPy, no engine."""
    (pytester.path / "my_engine.py").write_text(
        "open('imported.txt', 'w').close()\n", encoding="utf-8"
    )
    pytester.makeconftest(
        """
        import sys

        def pytest_collection_finish(session):
            heavy = ("sympy", "mpmath", "hypothesis",
                     "gradcheck.internal.checking.check")
            print("HEAVY", sorted(m for m in heavy if m in sys.modules))
        """
    )
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = pytester.runpytest_subprocess(
        "-p", "gradcheck.pytest_plugin", "--gradcheck-engine", "my_engine.py",
        "--co", "-s",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    assert "HEAVY []" in result.outlines
    result.stdout.fnmatch_lines(["*<GradcheckItem gradcheck[[]random-graphs[]]>"])
    assert not (pytester.path / "imported.txt").exists()


# -- assert_gradients ----------------------------------------------------------------


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


@pytest.mark.heavy(seconds=8)
def test_a_tensor_engine_is_recognised_at_run_time_by_its_data(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("numpy")
    from gradcheck.mutants.tensor import TENSOR_BASE_ENGINE, TENSOR_MUTANTS

    # Named like no tensor class: only its data says it is one (as on the CLI).
    alias = "\nArray = Tensor\n"
    (pytester.path / "my_tensor.py").write_text(TENSOR_BASE_ENGINE + alias)
    buggy = next(m for m in TENSOR_MUTANTS if m.name == "no-unbroadcast")
    (pytester.path / "buggy_tensor.py").write_text(buggy.source() + alias)
    collected = pytester.runpytest(
        "--gradcheck-engine", "my_tensor.py:Array", "--co", "-q", *NO_RANDOMLY
    )
    assert [x for x in collected.outlines if x.startswith("gradcheck[")] == ITEMS
    good = pytester.runpytest(
        "--gradcheck-engine", "my_tensor.py:Array", "--gradcheck-examples", "0",
        "-rs", *NO_RANDOMLY,
    )  # fmt: skip
    outcomes = good.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1 and "failed" not in outcomes
    good.stdout.fnmatch_lines(["SKIPPED [[]*[]] my_tensor.py:*: a tensor engine *"])
    bad = pytester.runpytest(
        "--gradcheck-engine", "buggy_tensor.py:Array", "--gradcheck-examples", "0",
        *NO_RANDOMLY,
    )  # fmt: skip
    assert bad.parseoutcomes().get("failed") == 1
    bad.stdout.fnmatch_lines(["*gradcheck[[]propagation[]]*", "*broadcasting*"])


@pytest.mark.heavy
def test_assert_gradients_hides_its_own_frame(pytester: pytest.Pytester) -> None:
    (pytester.path / "buggy.py").write_text(
        mutant_named("mul-grad-overwrites").source(), encoding="utf-8"
    )
    pytester.makepyfile(
        test_mine="""
        from gradcheck.assertions import assert_gradients

        def test_square():
            assert_gradients("x*x", {"x": 1.5}, engine="buggy.py")
        """
    )
    result = pytester.runpytest(*NO_RANDOMLY)
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert 'assert_gradients("x*x"' in text  # the user's own line
    assert "raise AssertionError" not in text and "assertions.py" not in text


def test_the_docs_name_exactly_the_items_the_plugin_collects() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    page = (docs / "plugin.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| `(gradcheck\[[^]]+\])` \|", page, re.M) == ITEMS
    pages = [p for p in docs.glob("*.md") if p.name != "changelog.md"]  # history
    everywhere = "".join(p.read_text(encoding="utf-8") for p in pages)
    assert "gradcheck::" not in everywhere
