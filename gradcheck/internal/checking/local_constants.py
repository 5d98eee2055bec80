"""Hypothesis searches that depend only on their seed, and write nothing.

Hypothesis (6.131 and later) sometimes draws a literal found in the source of
any loaded module outside the standard library and site-packages: the user's
script, a notebook's modules, an editable install. The graphs a seed gives
would then depend on what else happens to be loaded, and Hypothesis caches
those constants in a `.hypothesis/` folder in the current directory, which
is the user's. `no_local_constants` turns that off for the duration of one
of our searches (the random graphs, the tensor random programs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_local_constants() -> Iterator[None]:
    """Hypothesis without the constants it reads from "local" modules.

    Hypothesis's built-in constants stay. Both hooks are internal to
    Hypothesis, so a version without them is left as it is.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without them
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    empty_type = getattr(providers, "Constants", None)
    if original is None or empty_type is None:  # pragma: no cover
        yield
        return
    empty = empty_type()
    clear = getattr(getattr(cache, "cache", None), "clear", lambda: None)
    providers._get_local_constants = lambda: empty
    clear()  # permitted constants cached with the local ones mixed in
    try:
        yield
    finally:
        providers._get_local_constants = original
        clear()
