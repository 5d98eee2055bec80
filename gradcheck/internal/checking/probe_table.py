"""Writes the shipped table of the probes' references (`refs/shipped.py`).

Most of what an engine run asks the references for does not depend on the
engine or on the seed: each op alone at the spread points, the reuse and
accumulation graphs, the deep chain. This runs every family but the random
graphs on the built-in engine (it has the whole op table) with two seeds,
the table turned off so that everything is computed, and keeps the
references that both runs computed, equal in every bit. Run it after a
change to an op, a rule, a probe or a reference (a test says when)::

    python -m gradcheck.internal.checking.probe_table
"""

from __future__ import annotations

import sys
from typing import Any

from gradcheck.internal.checking.check import check_engine
from gradcheck.internal.refs import shipped
from gradcheck.internal.refs.references import (
    cached_references,
    clear_cache,
    parts_of,
)
from gradcheck.internal.refs.tolerance import UNIT

SEEDS = (1, 2)


def computed_table(seeds: tuple[int, ...] = SEEDS) -> dict[shipped.Key, Any]:
    """The entries the table should hold, computed now."""
    runs: list[dict[shipped.Key, Any]] = []
    shipped.use(False)
    try:
        for seed in seeds:
            clear_cache()
            check_engine(None, examples=0, seed=seed)
            runs.append(
                {
                    (shipped.nodes_key(graph), point): shipped.encode(parts_of(ref))
                    for (graph, point, unit, margins), ref in cached_references()
                    if unit == UNIT and margins
                }
            )
    finally:
        shipped.use(True)
        clear_cache()
    first, *others = runs
    return {
        key: entry
        for key, entry in first.items()
        if entry is not None and all(run.get(key) == entry for run in others)
    }


def main() -> int:
    entries = computed_table()
    shipped.write(shipped.TABLE, entries)
    size = shipped.TABLE.stat().st_size
    print(f"wrote {len(entries)} references to {shipped.TABLE} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
