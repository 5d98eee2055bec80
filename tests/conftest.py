"""Shared test set-up: Hypothesis profiles, and one gallery run per session.

`ci` (loaded when the CI environment variable is set) derandomizes, so a CI
run is reproducible; `dev` keeps Hypothesis's random search for local runs.
Neither has a deadline or the too-slow health check: timing must never fail
a test on a busy machine.

Checking a mutant costs seconds (every probe, then the random graphs), and
several test files check the same mutants with the same settings. The
session-scoped `gallery` checks each (mutant, examples, seed) once per test
process and hands out copies; `shared_mutant_checks` routes the CLI's
`check_engine` calls on mutant sources through it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gradcheck.cli.mutants import mutant_depth

# Slow data generation on a loaded machine is not a bug either.
_RELAXED = [HealthCheck.too_slow]
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=_RELAXED,
)
settings.register_profile("dev", deadline=None, suppress_health_check=_RELAXED)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# Depth is not what the gallery tests: the depth search goes as deep as a
# finding needs, as in the CLI's `gradcheck mutants` (`mutant_depth`).
GALLERY_DEPTH = mutant_depth(None)


class Gallery:
    """Engine reports of mutants, computed once per (source, settings).

    Lazy on purpose: under pytest-xdist each worker has its own session, so
    checking the whole gallery up front would run it once per worker.
    """

    def __init__(self) -> None:
        self._reports: dict[tuple[Any, ...], Any] = {}
        self.runs = 0  # check_engine calls made, for the fixture's own test

    def check(
        self,
        name: str,
        source: str,
        *,
        examples: int,
        seed: int,
        max_depth: int = GALLERY_DEPTH,
        run: Callable[..., Any] | None = None,
        min_depth: int | None = None,
    ) -> Any:
        """`check_engine(load_source(name, source), ...)`, memoised; a copy."""
        key = (name, source, examples, seed, max_depth, min_depth)
        if key not in self._reports:
            from gradcheck.internal.checking.check import check_engine
            from gradcheck.internal.checking.engine_client import load_source

            checker = run or check_engine
            self.runs += 1
            self._reports[key] = checker(
                load_source(name, source),
                examples=examples,
                seed=seed,
                max_depth=max_depth,
                **({"min_depth": min_depth} if min_depth is not None else {}),
            )
        return copy.deepcopy(self._reports[key])

    def mutant(self, mutant: Any, *, examples: int = 25, seed: int = 3) -> Any:
        """The report on one gallery mutant (`gradcheck.mutants.Mutant`)."""
        return self.check(
            mutant.name,
            mutant.source(),
            examples=examples,
            seed=seed,
            min_depth=mutant.min_depth,
        )


@pytest.fixture(scope="session")
def gallery() -> Gallery:
    return Gallery()


@pytest.fixture
def shared_mutant_checks(
    gallery: Gallery, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gallery]:
    """Serve `check_engine(load_source(...), examples=, seed=, max_depth=)`
    from the session's gallery; any other call goes to the real function.

    For tests that run `gradcheck mutants` more than once with the same
    mutants and settings (text, then --json): the engine runs once.
    """
    import gradcheck.internal.checking.check as check_module
    from gradcheck.internal.checking.targets import SourceTarget

    real = check_module.check_engine
    plain = {"examples", "seed", "max_depth", "min_depth", "kind"}

    def shared(target: Any = None, **kwargs: Any) -> Any:
        if (
            isinstance(target, SourceTarget)
            and set(kwargs) <= plain
            and {"examples", "seed"} <= set(kwargs)
            and kwargs["seed"] is not None
        ):
            return gallery.check(
                target.name,
                target.source,
                examples=kwargs["examples"],
                seed=kwargs["seed"],
                max_depth=kwargs.get("max_depth", GALLERY_DEPTH),
                min_depth=kwargs.get("min_depth"),
                run=real,
            )
        return real(target, **kwargs)

    monkeypatch.setattr(check_module, "check_engine", shared)
    yield gallery


# -- spreading the heavy tests over CI's interpreters -------------------------
#
# A `heavy` test checks a whole engine end to end (a worker process, every
# probe, often a subprocess): together they are most of the suite's time, and
# they exercise the interpreter through the same code paths as the many light
# tests, which every interpreter runs. With GRADCHECK_TEST_SHARD=K/N (tox.ini
# gives each CI interpreter its own K) a run keeps every light test and the
# K-th of N slices of the heavy ones, so the N interpreters together run
# the whole suite once, and each of them runs real end-to-end checks. Without
# the variable, as for a plain `pytest`, everything runs. A heavy test that
# takes much longer than most says so, `@pytest.mark.heavy(seconds=6)`, so
# that the slices take about as long.

SHARD_VARIABLE = "GRADCHECK_TEST_SHARD"


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); a one-line UsageError for anything else."""
    parts = text.split("/")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        index, count = int(parts[0]), int(parts[1])
        if 1 <= index <= count:
            return index, count
    raise pytest.UsageError(f"{SHARD_VARIABLE} must look like 2/4, not {text!r}")


# What a heavy test costs when its marker gives no `seconds=`: most heavy
# tests check one engine in one to three seconds.
HEAVY_SECONDS = 2.0


def shard_of(heavy: dict[str, float], index: int, count: int) -> set[str]:
    """The heavy tests (id -> seconds) that slice `index` of `count` runs.

    Longest first, each to the slice with the least so far (ties: the
    lowest slice), so the interpreters finish together. Ordering by
    (seconds, id) makes the choice the same in every xdist worker.
    """
    loads = [0.0] * count
    mine: set[str] = set()
    for test_id, seconds in sorted(heavy.items(), key=lambda kv: (-kv[1], kv[0])):
        slot = min(range(count), key=lambda k: (loads[k], k))
        loads[slot] += seconds
        if slot == index - 1:
            mine.add(test_id)
    return mine


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    text = os.environ.get(SHARD_VARIABLE, "").strip()
    if not text:
        return
    index, count = parse_shard(text)
    heavy = {}
    for item in items:
        marker = item.get_closest_marker("heavy")
        if marker is not None:
            heavy[item.nodeid] = float(marker.kwargs.get("seconds", HEAVY_SECONDS))
    keep = shard_of(heavy, index, count)
    dropped = [
        item
        for item in items
        if item.get_closest_marker("heavy") and item.nodeid not in keep
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in gone]
