"""The probes' graphs and spread points, built once per process.

Every engine of a batch gets the same graph objects (the reference cache then
finds them by identity), the same examples as when each was built anew, and
the spread points are screened again when `--op-def` changes the op table.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from gradcheck.internal.checking import probe_graphs, probes
from gradcheck.internal.checking.chains import chain_graph, chain_pairs, links_graph
from gradcheck.internal.checking.engine_client import Engine
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.expr.ops import OPS

SUPPORTED = ("add", "mul", "sub", "tanh", "log", "exp", "mul_const", "pow")


def _engine() -> Engine:
    return Engine(target="stand-in", supported=SUPPORTED, unsupported={})


def test_two_engines_get_the_same_graph_objects() -> None:
    first, second = _engine(), _engine()
    for op in SUPPORTED:
        a = list(probes.op_accumulation_graphs(first, op))
        b = list(probes.op_accumulation_graphs(second, op))
        assert a and all(x is y for x, y in zip(a, b, strict=True))
    pairs = chain_pairs(SUPPORTED)
    assert chain_graph(pairs, 40) is chain_graph(pairs, 40)


def test_a_cached_chain_is_the_chain_built_link_by_link() -> None:
    links = (("tanh", None), ("mul_const", 2.0), ("exp", None))
    b = GraphBuilder()
    node = b.var("x")
    for op, constant in links:
        node = b.op(op, node, constant=constant)
    assert links_graph(links) == b.build()


def test_the_spread_points_are_those_inside_the_domain() -> None:
    b = GraphBuilder()
    b.op("log", b.var("x"))
    graph = b.build()
    examples = list(probes._points(graph, random.Random(1), 4))
    assert [e.point["x"] for e in examples] == [0.07, 0.35, 0.9, 1.6]
    again = list(probes._points(graph, random.Random(1), 4))
    assert [e.point for e in again] == [e.point for e in examples]
    assert examples[0].point is not again[0].point  # each example its own dict


def test_a_changed_op_table_screens_the_points_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = GraphBuilder()
    b.op("exp", b.var("x"))
    graph = b.build()
    probe_graphs.same_table()
    assert len(probe_graphs.spread_in_domain(graph, 3)) == 3
    nowhere = dataclasses.replace(OPS["exp"], domain=lambda x: False)
    monkeypatch.setitem(OPS, "exp", nowhere)  # as `--op-def` declares an op
    probe_graphs.same_table()
    assert probe_graphs.spread_in_domain(graph, 3) == ()
    monkeypatch.undo()
    probe_graphs.same_table()
    assert len(probe_graphs.spread_in_domain(graph, 3)) == 3
