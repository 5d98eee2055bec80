"""Draw a `Value` graph: DOT text without dependencies, or a graphviz object."""

from __future__ import annotations

from typing import Any

from micrograd.engine import Value


def _fields(node: Value) -> list[str]:
    op = node.op or "leaf"
    if node.op == "**":
        op = f"**{node.arg:g}"
    elif node.op == "rpow":
        op = f"{node.arg:g}**"
    elif node.op == "leaky_relu":
        op = f"leaky_relu {node.arg:g}"
    fields = [op, f"data {node.data:.4f}", f"grad {node.grad:.4f}"]
    return [node.label, *fields] if node.label else fields


def to_dot(root: Value) -> str:
    """Graphviz DOT text of `root`'s graph: one box per node (op, data, grad)."""
    lines = ["digraph G {", "  rankdir=LR;", "  node [shape=record];"]
    nodes = root.walk()
    index = {id(node): i for i, node in enumerate(nodes)}
    for i, node in enumerate(nodes):
        label = " | ".join(_escape(f) for f in _fields(node))
        lines.append(f'  n{i} [label="{{ {label} }}"];')
    for node in nodes:
        for child in node.children:
            lines.append(f"  n{index[id(child)]} -> n{index[id(node)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_dot(root: Value) -> Any:
    """A `graphviz.Digraph` of `root`'s graph (needs the `viz` extra)."""
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "draw_dot needs graphviz: pip install 'graphviz>=0.20' (the Python "
            "package, all the viz extra holds; rendering also needs the "
            "Graphviz `dot` program)"
        ) from None
    dot = graphviz.Digraph(graph_attr={"rankdir": "LR"}, node_attr={"shape": "record"})
    nodes = root.walk()
    index = {id(node): str(i) for i, node in enumerate(nodes)}
    for node in nodes:
        label = " | ".join(_escape(f) for f in _fields(node))
        dot.node(index[id(node)], label="{ " + label + " }")
    for node in nodes:
        for child in node.children:
            dot.edge(index[id(child)], index[id(node)])
    return dot


def _escape(text: str) -> str:
    """Escape the characters that mean something inside a DOT record label."""
    for ch in '\\"<>{}|':  # the backslash first, so escapes stay single
        text = text.replace(ch, "\\" + ch)
    return text
