"""The depth search on a stand-in engine: how many chains it tries, and when.

A stand-in (not a worker) because the point is the search itself: which
lengths are tried, with which deadline, and where it stops.
"""

from __future__ import annotations

from typing import Any

import pytest

from gradcheck.internal.checking.engine_client import EngineFault, Run, WorkerCrash
from gradcheck.internal.checking.limits import chain_deadline, measure_depth


class ChainEngine:
    """Answers undo-chains: right up to `works`, then `failure` beyond it."""

    supported = ("add", "mul", "neg", "add_const", "sub_const", "mul_const")
    time_limit = 0.5
    limit = 0.5

    def __init__(self, works: int, failure: str) -> None:
        self.works = works
        self.failure = failure
        self.tried: list[tuple[int, float | None]] = []

    def run_programs(
        self, programs: list[dict[str, Any]], deadline: float | None = None
    ) -> list[Any]:
        length = programs[0]["length"]
        self.tried.append((length, deadline))
        if length <= self.works:
            return [Run([0.5], [1.0])]
        if self.failure == "timeout":
            return [WorkerCrash("no answer within 6 s: killed", "in backward()", True)]
        error = {"type": "RecursionError", "message": "RecursionError: too deep"}
        return [EngineFault({**error, "phase": "in backward()"})]


def test_a_recursion_limit_is_bisected_to_half_a_percent() -> None:
    engine = ChainEngine(works=1990, failure="recursion")
    result = measure_depth(engine, cap=100_000)  # type: ignore[arg-type]
    assert result is not None and result.fails is not None
    assert result.works <= 1990 < result.fails
    assert result.fails - result.works <= max(1, result.works // 200)
    assert not result.timed_out


@pytest.mark.heavy
def test_a_chain_past_its_deadline_ends_the_search() -> None:
    engine = ChainEngine(works=40_000, failure="timeout")
    result = measure_depth(engine, cap=100_000)  # type: ignore[arg-type]
    assert result is not None and result.timed_out
    # 2,500 works, the cap times out, then doubling: 5,000 ... 80,000 times out.
    lengths = [length for length, _ in engine.tried]
    assert lengths == [2500, 100_000, 5000, 10_000, 20_000, 40_000, 80_000]
    assert (result.works, result.fails) == (40_000, 80_000)


@pytest.mark.heavy
def test_long_chains_get_a_longer_deadline_than_one_example() -> None:
    engine = ChainEngine(works=10**6, failure="timeout")
    assert measure_depth(engine, cap=100_000) is not None  # type: ignore[arg-type]
    deadlines = dict(engine.tried)
    assert deadlines[2500] == chain_deadline(engine, 2500) > engine.limit  # type: ignore[arg-type]
    assert deadlines[100_000] == 6.0


def test_a_length_already_judged_right_is_not_built_again() -> None:
    """The deep probe's chain (2,500 links) passed: the search starts past it."""
    engine = ChainEngine(works=10**6, failure="recursion")
    result = measure_depth(engine, cap=100_000, works_at=2500)  # type: ignore[arg-type]
    assert result is not None and (result.works, result.fails) == (100_000, None)
    assert [length for length, _ in engine.tried] == [100_000]
    # The gallery's cap is that length itself: no chain at all.
    engine = ChainEngine(works=10**6, failure="recursion")
    result = measure_depth(engine, cap=2500, works_at=2500)  # type: ignore[arg-type]
    assert result is not None and (result.works, result.fails) == (2500, None)
    assert engine.tried == []


def test_a_shorter_length_judged_right_does_not_skip_the_first_chain() -> None:
    engine = ChainEngine(works=1990, failure="recursion")
    result = measure_depth(engine, cap=100_000, works_at=1000)  # type: ignore[arg-type]
    assert result is not None and result.works <= 1990 < (result.fails or 0)
    assert engine.tried[0][0] == 2500
