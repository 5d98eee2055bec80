"""Counterexamples as Graphviz DOT, with the diverging nodes filled red.

Each node shows its op, the engine's gradient and the reference adjoint; a
node whose two gradients differ is filled red and the first divergent node
gets a thick border. The DOT text needs nothing; an SVG is drawn next to it
when the `dot` program is on PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import deque
from pathlib import Path

from gradcheck.internal.expr.graph import CONST, VAR
from gradcheck.internal.expr.ops import OPS
from gradcheck.report import Counterexample

# Bigger graphs are cut down to the neighbourhood of the divergent node.
MAX_NODES = 150
RADIUS = 4
DOT_TIMEOUT = 30.0
INSTALL_HINT = "install Graphviz (the `dot` program) to get SVG files as well"


def differs(engine: float, reference: float) -> bool:
    """True when an engine gradient is clearly not the reference adjoint."""
    if engine != engine or reference != reference:  # NaN
        return True
    return abs(engine - reference) > 1e-9 + 1e-6 * abs(reference)


def _op_label(op: str, constant: float | None, name: str) -> str:
    if op == VAR:
        return name
    if op == CONST:
        return f"{constant:g}" if constant is not None else "?"
    template = OPS[op].template
    c = "?" if constant is None else f"{constant:g}"
    return template.format("a", "b", c=c)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _shown_nodes(example: Counterexample) -> list[int]:
    graph = example.graph
    if len(graph) <= MAX_NODES:
        return list(range(len(graph)))
    neighbours: list[list[int]] = [[] for _ in graph.nodes]
    for i, node in enumerate(graph.nodes):
        for a in node.args:
            neighbours[i].append(a)
            neighbours[a].append(i)
    starts = {graph.output}
    if example.divergent_node is not None:
        starts.add(example.divergent_node)
    distance = {s: 0 for s in starts}
    queue = deque(starts)
    while queue:
        i = queue.popleft()
        if distance[i] < RADIUS:
            for j in neighbours[i]:
                if j not in distance:
                    distance[j] = distance[i] + 1
                    queue.append(j)
    return sorted(distance)


def counterexample_dot(example: Counterexample, title: str = "counterexample") -> str:
    """The DOT text of a counterexample's graph."""
    graph = example.graph
    shown = _shown_nodes(example)
    keep = set(shown)
    engine = example.engine_grads
    reference = example.reference_adjoints
    lines = [
        "digraph gradcheck {",
        "  rankdir=LR;",
        f'  label="{_escape(title)}";',
        "  labelloc=t;",
        '  node [shape=record, fontname="Helvetica", fontsize=10];',
    ]
    if len(shown) < len(graph):
        note = f"{len(graph)} nodes: showing {len(shown)} near the divergent node"
        lines.append(f'  note [shape=plaintext, label="{_escape(note)}"];')
    for i in shown:
        node = graph.nodes[i]
        parts = [_op_label(node.op, node.constant, node.name)]
        attributes = []
        if engine is not None and reference is not None:
            parts.append(f"grad {engine[i]:.6g}")
            parts.append(f"ref {reference[i]:.6g}")
            if differs(engine[i], reference[i]):
                attributes.append('style=filled, fillcolor="#ff9999"')
        if i == example.divergent_node:
            attributes.append('penwidth=3, color="#cc0000"')
        if i == graph.output:
            parts[0] = f"out = {parts[0]}"
        label = " | ".join(_escape(p).replace("|", "\\|") for p in parts)
        extra = ", " + ", ".join(attributes) if attributes else ""
        lines.append(f'  n{i} [label="{{ {label} }}"{extra}];')
    for i in shown:
        for a in graph.nodes[i].args:
            if a in keep:
                lines.append(f"  n{a} -> n{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def safe_name(text: str) -> str:
    """A file name from a check name: `local-derivative[tanh]` -> `...-tanh`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "counterexample"


def write_dot(
    example: Counterexample, directory: str | Path, name: str, svg: bool = True
) -> list[Path]:
    """Write `name.dot` (and `name.svg` when `dot` exists); return the paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_name(name)
    path = folder / f"{stem}.dot"
    path.write_text(counterexample_dot(example, name), encoding="utf-8")
    written = [path]
    program = shutil.which("dot") if svg else None
    if program:
        target = folder / f"{stem}.svg"
        try:
            done = subprocess.run(
                [program, "-Tsvg", str(path), "-o", str(target)],
                capture_output=True,
                timeout=DOT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return written
        if done.returncode == 0 and target.exists():
            written.append(target)
    return written


def have_dot() -> bool:
    return shutil.which("dot") is not None
