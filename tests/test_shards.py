"""GRADCHECK_TEST_SHARD: the interpreters of a CI run share the heavy tests.

Run through pytester, so the hook under test is the one in tests/conftest.py
acting on a real collection.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import parse_shard, shard_of

CONFTEST = Path(__file__).with_name("conftest.py")

SUITE = """
import pytest

@pytest.mark.heavy(seconds=3)
@pytest.mark.parametrize("n", range(7))
def test_heavy(n):
    pass

def test_light_one():
    pass

def test_light_two():
    pass
"""


def test_every_heavy_test_lands_in_exactly_one_shard() -> None:
    ids = {f"t.py::test_heavy[{n}]": 2.0 for n in range(10)}
    shards = [shard_of(ids, k, 4) for k in range(1, 5)]
    assert sorted(i for shard in shards for i in shard) == sorted(ids)
    assert [len(s) for s in shards] == [3, 3, 2, 2]


def test_long_tests_are_spread_so_the_shards_take_about_as_long() -> None:
    costs = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 4.0, "e": 3.0, "f": 2.0, "g": 2.0}
    shards = [shard_of(costs, k, 3) for k in range(1, 4)]
    totals = sorted(sum(costs[t] for t in shard) for shard in shards)
    assert totals == [10.0, 11.0, 11.0]
    assert parse_shard(" 3/4") == (3, 4)


@pytest.mark.parametrize("text", ["", "0/4", "5/4", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(pytest.UsageError, match="must look like 2/4"):
        parse_shard(text)


@pytest.mark.parametrize(("shard", "heavy"), [("1/2", 4), ("2/2", 3), ("", 7)])
def test_a_shard_keeps_light_tests_and_its_slice_of_heavy_ones(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    shard: str,
    heavy: int,
) -> None:
    monkeypatch.setenv("GRADCHECK_TEST_SHARD", shard)
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    heavy: end to end\n")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2 + heavy, deselected=7 - heavy)
