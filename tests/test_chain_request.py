"""The depth search's compact chain request answers as the chain sent in full.

The worker expands `{"chain": period, "length": n}` itself; the depth
verdicts rest on it being exactly the chain of `chains.chain_links`, built
and backpropagated the same way as the same chain sent node by node.
"""

from __future__ import annotations

from typing import Any

import pytest

from gradcheck.internal.checking.chains import (
    CHAIN_START,
    chain_graph,
    chain_links,
    chain_pairs,
    chain_program,
)
from gradcheck.internal.checking.engine_client import Run, load_engine, program
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.worker.runner import program_nodes, program_size

PAIRS = chain_pairs(OPS)


@pytest.mark.parametrize("length", [0, 1, 2, 5, 6, 7, 2500, 2501])
def test_the_compact_chain_expands_to_the_chain_links(length: int) -> None:
    compact = chain_program(PAIRS, length)
    full = program(chain_graph(PAIRS, length), {"x": CHAIN_START})
    expanded = [
        [op, list(args), c, name] for op, args, c, name in program_nodes(compact)
    ]
    assert expanded == full["nodes"]
    assert program_size(compact) == len(full["nodes"]) == length + 1
    assert [op for op, _ in chain_links(PAIRS, length)] == [n[0] for n in expanded[1:]]


def test_the_worker_answers_the_compact_chain_as_the_full_one() -> None:
    with load_engine(None) as engine:
        pairs = chain_pairs(engine.supported)
        for length in (6, 1200):
            full: dict[str, Any] = {
                **program(chain_graph(pairs, length), {"x": CHAIN_START}),
                "ends_only": True,
            }
            compact = chain_program(pairs, length)
            a, b = engine.run_programs([full, compact])
            assert isinstance(a, Run) and isinstance(b, Run)
            assert (a.data, a.grads, a.missing) == (b.data, b.grads, b.missing)
            assert b.grads == [1.0] and b.data == [CHAIN_START]
