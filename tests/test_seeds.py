"""The one seed policy (gradcheck.seeds) shared by the CLI, the API and the plugin."""

from __future__ import annotations

import pytest

from gradcheck.errors import UsageError
from gradcheck.seeds import FRESH_LIMIT, SEED_LIMIT, parse_seed, resolve_seed


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)


def test_a_given_seed_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert resolve_seed(7) == 7
    assert resolve_seed("  42 ") == 42
    assert resolve_seed(SEED_LIMIT - 1) == SEED_LIMIT - 1


def test_nothing_given_is_zero_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    assert resolve_seed(None) == 0
    assert resolve_seed(None, last=9) == 0


@pytest.mark.usefixtures("no_ci")
def test_nothing_given_is_fresh_outside_ci() -> None:
    seeds = {resolve_seed(None) for _ in range(8)}
    assert all(0 <= s < FRESH_LIMIT for s in seeds)
    assert len(seeds) > 1  # 8 draws from 2**31 collide with chance ~1e-8


def test_random_is_fresh_even_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    assert len({resolve_seed("random") for _ in range(8)}) > 1


@pytest.mark.usefixtures("no_ci")
def test_last_reuses_the_previous_seed_or_draws_one() -> None:
    assert resolve_seed("last", last=1234) == 1234
    assert resolve_seed("LAST", last=0) == 0
    assert 0 <= resolve_seed("last", last=None) < FRESH_LIMIT


@pytest.mark.parametrize("bad", ["soon", "1.5", -1, SEED_LIMIT, True, 2.0, ""])
def test_bad_seeds_are_one_line_usage_errors(bad: object) -> None:
    with pytest.raises(UsageError) as info:
        resolve_seed(bad)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_parse_seed_keeps_keywords_for_later() -> None:
    assert parse_seed(None) is None
    assert parse_seed("Random") == "random"
    assert parse_seed("3") == 3
