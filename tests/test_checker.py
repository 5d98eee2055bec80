"""The checker end to end: correct engines pass, every catalogued bug is caught
with the right category, and tiny derivative errors do not slip through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gradcheck import check_engine, check_expression
from gradcheck.errors import EngineError, PointError, UsageError
from gradcheck.internal.checking.engine_client import load_engine, load_source
from gradcheck.internal.checking.judge import judge
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.mutants import BASE_ENGINE, MUTANTS, mutant_named
from gradcheck.report import CATEGORIES

TAPE_ENGINE = str(Path(__file__).parent / "engines" / "tape_engine.py")
TANH_LINE = "self.grad += (1 - t**2) * out.grad"


def _lecture() -> object:
    return load_source("lecture", BASE_ENGINE)


@pytest.mark.heavy(seconds=3)
@pytest.mark.parametrize("target", ["micrograd", TAPE_ENGINE, "lecture"])
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_engines_pass(target: str, seed: int) -> None:
    engine = _lecture() if target == "lecture" else target
    report = check_engine(engine, examples=150, seed=seed)
    failures = [(c.name, c.category, c.message) for c in report.failures]
    assert failures == []
    assert report.ok
    random_check = report.checks[-1]
    assert random_check.name == "random-graphs" and random_check.examples == 150


@pytest.mark.heavy
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_mutant_is_caught_with_its_category(mutant: object, gallery: Any) -> None:
    # The session's gallery: check_engine(load_source(...), examples=25,
    # seed=3, max_depth=GALLERY_DEPTH), run once per mutant and shared.
    report = gallery.mutant(mutant, examples=25, seed=3)
    assert not report.ok, f"{mutant.name} was not caught"  # type: ignore[attr-defined]
    first = report.failures[0]
    assert first.category == mutant.category, (first.name, first.message)  # type: ignore[attr-defined]
    assert all(c.category in CATEGORIES for c in report.failures)


@pytest.mark.heavy
@pytest.mark.parametrize("relative_error", [1e-3, 1e-5, 1e-7])
def test_a_tanh_derivative_off_by_a_tiny_relative_error_is_caught(
    relative_error: float,
) -> None:
    source = BASE_ENGINE.replace(TANH_LINE, TANH_LINE + f" * (1 + {relative_error!r})")
    assert source != BASE_ENGINE
    report = check_engine(load_source("tanh-off", source), examples=0, seed=0)
    categories = {c.name: c.category for c in report.failures}
    assert categories.get("local-derivative[tanh]") == "local-derivative"


@pytest.mark.heavy
def test_counterexample_explains_an_overwritten_gradient() -> None:
    mutant = next(m for m in MUTANTS if m.name == "tanh-grad-overwrites")
    engine = load_engine(load_source(mutant.name, mutant.source()))
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", b.op("tanh", x), x)
    outcome = judge(engine, b.build(), {"x": 0.7})
    assert outcome.status == "fail" and outcome.category == "accumulation"
    example = outcome.counterexample
    assert example is not None
    assert example.divergent_label == "x (used 2 times)"
    assert "overwritten (=) instead of accumulated (+=)" in example.hint
    [row] = example.gradients
    assert not row.ok and row.variable == "x"


def test_relu_at_its_kink_is_inconclusive_not_a_failure() -> None:
    b = GraphBuilder()
    b.op("relu", b.var("x"))
    outcome = judge(load_engine(), b.build(), {"x": 0.0})
    assert outcome.status == "inconclusive"


def test_check_expression_on_a_formula() -> None:
    b = GraphBuilder()
    w, x, bias = b.var("w"), b.var("x"), b.var("b")
    b.op("tanh", b.op("add", b.op("mul", w, x), bias))
    report = check_expression(b.build(), {"w": 0.5, "x": -1.0, "b": 0.1})
    assert report.ok
    [result] = report.results
    grads = {row.variable: row for row in result.gradients}
    assert set(grads) == {"w", "x", "b"}
    # d/db tanh(w*x + b) = 1 - tanh(-0.4)**2
    assert grads["b"].reference.startswith("0.8556387860811776990760849")
    assert len(grads["b"].reference.replace("0.", "", 1)) >= 25
    assert grads["b"].symbolic is not None and "tanh" in grads["b"].symbolic


@pytest.mark.heavy
def test_check_expression_rejects_points_outside_the_domain() -> None:
    b = GraphBuilder()
    b.op("log", b.var("x"))
    with pytest.raises(PointError, match="log"):
        check_expression(b.build(), {"x": -1.0})
    with pytest.raises(PointError, match="no value given for x"):
        check_expression(b.build(), {})


def test_a_point_where_a_derivative_is_not_real_is_outside_the_domain() -> None:
    # (-2)**3 is real, but d/dy x**y = x**y log(x) is not: a point error
    # that says so, not an internal error.
    b = GraphBuilder()
    b.op("pow_var", b.var("x"), b.var("y"))
    with pytest.raises(PointError, match="pow_var has no real derivative"):
        check_expression(b.build(), {"x": -2.0, "y": 3.0})


def test_a_formulas_leaky_relu_slope_is_the_one_used() -> None:
    # The built-in leaky_relu defaults to 0.01: the formula's 0.2 is passed.
    b = GraphBuilder()
    b.op("leaky_relu", b.var("x"), constant=0.2)
    report = check_expression(b.build(), {"x": -1.0})
    assert report.ok, [r.message for r in report.results]
    [result] = report.results
    assert result.value_backprop == pytest.approx(-0.2)


@pytest.mark.heavy
def test_unloadable_engines_raise_engine_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("class Value(:\n")
    with pytest.raises(EngineError, match="SyntaxError"):
        load_engine(str(broken))
    with pytest.raises(EngineError, match="not found"):
        load_engine(str(tmp_path / "missing.py"))
    with pytest.raises(EngineError, match="no class"):
        load_engine("micrograd:Nope")
    with pytest.raises(EngineError, match="cannot import"):
        load_engine("no_such_package_xyz")


@pytest.mark.heavy(seconds=5)
def test_engine_that_hangs_is_reported_as_crash(tmp_path: Path) -> None:
    source = BASE_ENGINE.replace(TANH_LINE, "while True: pass")
    path = tmp_path / "hangs.py"
    path.write_text(source)
    report = check_engine(str(path), examples=50, seed=0, time_limit=0.5)
    hung = [c for c in report.failures if c.name == "local-derivative[tanh]"]
    assert hung and hung[0].category == "crash" and "hangs" in hung[0].message
    # Once tanh hung alone, examples with tanh are not run again (each would
    # cost a deadline), and the checks go on with the other ops.
    by_name = {c.name: c for c in report.checks}
    alone = by_name["accumulation[tanh]"]
    assert alone.status == "inconclusive" and "not run: tanh hangs" in alone.message
    mixed = by_name["accumulation"]
    assert mixed.status == "pass" and "not run: tanh hangs" in mixed.message
    random_phase = report.checks[-1]
    assert random_phase.name == "random-graphs" and random_phase.status == "skip"


@pytest.mark.heavy
def test_missing_ops_are_unsupported_not_failures(tmp_path: Path) -> None:
    path = tmp_path / "tiny.py"
    path.write_text(
        "class Value:\n"
        "    def __init__(self, data, children=()):\n"
        "        self.data, self.grad, self._prev = data, 0, children\n"
        "        self._backward = lambda: None\n"
        "    def __mul__(self, other):\n"
        "        other = other if isinstance(other, Value) else Value(other)\n"
        "        out = Value(self.data * other.data, (self, other))\n"
        "        def _backward():\n"
        "            self.grad += other.data * out.grad\n"
        "            other.grad += self.data * out.grad\n"
        "        out._backward = _backward\n"
        "        return out\n"
        "    def backward(self):\n"
        "        order, seen, stack = [], set(), [(self, False)]\n"
        "        while stack:\n"
        "            node, done = stack.pop()\n"
        "            if done:\n"
        "                order.append(node)\n"
        "            elif id(node) not in seen:\n"
        "                seen.add(id(node))\n"
        "                stack.append((node, True))\n"
        "                stack.extend((c, False) for c in node._prev)\n"
        "        self.grad = 1\n"
        "        for node in reversed(order):\n"
        "            node._backward()\n"
    )
    report = check_engine(str(path), examples=20, seed=0)
    assert report.ok, [(c.name, c.message) for c in report.failures]
    assert "mul" in report.supported and "mul_const" in report.supported
    assert {"tanh", "add", "rsub"} <= set(report.unsupported)


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        check_engine(examples=-1)
    with pytest.raises(UsageError, match="unknown op"):
        check_engine(ops=["tanh", "cosh"], examples=0)


@pytest.mark.heavy
def test_ops_restriction_limits_what_is_generated() -> None:
    report = check_engine(ops=["mul", "tanh"], examples=20, seed=0)
    assert report.supported == ["mul", "tanh"]
    assert report.ok


@pytest.mark.heavy
def test_an_engine_that_calls_sys_exit_is_a_crash_not_our_death(tmp_path: Path) -> None:
    path = tmp_path / "exits.py"
    path.write_text(BASE_ENGINE.replace(TANH_LINE, "raise SystemExit(3)"))
    report = check_engine(str(path), examples=5, seed=0)
    tanh = next(c for c in report.checks if c.name == "local-derivative[tanh]")
    assert tanh.status == "fail" and tanh.category == "crash"
    assert "SystemExit" in tanh.message


@pytest.mark.heavy
def test_one_overwrite_bug_is_one_problem_however_many_checks_it_fails(
    gallery: Any,
) -> None:
    report = gallery.mutant(mutant_named("mul-grad-overwrites"))
    failures = report.failures
    assert failures[0].name == "accumulation[mul]"
    assert len(failures) > 1  # the bug shows in other checks too ...
    # ... each of which is marked as the same bug, not counted again.
    assert all(f.same_as is not None for f in failures[1:]), [
        (f.name, f.message[:80]) for f in failures if f.same_as is None
    ]
    assert report.info["distinct problems found"] == "1"
    composite = [f for f in failures if f.name in ("propagation", "random-graphs")]
    assert all("the same bug as" in f.message for f in composite)


def test_an_overwrite_hint_names_its_op_and_can_be_read_back() -> None:
    from gradcheck.internal.checking.hint_words import blamed_symbol, overwrite_hint

    assert blamed_symbol(overwrite_hint("*") + "x is used 2 times") == "*"
    assert blamed_symbol(overwrite_hint("**") + "...") == "**"
    assert blamed_symbol("fails in 8 of 20 rebuilds: " + overwrite_hint("*")) is None
    assert blamed_symbol("the gradients are wrong") is None


def test_the_deep_probe_spares_the_depth_search_its_first_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One chain of DEEP links a run, not two: the probe's, judged first."""
    from gradcheck.internal.checking import engine_client
    from gradcheck.internal.checking.probes import DEEP

    chains: list[int] = []
    real = engine_client.Engine.run_programs

    def counting(self: Any, programs: Any, *args: Any, **kwargs: Any) -> Any:
        for p in programs:
            size = p["length"] if "chain" in p else len(p["nodes"])
            if size > DEEP // 2:
                chains.append(size)
        return real(self, programs, *args, **kwargs)

    monkeypatch.setattr(engine_client.Engine, "run_programs", counting)
    report = check_engine(None, examples=0, checks=["depth", "deep-chain"])
    names = {c.name: c.status for c in report.checks}
    assert names["depth"] == "pass" and names[f"deep-chain[{DEEP}]"] == "pass"
    # the probe's chain (the leaf and DEEP links), then straight to the cap
    assert chains == [DEEP + 1, 100_000]


def test_a_point_that_is_not_finite_is_refused_as_such() -> None:
    b = GraphBuilder()
    b.op("mul_const", b.var("x"), constant=2.0)
    with pytest.raises(PointError, match="x = nan is not a finite number"):
        check_expression(b.build(), {"x": float("nan")})


def test_expression_reports_list_their_failures_as_engine_reports_do() -> None:
    report = check_expression("x*y", {"x": 1.0, "y": 2.0})
    assert report.ok and report.failures == []


@pytest.mark.heavy(seconds=2)
def test_the_callers_own_main_module_is_a_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from engines import patterns

    main = types.ModuleType("__main__")
    exec(compile(patterns.BASE, "<cell>", "exec"), main.__dict__)
    main.Value.__module__ = "__main__"
    monkeypatch.setitem(sys.modules, "__main__", main)
    report = check_expression("x*y + x", {"x": 1.5, "y": -2.0}, engine="__main__")
    assert report.ok, [r.message for r in report.results]
    assert report.engine == "__main__"
    monkeypatch.delattr(main, "Value")
    with pytest.raises(EngineError, match="__main__ has no class 'Value'"):
        check_expression("x*y", {"x": 1.0, "y": 2.0}, engine="__main__:Value")
