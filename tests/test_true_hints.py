"""Hints that are true: a cause is named only after the engine confirmed it.

Each buggy engine here once got a false hint ("out of order" for an exp
whose backward is attached to its input, "`=` instead of `+=`" for a visited
set keyed by `.data`, "use a list" where no order is right). Each is checked
on seeds 0 to 4 for the category and the words of its hint, and for the
absence of the false ones; correct engines must get no hint at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engines import patterns
from engines.patterns import hints, rebuild_counts

from gradcheck import check_engine
from gradcheck.internal.checking.engine_client import Engine, EngineFault, load_engine
from gradcheck.internal.checking.judge import judge
from gradcheck.internal.checking.nondeterminism import (
    Rebuilt,
    mark_nondeterministic,
    nondeterminism_note,
)
from gradcheck.internal.checking.stateful import (
    _crash,
    kept_gradients_predict,
    semantics_graph,
)
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, Check, EngineReport

SEEDS = range(5)
# Words of the hints that were false on these engines: none may come back.
FALSE_CLAIMS = (
    "out of order",
    "reverse topological order",
    "without a visited set",
    "keeps state between calls",
)
Files = dict[str, Path]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    folder = tmp_path_factory.mktemp("true_hints")
    written = hints.write_all(folder)
    written["set_topo"] = folder / "set_topo.py"
    written["set_topo"].write_text(patterns.source("set_topo"), encoding="utf-8")
    written["base"] = patterns.FILES["base"]
    return written


def failures(report: EngineReport) -> list[tuple[str, str, str]]:
    return [(c.name, c.category, c.message) for c in report.failures]


def no_false_claims(report: EngineReport) -> None:
    for _, _, message in failures(report):
        for claim in FALSE_CLAIMS:
            assert claim not in message, message


# -- whole engines, seeds 0 to 4 ---------------------------------------------


@pytest.mark.heavy(seconds=8)
@pytest.mark.parametrize("name", ["exp_self_backward", "gelu_self_backward"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_backward_attached_to_the_input_is_named_as_lost(
    files: Files, name: str, seed: int
) -> None:
    op = "exp" if name.startswith("exp") else "gelu"
    report = check_engine(
        str(files[name]),
        seed=seed,
        examples=20,
        checks=["local-derivative", "propagation", "random-graphs"],
    )
    found = failures(report)
    assert found, f"{name} passed"
    # Right on a leaf: the op alone passes its own probe.
    assert not any(n.startswith("local-derivative[") for n, _, _ in found), found
    lost = [
        (category, message)
        for _, category, message in found
        if message.startswith(
            f"the backward of {op} is lost when its input is computed"
        )
    ]
    assert lost, found
    category, message = lost[0]
    assert category == "propagation"
    assert f"is {op}'s backward attached to `self` instead of `out`" in message
    no_false_claims(report)
    assert not any("instead of `+=`" in m for _, _, m in found), found


@pytest.mark.heavy
@pytest.mark.parametrize("seed", SEEDS)
def test_a_mul_attached_to_its_first_operand_is_not_called_an_overwrite(
    files: Files, seed: int
) -> None:
    report = check_engine(
        str(files["mul_self_backward"]),
        seed=seed,
        examples=10,
        checks=["local-derivative", "accumulation"],
    )
    found = failures(report)
    first = report.failures[0]
    assert first.category == "propagation", found
    assert first.message.startswith(
        "the backward of `*` is lost when its input is computed: "
    )
    assert "is `*`'s backward attached to `self` instead of `out`" in first.message
    # x / x is x * x**-1 here: one share is kept, but not by an overwrite.
    assert not any("instead of `+=`" in m for _, _, m in found), found
    no_false_claims(report)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", SEEDS)
def test_an_exponent_left_out_of_the_children_is_a_dropped_operand(
    files: Files, seed: int
) -> None:
    report = check_engine(
        str(files["pow_base_only"]),
        seed=seed,
        examples=10,
        checks=["local-derivative", "accumulation"],
    )
    found = failures(report)
    first = report.failures[0]
    assert first.name == "local-derivative[pow_var]", found
    assert first.category == "local-derivative"
    assert first.message.startswith(
        "`**` passes no gradient to its second operand: on x**y at "
    )
    assert "d/dy is exactly 0" in first.message
    assert "or y is missing from the children (`_prev`) of the result" in first.message
    assert not any("instead of `+=`" in m for _, _, m in found), found
    no_false_claims(report)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", SEEDS)
def test_a_visited_set_keyed_by_data_merges_equal_values(
    files: Files, seed: int
) -> None:
    report = check_engine(
        str(files["visited_by_data"]),
        seed=seed,
        examples=10,
        checks=["accumulation", "propagation"],
    )
    found = failures(report)
    assert found
    first = report.failures[0]
    assert first.category == "accumulation", found
    assert first.message.startswith("nodes with equal values are treated as one: ")
    assert "a visited set keyed by .data" in first.message
    # Right at x != y, wrong at x == y: both points are shown.
    assert "is right at x=0.8125, y=-1.3671875, but at x=0.8125, y=0.8125" in (
        first.message
    )
    assert not any("instead of `+=`" in m for _, _, m in found), found
    no_false_claims(report)


@pytest.mark.heavy(seconds=6)
@pytest.mark.parametrize("seed", SEEDS)
def test_set_order_is_named_only_when_rebuilds_differ(files: Files, seed: int) -> None:
    report = check_engine(
        str(files["set_topo"]), seed=seed, examples=10, checks=["accumulation"]
    )
    flaky = [c for c in report.failures if " rebuilds: " in c.message]
    assert flaky, failures(report)
    message = flaky[0].message
    assert "the result depends on the iteration order of a set" in message
    # Some rebuilds were right: the order only decides whether the bug shows,
    # so no fix that merely fixes the order is offered.
    failed, runs = rebuild_counts(message)
    assert 0 < failed < runs
    assert "the order decides only whether the bug shows" in message
    assert "use a list" not in message


@pytest.mark.heavy(seconds=8)
@pytest.mark.parametrize("name", ["base", "extended"])
@pytest.mark.parametrize("seed", SEEDS)
def test_correct_engines_get_no_hint(files: Files, name: str, seed: int) -> None:
    report = check_engine(str(files[name]), seed=seed, examples=15)
    assert failures(report) == []
    assert all(c.status != INCONCLUSIVE for c in report.checks), [
        (c.name, c.message) for c in report.checks if c.status == INCONCLUSIVE
    ]


# -- one graph at a time ---------------------------------------------------------


@pytest.fixture(scope="module")
def exp_engine(files: Files) -> Any:
    with load_engine(str(files["exp_self_backward"])) as engine:
        yield engine


@pytest.mark.heavy
def test_exp_on_a_leaf_is_right_by_accident_and_wrong_on_a_computed_input(
    exp_engine: Engine,
) -> None:
    b = GraphBuilder()
    b.op("exp", b.var("x"))
    assert judge(exp_engine, b.build(), {"x": 0.3}).status == PASS
    b = GraphBuilder()
    b.op("exp", b.op("mul", b.var("x"), b.var("y")))
    outcome = judge(exp_engine, b.build(), {"x": 0.3, "y": -0.7})
    assert outcome.status == FAIL and outcome.category == "propagation"
    assert outcome.hint.startswith("the backward of exp is lost when its input is ")
    example = outcome.counterexample
    assert example is not None
    # The graph shown is the small one the cause was confirmed on.
    assert example.graph.to_text().startswith("exp(")
    assert {row.backprop for row in example.gradients if not row.ok} == {0.0}


@pytest.mark.heavy(seconds=4)
def test_rebuilds_that_are_never_right_do_not_promise_a_list_fixes_it(
    files: Files,
) -> None:
    # t1 - t1 is 0 whatever the order: the set's order decides how often t1's
    # backward runs, and tanh's derivative (1 - t) is wrong in every order.
    b = GraphBuilder()
    x = b.var("x")
    t1 = b.op("neg", x)
    b.op("tanh", b.op("add", b.op("sub", t1, t1), x))
    graph = b.build()
    with load_engine(str(files["set_topo_and_tanh"])) as engine:
        outcome = judge(engine, graph, {"x": 0.4}, diagnose=False)
        assert outcome.status == FAIL and outcome.counterexample is not None
        check = Check(
            "accumulation", "accumulation", FAIL, outcome.hint, outcome.counterexample
        )
        for _ in range(3):  # the first build may happen to be a common one
            mark_nondeterministic(engine, [check])
            if " rebuilds: " in check.message:
                break
    assert " rebuilds: " in check.message, check.message
    assert "no build is right, so there is a bug whatever the order" in (check.message)
    assert "use a list" not in check.message


# -- the pieces, on made-up numbers ------------------------------------------------


def _builds(*pattern: str) -> list[Rebuilt]:
    """'R' a right build, 'a'/'b'/... wrong ones with different numbers."""
    return [Rebuilt(p != "R", (p,)) for p in pattern]


def _engine(file: Path | None = None) -> Engine:
    return Engine("e", (), {}, file=None if file is None else str(file))


def test_same_numbers_on_every_build_get_no_note() -> None:
    assert nondeterminism_note(_engine(), _builds("a", "a", "a", "a")) is None


def test_a_result_that_changes_back_and_forth_names_set_order(files: Files) -> None:
    note = nondeterminism_note(_engine(files["set_topo"]), _builds("a", "R", "a", "R"))
    assert note == (
        "fails in 2 of 4 rebuilds: the result depends on the iteration order of a "
        "set (your nodes keep `_prev` as a set); "
        "a correct backward gives "
        "the same result in any order, so the order decides only whether the bug "
        "shows"
    )
    never_right = nondeterminism_note(
        _engine(files["set_topo"]), _builds("a", "b", "a", "b")
    )
    assert never_right is not None and "use a list" not in never_right
    assert never_right.endswith(
        "no build is right, so there is a bug whatever the order"
    )
    no_set = nondeterminism_note(_engine(files["base"]), _builds("a", "R", "a", "R"))
    assert no_set is not None and "a set of nodes (their hashes are ids)" in no_set
    assert "your nodes keep" not in no_set


def test_a_result_that_changes_once_is_only_described() -> None:
    note = nondeterminism_note(_engine(), _builds("a", "R", "R", "R"))
    assert note == "fails in 1 of 4 rebuilds: the result is not the same on every build"


def test_the_checkers_own_error_is_never_the_engine_raising() -> None:
    ours = {
        "error": {
            "type": "ApiError",
            "message": "ApiError: cannot reset gradients read through .grad()",
            "where": None,
        }
    }
    check = _crash(_engine(), "repeated-backward", ours, "resetting", "accumulation")
    assert check.status == INCONCLUSIVE and check.category == "accumulation"
    assert "the engine raised" not in check.message
    assert check.message.startswith(
        "not checked: the checker's adapter failed while resetting (ApiError: "
    )
    assert check.message.endswith(
        "raised in the checker's own code, not in a line of the engine"
    )
    # A read-only property fails in setattr: no line of the engine's code.
    readonly = {
        "error": {
            "type": "AttributeError",
            "message": "AttributeError: property 'grad' has no setter",
            "where": None,
        }
    }
    check = _crash(_engine(), "zero-grad", readonly, "zeroing", "zero-grad")
    assert check.status == INCONCLUSIVE and "the engine raised" not in check.message
    theirs = {
        "error": {
            "type": "TypeError",
            "message": "TypeError: bad operand",
            "where": {"file": "engine.py", "line": 3, "function": "__mul__"},
        }
    }
    check = _crash(_engine(), "repeated-backward", theirs, "calling backward()")
    assert check.status == FAIL and check.category == "crash"
    assert check.message == (
        "the engine raised TypeError: bad operand at engine.py:3 in __mul__ while "
        "calling backward()"
    )


def test_an_adapter_error_on_a_graph_is_inconclusive_not_a_crash() -> None:
    b = GraphBuilder()
    b.op("mul", b.var("x"), b.var("y"))
    fault = EngineFault(
        {"type": "ApiError", "message": "ApiError: a leaf has no .data", "where": None}
    )
    outcome = judge(_engine(), b.build(), {"x": 0.5, "y": 2.0}, ran=fault)
    assert outcome.status == INCONCLUSIVE and outcome.category is None
    assert outcome.hint == (
        "not checked: the checker's adapter failed (ApiError: a leaf has no .data)"
    )


def test_kept_gradients_predict_the_lecture_engines_second_backward() -> None:
    graph = semantics_graph()
    assert graph.to_text() == "t1 = x*x; out = t1*t1 + t1"
    # Once: x.grad = 16.5. Twice, out.grad = 1 again and t1.grad kept: 63.
    assert kept_gradients_predict(graph, {"x": 1.5}) == [63.0, 79.5]


@pytest.mark.heavy
def test_the_repeated_backward_factor_shows_its_graph(files: Files) -> None:
    report = check_engine(
        str(files["base"]), seed=0, examples=0, checks=["repeated-backward"]
    )
    assert report.info["repeated backward"] == (
        "non-linear: on t1 = x*x; out = t1*t1 + t1 at x = 1.5, a second backward() "
        "multiplies x's gradient by 3.818 (16.5 after one call, 63.0 after two), as "
        "keeping the intermediate gradients and propagating them again predicts"
    )
