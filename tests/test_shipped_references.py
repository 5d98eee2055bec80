"""The shipped table of the probes' references (`refs/shipped.py`).

Its numbers must be the ones the references compute now, bit for bit, on
every Python the project supports; it must be ignored where it does not
apply (another op table, float32, a damaged file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph, GraphBuilder, Node
from gradcheck.internal.refs import references, shipped
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.internal.refs.tolerance import UNIT


def _graph(nodes: tuple[tuple[object, ...], ...]) -> Graph:
    return Graph(tuple(Node(*node) for node in nodes))  # type: ignore[arg-type]


@pytest.fixture
def computed() -> object:
    """References computed, never taken from the table, within the test."""
    references.clear_cache()
    shipped.use(False)
    yield
    shipped.use(True)
    references.clear_cache()


def test_the_table_loads_and_covers_the_probes() -> None:
    entries = shipped.read(shipped.TABLE)
    assert len(entries) > 1000
    sizes = {len(nodes) for nodes, _ in entries}
    assert {2, 3} <= sizes  # an op alone, on one and on two operands


@pytest.mark.usefixtures("computed")
def test_every_entry_is_what_the_references_compute_now() -> None:
    """The guard of the table: a change that moves any number fails here
    (then run `python -m gradcheck.internal.checking.probe_table`)."""
    entries = shipped.read(shipped.TABLE)
    stale = []
    for (nodes, point), entry in entries.items():
        try:
            ref = references.reference(_graph(nodes), dict(point))
        except PointError as err:
            stale.append((nodes, point, str(err)))
            continue
        if shipped.encode(references.parts_of(ref)) != entry:
            stale.append((nodes, point, "differs"))
    assert not stale, f"{len(stale)} stale entries, first: {stale[0]}"


def test_a_reference_from_the_table_equals_a_computed_one() -> None:
    (nodes, point), entry = next(
        (k, v) for k, v in shipped.read(shipped.TABLE).items() if len(k[0]) == 3
    )
    graph = _graph(nodes)
    references.clear_cache()
    taken = references.reference(graph, dict(point))
    assert shipped.lookup(graph, point, UNIT, True) is not None
    shipped.use(False)
    try:
        references.clear_cache()
        made = references.reference(graph, dict(point))
    finally:
        shipped.use(True)
        references.clear_cache()
    assert taken.point == made.point and list(taken.point) == list(made.point)
    assert taken.floats == made.floats and taken.magnitudes == made.magnitudes
    assert taken.bounds == made.bounds and taken.disagreement == made.disagreement
    assert taken.symbolic == made.symbolic and taken.numeric == made.numeric
    assert shipped.encode(references.parts_of(taken)) == entry


def _tanh_entry() -> tuple[Graph, tuple[tuple[str, float], ...]]:
    for (nodes, point), _ in shipped.read(shipped.TABLE).items():
        if [n[0] for n in nodes] == ["var", "tanh"]:
            return _graph(nodes), point
    raise AssertionError("no entry for tanh alone")


def test_not_used_for_an_op_declared_anew() -> None:
    graph, point = _tanh_entry()
    assert shipped.lookup(graph, point, UNIT, True) is not None
    with declared_ops({"tanh": "x / (1 + abs(x))"}):
        assert shipped.lookup(graph, point, UNIT, True) is None
        ref = references.reference(graph, dict(point))
        x = point[0][1]
        assert ref.value() == pytest.approx(x / (1 + abs(x)), rel=1e-15)
    assert shipped.lookup(graph, point, UNIT, True) is not None


def test_not_used_in_float32_or_without_margins() -> None:
    graph, point = _tanh_entry()
    assert shipped.lookup(graph, point, 2.0**-24, True) is None
    assert shipped.lookup(graph, point, UNIT, False) is None


def test_a_graph_or_point_not_in_the_table_is_computed() -> None:
    b = GraphBuilder()
    b.op("tanh", b.var("x"))
    graph = b.build()
    assert shipped.lookup(graph, (("x", 0.123456789),), UNIT, True) is None


def test_a_damaged_or_old_table_is_ignored(tmp_path: Path) -> None:
    entries = dict(list(shipped.read(shipped.TABLE).items())[:3])
    path = tmp_path / "table.bin"
    shipped.write(path, entries)
    assert shipped.read(path) == entries
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    assert shipped.read(path) == {}
    path.write_bytes(b"short")
    assert shipped.read(path) == {}
    assert shipped.read(tmp_path / "missing.bin") == {}


@pytest.mark.heavy
def test_the_table_is_up_to_date() -> None:
    """Written from the probes as they are: a probe that asks for other
    graphs or points (or the built-in engine's ops changing) fails here."""
    from gradcheck.internal.checking.probe_table import computed_table

    assert computed_table() == shipped.read(shipped.TABLE), (
        "the shipped probe references are stale: run "
        "python -m gradcheck.internal.checking.probe_table"
    )


def test_per_node_numbers_are_made_only_when_read() -> None:
    """A passing verdict reads floats, bounds and the variables' gradients;
    the per-node mpf numbers come from their blob the first time one is read."""
    graph, point = _tanh_entry()
    parts = shipped.lookup(graph, point, UNIT, True)
    assert parts is not None
    sym = parts[0]
    assert "values" not in vars(sym) and "seconds" not in vars(sym)
    assert set(sym.gradients) == {"x"}
    adjoints = sym.adjoints  # the first read decodes all four lists
    assert {"values", "partials", "adjoints", "seconds"} <= set(vars(sym))
    assert len(adjoints) == len(sym.values) == len(graph.nodes)
    assert sym.value == sym.values[-1]
