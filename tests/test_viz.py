"""micrograd.viz: DOT text for every node, and one real SVG through graphviz."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from micrograd import Value, draw_dot, to_dot


def example() -> Value:
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    e = a * b
    out = (e + a) ** 2  # (a*b + a)**2: d/da = 2(ab + a)(b + 1), d/db = 2(ab + a)a
    out.backward()
    return out


def test_to_dot_has_a_box_per_node_with_op_data_and_grad() -> None:
    out = example()
    dot = to_dot(out)
    boxes = re.findall(r'n\d+ \[label="\{ (.*) \}"\];', dot)
    assert len(boxes) == len(out.walk()) == 5
    assert "a | leaf | data 2.0000 | grad 16.0000" in boxes
    assert "b | leaf | data -3.0000 | grad -16.0000" in boxes
    assert "**2 | data 16.0000 | grad 1.0000" in boxes
    assert any(box.startswith("* | data -6.0000") for box in boxes)
    assert any(box.startswith("+ | data -4.0000") for box in boxes)
    edges = re.findall(r"n\d+ -> n\d+;", dot)
    assert len(edges) == 5  # a->*, b->*, *->+, a->+, +->**
    assert dot.startswith("digraph G {") and dot.endswith("}\n")


def test_record_characters_in_labels_are_escaped() -> None:
    dot = to_dot(Value(1.0, label='x|{y}<"z">'))
    assert 'x\\|\\{y\\}\\<\\"z\\"\\>' in dot


def test_to_dot_of_a_deep_graph_does_not_recurse() -> None:
    x = Value(0.1)
    for _ in range(5_000):
        x = x.tanh()
    assert to_dot(x).count("tanh") == 5_000


def test_draw_dot_builds_a_digraph() -> None:
    pytest.importorskip("graphviz")
    graph = draw_dot(example())
    assert graph.source.count("label=") == 5
    assert graph.source.count("->") == 5


def test_draw_dot_without_graphviz_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r"pip install 'graphviz>=0\.20'") as raised:
        draw_dot(Value(1.0))
    assert "gradcheck-toolkit" not in str(raised.value)  # not on the index
    assert "`dot` program" in str(raised.value)


def test_render_svg_for_real(tmp_path: Path) -> None:
    # Under CI the `dot` program must be there: never skip this test there.
    if shutil.which("dot") is None and not os.environ.get("CI"):
        pytest.skip("the graphviz `dot` program is not installed")
    if not os.environ.get("CI"):
        pytest.importorskip("graphviz")
    path = draw_dot(example()).render(tmp_path / "graph", format="svg")
    svg = Path(path).read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count('class="node"') == 5
    assert "grad 16.0000" in svg
    assert "grad &#45;16.0000" in svg  # dot writes the minus sign as &#45;
