"""Random graphs from one decoder, driven by Hypothesis or by a seed.

An engine run judges seeded graphs while they pass, without Hypothesis;
Hypothesis only searches and shrinks once one fails. These tests pin the
seeded side (reproducible, the simplest graph first, the same decoder as
the strategy), that a passing run never imports Hypothesis, and what is
reported when Hypothesis's own graphs all pass after a seeded one failed.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcheck.internal.checking.random_graphs as rg
from gradcheck import strategies
from gradcheck.internal.checking.engine_client import load_engine, load_source
from gradcheck.internal.refs.graph_choices import build_graph, seeded_graphs
from gradcheck.mutants import BASE_ENGINE, mutant_named


def _texts(drawn: Any) -> list[tuple[str, dict[str, float]]]:
    return [(graph.to_text(), point) for graph, point in drawn]


def test_a_seed_gives_the_same_graphs_and_another_seed_others() -> None:
    first = _texts(seeded_graphs(11, 40))
    assert first == _texts(seeded_graphs(11, 40))
    assert first != _texts(seeded_graphs(12, 40))
    assert len({text for text, _ in first}) > 30  # varied, not one graph again


def test_the_first_graph_is_the_simplest() -> None:
    (graph, point), *_ = seeded_graphs(5, 3, ops=("add", "mul", "tanh"))
    simplest = build_graph(lambda size: 0, ("add", "mul", "tanh"))
    assert (graph.to_text(), point) == (simplest[0].to_text(), simplest[1])


def test_seeded_graphs_keep_to_the_ops_and_the_size_asked() -> None:
    ops = ("mul", "exp", "sub")
    for graph, point in seeded_graphs(3, 60, ops=ops, max_nodes=5):
        used = {node.op for node in graph.nodes if not node.is_leaf}
        assert used <= set(ops)
        assert set(point) == set(graph.variables)
        drawn = [node for node in graph.nodes if not node.is_leaf]
        # up to 5 drawn ops, plus the sum that feeds every op's input out
        assert 1 <= len(drawn) <= 5 + 5 * 2 + 3


@settings(max_examples=40, database=None, deadline=None)
@given(st.data())
def test_the_strategy_and_the_seeded_side_share_one_decoder(data: Any) -> None:
    """Replaying the strategy's choices into `build_graph` gives its graph."""
    choices: list[int] = []

    def recording(size: int) -> st.SearchStrategy[int]:
        return st.integers(0, size - 1).map(lambda v: choices.append(v) or v)

    original = strategies._index
    strategies._index = recording  # type: ignore[assignment]
    try:
        graph, point = data.draw(strategies.graphs_with_points(max_nodes=8))
    finally:
        strategies._index = original  # type: ignore[assignment]
    replay = iter(choices)
    again, again_point = build_graph(lambda size: next(replay), max_nodes=8)
    assert (again.to_text(), again_point) == (graph.to_text(), point)


def test_a_passing_run_never_imports_hypothesis() -> None:
    code = (
        "import sys\n"
        "from gradcheck.internal.checking.engine_client import load_engine\n"
        "from gradcheck.internal.checking.random_graphs import random_graph_check\n"
        "with load_engine(None) as engine:\n"
        "    check = random_graph_check(\n"
        "        engine, None, seed=3, examples=30, max_nodes=10)\n"
        "assert check.status == 'pass', check.message\n"
        "print(sorted(m for m in sys.modules if m.startswith('hypothesis')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _no_hypothesis_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if Hypothesis's own graphs had all passed."""
    monkeypatch.setattr(rg, "_search", lambda *args, **kwargs: None)


def test_a_steady_failure_hypothesis_missed_is_reported_plainly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_hypothesis_failure(monkeypatch)
    mutant = mutant_named("mul-grad-overwrites")
    with load_engine(load_source(mutant.name, mutant.source())) as engine:
        check = rg.run_random_graphs(engine, seed=2, examples=30, max_nodes=30)
    assert check.status == "fail" and check.category == "accumulation"
    assert check.counterexample is not None
    assert rg.FLAKY not in check.message


# Seeds the first backward pass over 8 nodes or more with 2 instead of 1;
# every other pass is right (loading the engine runs smaller ones).
FIRST_BACKWARD_WRONG = BASE_ENGINE.replace(
    "        self.grad = 1.0\n        for node in reversed(topo):",
    "        global _DONE\n"
    "        wrong = len(topo) >= 8 and not globals().get('_DONE')\n"
    "        _DONE = wrong or globals().get('_DONE', False)\n"
    "        self.grad = 2.0 if wrong else 1.0\n"
    "        for node in reversed(topo):",
)


def test_a_failure_that_does_not_come_back_is_called_flaky(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert FIRST_BACKWARD_WRONG != BASE_ENGINE
    _no_hypothesis_failure(monkeypatch)
    target = load_source("first-backward-wrong", FIRST_BACKWARD_WRONG)
    with load_engine(target) as engine:
        check = rg.run_random_graphs(engine, seed=2, examples=10, max_nodes=5)
    assert check.status == "fail"
    assert check.message.endswith(rg.FLAKY)
