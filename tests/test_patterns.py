"""Verdicts on engines written the way people write them: every distinct bug,
failures that come and go, a backward() that does nothing, leaf-only
gradients, exponential backward, and correct engines that must pass."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import run_cli
from engines import patterns
from engines.patterns import rebuild_counts

from gradcheck import check_engine, check_expression
from gradcheck.internal.checking.complexity import Timing, exponential
from gradcheck.internal.checking.marking import count_distinct, mark_repeated_failures
from gradcheck.report import FAIL, Check, EngineReport

ENGINES = Path(__file__).parent / "engines"
GRADIENT_FAMILIES = ["value", "local-derivative", "accumulation", "propagation"]
Files = dict[str, Path]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """Every pattern engine as a file, as a user would hand it over."""
    return patterns.write_all(tmp_path_factory.mktemp("patterns"))


def check(
    file: Path, checks: list[str] | None = None, examples: int = 0
) -> EngineReport:
    return check_engine(str(file), examples=examples, seed=0, checks=checks)


def messages(report: EngineReport, category: str) -> list[str]:
    return [c.message for c in report.failures if c.category == category]


@pytest.mark.heavy
def test_pow_overwrite_is_reported_beside_the_mul_bug(files: Files) -> None:
    report = check(files["pow_overwrites_and_mul"], GRADIENT_FAMILIES)
    derivative = messages(report, "local-derivative")
    assert any(m.startswith("mul has a wrong derivative") for m in derivative)
    overwrite = [
        c
        for c in report.failures
        if c.name == "accumulation[pow]" and c.category == "accumulation"
    ]
    assert overwrite, [(c.name, c.message) for c in report.failures]
    assert overwrite[0].message.startswith(
        "`=` instead of `+=` in the backward of `**`"
    )
    assert overwrite[0].counterexample is not None
    assert int(report.info["distinct problems found"]) >= 2


@pytest.mark.heavy
def test_a_set_ordered_topological_sort_fails_only_in_some_rebuilds(
    files: Files,
) -> None:
    report = check(files["set_topo"], ["accumulation"])
    assert not report.ok
    flaky = [m for m in messages(report, "accumulation") if " rebuilds: " in m]
    assert flaky, [c.message for c in report.failures]
    assert "the result depends on the iteration order of a set" in flaky[0]
    assert "your nodes keep `_prev` as a set" in flaky[0]
    failed, runs = rebuild_counts(flaky[0])
    assert 0 < failed < runs


@pytest.mark.heavy
def test_a_deterministic_bug_is_not_called_nondeterministic(files: Files) -> None:
    report = check(files["pow_overwrites_and_mul"], ["accumulation"])
    assert report.failures
    assert not any(" rebuilds: " in c.message for c in report.failures)


@pytest.mark.heavy
def test_a_backward_that_does_nothing_has_its_own_diagnosis(files: Files) -> None:
    report = check(files["backward_noop"], ["local-derivative"])
    first = report.failures[0]
    assert first.category == "propagation"
    assert first.message.startswith(
        "backward() changes no gradient at all, not even the output's"
    )
    assert "indented inside build_topo" in first.message
    assert report.info["distinct problems found"] == "1"


@pytest.mark.heavy
def test_leaf_only_gradients_are_judged_on_the_leaves_by_the_op_probes(
    files: Files,
) -> None:
    report = check(files["leaf_only"], GRADIENT_FAMILIES)
    found = {
        c.name: (c.category, c.message) for c in report.failures if c.same_as is None
    }
    assert found["local-derivative[mul]"][0] == "local-derivative"
    assert found["local-derivative[sub]"][0] == "local-derivative"
    assert found["accumulation[tanh]"] == (
        "accumulation",
        found["accumulation[tanh]"][1],
    )
    assert found["accumulation[tanh]"][1].startswith(
        "`=` instead of `+=` in the backward of `tanh`"
    )
    assert not any("seed it" in m for _, m in found.values())
    assert report.info["distinct problems found"] == "3"


@pytest.mark.heavy
def test_a_backward_that_walks_every_path_is_an_error(files: Files) -> None:
    report = check(files["every_path"], ["complexity"])
    [complexity] = report.checks
    assert complexity.status == FAIL and complexity.category == "propagation"
    assert complexity.message.startswith(
        "backward walks every path instead of a topological order: time "
    )
    assert "with each y = y + y (n=" in complexity.message


@pytest.mark.heavy
def test_the_every_path_engine_has_right_gradients(files: Files) -> None:
    report = check(files["every_path"], GRADIENT_FAMILIES)
    assert report.failures == [], [(c.name, c.message) for c in report.failures]


@pytest.mark.heavy(seconds=3)
@pytest.mark.parametrize("name", ["base", "unhashable", "falsy_zero"])
def test_correct_engines_pass(files: Files, name: str) -> None:
    report = check(files[name], examples=20)
    assert report.failures == [], [(c.name, c.message) for c in report.failures]
    assert report.exit_code() == 0


def test_a_correct_engine_passes_the_complexity_probe(files: Files) -> None:
    report = check(files["base"], ["complexity"])
    [complexity] = report.checks
    assert complexity.status == "pass"
    assert "n=24" in complexity.message


@pytest.mark.heavy(seconds=3)
def test_the_built_in_engine_exits_0_in_a_real_process() -> None:
    """End to end, as a shell runs it: `python -m gradcheck engine`."""
    command = [sys.executable, "-m", "gradcheck", "engine", "--examples", "20"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.heavy
def test_the_tape_engine_exits_0() -> None:
    target = str(ENGINES / "tape_engine.py")
    code, out, err = run_cli("engine", target, "--examples", "20")
    assert code == 0, out[-2000:] + err[-2000:]


# -- the pattern engines are the base engine with their edits ----------------


@pytest.mark.parametrize("name", sorted(patterns.PATTERNS))
def test_each_pattern_is_the_base_engine_with_its_edits(
    files: Files, name: str
) -> None:
    text = files[name].read_text(encoding="utf-8")
    assert text == patterns.source(name)
    description, _ = patterns.PATTERNS[name]
    assert text.startswith(f'"""{description}\n"""\n')
    # Undone in reverse order, the edits give back base.py and nothing else.
    for old, new in reversed(patterns.edits(name)):
        assert text.count(new) == 1, new
        text = text.replace(new, old)
    assert text == patterns.BASE


def test_a_pattern_whose_edit_no_longer_fits_fails_loudly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changed = patterns.BASE.replace("self._prev = tuple(_children)", "self._prev = []")
    monkeypatch.setattr(patterns, "BASE", changed)
    with pytest.raises(ValueError, match="pattern set_topo: edit 2 expects its text"):
        patterns.source("set_topo")


# -- the pieces, on made-up numbers --------------------------------------------


def test_exponential_growth_is_told_from_linear() -> None:
    doubling = [Timing(n, 0.001 * 2 ** (n - 10), 0.001) for n in (10, 12, 14, 16, 18)]
    message = exponential(doubling)
    assert message is not None and "time doubles" in message
    assert "n=16: 0.064 s, n=18: 0.26 s" in message
    assert exponential([Timing(n, 0.001, 0.001) for n in (8, 12, 16, 20, 24)]) is None
    # Slow but no faster-growing than a chain of as many nodes: not the paths.
    assert exponential([Timing(14, 0.05, 0.05), Timing(16, 0.4, 0.4)]) is None
    timed_out = [Timing(14, 0.1, 0.001), Timing(16, math.inf, 0.001)]
    assert "more than 2 s" in (exponential(timed_out) or "")


def test_distinct_problems_ignore_constants_and_repeated_messages() -> None:
    def failed(name: str, message: str, category: str = "local-derivative") -> Check:
        return Check(name, category, FAIL, message)

    def distinct(checks: list[Check]) -> int:
        report = EngineReport("e", 0, [], {}, checks=checks)
        mark_repeated_failures(report)
        assert int(report.info["distinct problems found"]) == count_distinct(checks)
        return count_distinct(checks)

    same = [
        failed("a", "backward() does nothing"),
        failed("b", "backward() does nothing"),
    ]
    assert distinct(same) == 1
    assert same[1].same_as == "a"
    different = [failed("a", "one"), failed("b", "two"), failed("c", "one", "value")]
    assert distinct(different) == 3


@pytest.mark.heavy
def test_one_wrong_derivative_seen_by_several_checks_is_one_problem(
    tmp_path: Path,
) -> None:
    # `**` forgets out.grad; `/` is built from it (self * other**-1). The op
    # probes find it under pow, div and rdiv, and graphs of other shapes
    # fail again blaming one of those derivatives: all one problem.
    source = patterns.apply_edits(
        patterns.BASE,
        (
            (
                "self.grad += n * self.data ** (n - 1) * out.grad\n",
                "self.grad += n * self.data ** (n - 1)\n",
            ),
        ),
        "pow without out.grad",
    )
    engine = tmp_path / "pow_no_upstream.py"
    engine.write_text(source, encoding="utf-8")
    report = check(engine, GRADIENT_FAMILIES, examples=10)
    names = [c.name for c in report.failures]
    probes = {n for n in names if n.startswith("local-derivative[")}
    assert "local-derivative[pow]" in probes, names
    again = [
        c
        for c in report.failures
        if c.name not in probes and " has a wrong derivative: " in c.message
    ]
    assert again, names
    assert all(c.same_as is not None for c in again), [
        (c.name, c.same_as) for c in again
    ]
    assert count_distinct(report.failures) == 1, [
        (c.name, c.same_as, c.message[:60]) for c in report.failures
    ]


@pytest.mark.heavy(seconds=12)
def test_a_depth_limit_from_a_deadline_does_not_skip_the_random_graphs(
    tmp_path: Path,
) -> None:
    # A visited *list*: right, but quadratic, so deep chains miss their
    # deadline. That is a depth limit, not a hang: the random graphs (a few
    # dozen nodes, answered at once) must still run.
    source = patterns.apply_edits(
        patterns.BASE,
        (
            ("topo, visited = [], set()\n", "topo, visited = [], []\n"),
            ("visited.add(node)\n", "visited.append(node)\n"),
        ),
        "visited list",
    )
    engine = tmp_path / "visited_list.py"
    engine.write_text(source, encoding="utf-8")
    report = check_engine(
        str(engine), examples=10, seed=0, checks=["depth", "random-graphs"]
    )
    assert report.ok, [(c.name, c.message) for c in report.failures]
    [depth] = [x for x in report.limits if x.name == "depth"]
    assert "no answer within" in depth.message, depth.message
    assert "explicit stack" not in depth.hint
    [graphs] = [c for c in report.checks if c.name == "random-graphs"]
    assert graphs.status == "pass", graphs.message


@pytest.mark.heavy(seconds=6)
def test_a_swapped_reflected_op_is_one_problem_whatever_the_numbers(
    tmp_path: Path,
) -> None:
    # Every check that meets `c - x` fails with its own numbers, but the one
    # confirmed cause: one problem, so a grader takes its points once.
    source = patterns.apply_edits(
        patterns.BASE,
        (("        return other + (-self)\n", "        return self + (-other)\n"),),
        "rsub swapped",
    )
    engine = tmp_path / "rsub_swapped.py"
    engine.write_text(source, encoding="utf-8")
    report = check_engine(str(engine), examples=20, seed=0)
    assert len(report.failures) > 1
    assert all("__rsub__ computes self - other" in c.message for c in report.failures)
    assert count_distinct(report.failures) == 1
    assert report.info["distinct problems found"] == "1"


@pytest.mark.heavy(seconds=4)
def test_a_formulas_table_stays_at_the_users_point(tmp_path: Path) -> None:
    # exp's backward attached to its input: the diagnosis confirms that on
    # other graphs and points, but the table and the snippet are the user's.
    source = patterns.apply_edits(
        patterns.BASE,
        (
            (
                '        out = Value(math.exp(self.data), (self,), "exp")\n\n'
                "        def _backward():\n"
                "            self.grad += out.data * out.grad\n\n"
                "        out._backward = _backward\n",
                '        out = Value(math.exp(self.data), (self,), "exp")\n\n'
                "        def _backward():\n"
                "            self.grad += out.data * out.grad\n\n"
                "        self._backward = _backward\n",
            ),
        ),
        "exp backward on self",
    )
    engine = tmp_path / "exp_on_self.py"
    engine.write_text(source, encoding="utf-8")
    report = check_expression("exp(2*x)", {"x": 0.5}, engine=str(engine))
    [result] = report.results
    assert result.status == FAIL
    [row] = result.gradients
    assert float(row.reference) == pytest.approx(2 * math.e)  # d/dx at x = 0.5
    assert result.counterexample is not None
    assert result.counterexample.point == {"x": 0.5}
