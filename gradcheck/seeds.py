"""The one seed policy of the command line, the API and the pytest plugin.

A seed picks every random point and graph a check tries, so a printed seed
reruns the same check. `resolve_seed` turns what a user gave into that seed:

- a whole number (or its text) in ``[0, 2**63)``: that seed;
- ``None`` (nothing given): ``0`` when the ``CI`` environment variable is
  set, so CI runs are reproducible, otherwise a fresh random seed;
- ``"random"``: a fresh random seed, even under CI;
- ``"last"``: the previous run's seed (`last`), or a fresh random seed when
  there was none, as pytest-randomly's ``--randomly-seed=last`` does.

Fresh seeds come from the operating system (`random.SystemRandom`), so two
runs started in the same second still differ. Standard library only: the
pytest plugin imports this module at start-up.
"""

from __future__ import annotations

import os
import random

from gradcheck.errors import UsageError

# Seeds are non-negative and fit in a signed 64-bit integer (JSON, JUnit).
SEED_LIMIT = 2**63
# Fresh seeds stay short enough to retype from a report.
FRESH_LIMIT = 2**31
KEYWORDS = ("last", "random")

__all__ = ["KEYWORDS", "SEED_LIMIT", "fresh_seed", "parse_seed", "resolve_seed"]


def fresh_seed() -> int:
    """A new random seed from the operating system's entropy."""
    return random.SystemRandom().randrange(FRESH_LIMIT)


def parse_seed(seed: int | str | None) -> int | str | None:
    """Check a user's seed without choosing one: an int, a keyword or None.

    Raises `UsageError` (one line) for anything else, so the command line
    and the plugin can reject a bad value before any work starts.
    """
    if seed is None:
        return None
    if isinstance(seed, bool):  # True is an int, but not a seed anyone meant
        raise UsageError(f"not a seed: {seed!r}")
    if isinstance(seed, str):
        text = seed.strip().lower()
        if text in KEYWORDS:
            return text
        try:
            seed = int(text)
        except ValueError:
            raise UsageError(
                f"not a seed: {seed!r} (expected a whole number, 'last' or 'random')"
            ) from None
    if not isinstance(seed, int):
        raise UsageError(f"not a seed: {seed!r}")
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"a seed must be between 0 and 2**63 - 1: {seed}")
    return seed


def resolve_seed(seed: int | str | None, *, last: int | None = None) -> int:
    """The seed to use for `seed` as given (see the module docstring).

    `last` is the previous run's seed, if the caller keeps one (the plugin
    keeps it in pytest's cache); it only matters for ``"last"``.
    """
    chosen = parse_seed(seed)
    if isinstance(chosen, int):
        return chosen
    if chosen == "last" and last is not None:
        return int(last)
    if chosen is None and os.environ.get("CI"):
        return 0
    return fresh_seed()
