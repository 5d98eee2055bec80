"""Long chains of links that undo each other, for the depth search and probe.

Both the depth search (`limits.measure_depth`) and the deep probe
(`probes.deep_probe`) build their chains here, from the op table's `undo`
links, in the same order: a chain of a given length is the same graph for
both, so a depth that the search found to work is exactly the depth the probe
runs. (Two tables of links that drifted apart once made a lecture engine
fail the deep probe at a depth the search had just measured as working: an
`rsub` link is two nodes deep in an engine that computes `c - x` as
`c + (-x)`.)
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any

from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import CHAIN_PAIRS, Link

Pair = tuple[Link, Link]
# The chain's input: its value stays here and its gradient stays 1.
CHAIN_START = 0.5


def chain_pairs(ops: Collection[str]) -> tuple[Pair, ...]:
    """The op table's undo pairs whose two ops are both in `ops`."""
    usable = set(ops)
    return tuple(p for p in CHAIN_PAIRS if {p[0][0], p[1][0]} <= usable)


def chain_links(pairs: tuple[Pair, ...], length: int) -> list[Link]:
    """The first `length` links of the chain: the pairs in turn, whole or cut."""
    links: list[Link] = []
    k = 0
    while len(links) < length:
        links.extend(pairs[k % len(pairs)])
        k += 1
    return links[:length]


def chain_program(pairs: tuple[Pair, ...], length: int) -> dict[str, Any]:
    """The chain as the worker's compact program, gradients of the ends only.

    One period of links (the pairs in turn) and the length: the worker
    expands it as it builds (`worker.runner.program_nodes`), into exactly
    the links of `chain_links`. Sent as 100,000 nodes it was 3 MB of JSON,
    about 0.2 s of CPU to build and encode here and more to decode there.
    """
    return {
        "chain": [[op, _plain(constant)] for pair in pairs for op, constant in pair],
        "length": length,
        "point": {"x": CHAIN_START},
        "backward": True,
        "ends_only": True,
    }


# Built once per process: the deep probe judges the same chain on every engine
# with the same ops (a batch, the gallery); each holds DEEP nodes, so few are kept.
@lru_cache(maxsize=4)
def chain_graph(pairs: tuple[Pair, ...], length: int) -> Graph:
    """The same chain as a Graph, for judging against the references."""
    return _linked(chain_links(pairs, length))


# Short chains of the probes (a few links each): kept by the thousand.
@lru_cache(maxsize=4096)
def links_graph(links: tuple[Link, ...]) -> Graph:
    """x through each link in turn (op, constant), built once per process."""
    return _linked(links)


def _linked(links: Collection[Link]) -> Graph:
    b = GraphBuilder()
    node = b.var("x")
    for op, constant in links:
        node = b.op(op, node, constant=constant)
    return b.build()


def _plain(constant: float | None) -> Any:
    if constant is not None and float(constant).is_integer():
        return int(constant)
    return constant
