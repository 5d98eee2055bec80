"""Ops declared (`--op-def`) for the duration of one check.

Declaring an op replaces its entry in the op table (`expr.declared`); the
symbolic rules and the references are cached per op name, so they are
emptied on the way in and on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from gradcheck.internal.expr.declared import declare_op
from gradcheck.internal.expr.ops import OPS, Op
from gradcheck.internal.refs.references import clear_cache
from gradcheck.internal.refs.symbolic import local_rule


@contextmanager
def declared_ops(definitions: Mapping[str, str] | None) -> Iterator[dict[str, Op]]:
    """Declare each op for the duration of the block; restore the table after.

    The symbolic rules are cached per op name, so when anything is declared
    the caches are emptied on the way in and on the way out; with nothing
    declared they are kept, so a batch of engines shares its references.
    """
    if not definitions:  # nothing declared: the caches stay valid, keep them
        yield {}
        return
    saved = dict(OPS)
    local_rule.cache_clear()
    clear_cache()
    try:
        yield {name: declare_op(name, text) for name, text in definitions.items()}
    finally:
        OPS.clear()
        OPS.update(saved)
        local_rule.cache_clear()
        clear_cache()
