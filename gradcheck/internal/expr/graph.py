"""Expression graphs that belong to no engine: leaves, op nodes, shared nodes.

A `Graph` is a list of `Node`s in topological order (operands first), and its
last node is the output. A node may feed many consumers, which is exactly
what exposes gradients that are overwritten instead of accumulated. Every walk
here is a loop over that order: no recursion, whatever the depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gradcheck.errors import ExpressionError
from gradcheck.internal.expr.ops import ATOM, OPS, PRODUCT, SUM, UNARY

VAR, CONST = "var", "const"


@dataclass(frozen=True, slots=True)
class Node:
    """One vertex: a variable, a constant leaf, or an op on earlier nodes."""

    op: str
    args: tuple[int, ...] = ()
    constant: float | None = None
    name: str = ""

    @property
    def is_leaf(self) -> bool:
        return self.op in (VAR, CONST)


@dataclass(frozen=True)
class Graph:
    """A DAG of `Node` objects in topological order; the last is the output."""

    nodes: tuple[Node, ...]
    _fanout: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # The value dataclass would compute, once: a graph is a cache key
        # of every reference, and rehashing its nodes per lookup showed.
        return self._hash

    def __eq__(self, other: object) -> bool:
        # Identity, then the stored hashes, before the nodes one by one: a
        # reference cache lookup compares graphs, and most compare equal.
        if self is other:
            return True
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Graph)
        return self._hash == other._hash and self.nodes == other.nodes

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt, not restored: string hashes differ between processes.
        return (Graph, (self.nodes,))

    def __post_init__(self) -> None:
        if not self.nodes:
            raise ExpressionError("an expression graph needs at least one node")
        fanout = [0] * len(self.nodes)
        for i, node in enumerate(self.nodes):
            if node.op not in (VAR, CONST):
                op = OPS.get(node.op)
                if op is None:
                    raise ExpressionError(f"unknown op {node.op!r}")
                if len(node.args) != op.arity:
                    raise ExpressionError(f"{node.op} takes {op.arity} operand(s)")
                if op.takes_constant and node.constant is None:
                    raise ExpressionError(f"{node.op} needs a constant")
            for a in node.args:
                if not 0 <= a < i:
                    raise ExpressionError("operands must come before their users")
                fanout[a] += 1
        object.__setattr__(self, "_fanout", tuple(fanout))
        object.__setattr__(self, "_hash", hash((self.nodes,)))

    @property
    def output(self) -> int:
        return len(self.nodes) - 1

    # Cached: every example reads both (points, screening, references).
    @cached_property
    def variables(self) -> tuple[str, ...]:
        """Variable names, in order of first appearance."""
        seen: dict[str, None] = {}
        for node in self.nodes:
            if node.op == VAR:
                seen.setdefault(node.name, None)
        return tuple(seen)

    def fanout(self, index: int) -> int:
        """How many times node `index` is used as an operand."""
        return self._fanout[index]

    def variable_uses(self, name: str) -> int:
        return sum(self._fanout[i] for i, n in enumerate(self.nodes) if n.name == name)

    @property
    def op_count(self) -> int:
        return sum(1 for n in self.nodes if not n.is_leaf)

    @property
    def has_reuse(self) -> bool:
        return any(f > 1 for f in self._fanout)

    def ops_used(self) -> frozenset[str]:
        return self._ops_used

    @cached_property
    def _ops_used(self) -> frozenset[str]:
        return frozenset(n.op for n in self.nodes if n.op not in (VAR, CONST))

    def depth(self) -> int:
        depth = [0] * len(self.nodes)
        for i, node in enumerate(self.nodes):
            depth[i] = 1 + max((depth[a] for a in node.args), default=-1)
        return depth[-1]

    # -- evaluation ---------------------------------------------------------

    def evaluate(self, point: Mapping[str, Any], backend: str = "mp") -> list[Any]:
        """Value of every node, with `backend` 'mp' (mpmath) or 'sympy'."""
        values: list[Any] = []
        for node in self.nodes:
            if node.op == VAR:
                values.append(point[node.name])
            elif node.op == CONST:
                values.append(_leaf_constant(node.constant, backend))
            else:
                op = OPS[node.op]
                args = [values[a] for a in node.args]
                if backend == "mp":
                    values.append(op.apply_mp(args, node.constant))
                else:
                    values.append(op.apply_sympy(args, node.constant))
        return values

    def to_sympy(self, symbols: Mapping[str, Any] | None = None) -> Any:
        """The output as one SymPy expression (shared nodes are repeated)."""
        import sympy

        names = symbols or {v: sympy.Symbol(v, real=True) for v in self.variables}
        return self.evaluate(names, backend="sympy")[-1]

    # -- printing -----------------------------------------------------------

    def to_text(self) -> str:
        """Readable form; non-leaf nodes used twice or more are named `t1`, `t2`.

        >>> g = GraphBuilder(); x, y = g.var("x"), g.var("y")
        >>> t = g.op("mul", x, y); _ = g.op("add", t, g.op("mul", t, x))
        >>> g.build().to_text()
        't1 = x*y; out = t1 + t1*x'
        """
        lines, _ = self._texts()
        return "; ".join(lines)

    def node_labels(self) -> list[str]:
        """A short description of every node: `x`, `t1 = x*y`, `tanh(t1)`."""
        return self._texts()[1]

    def _texts(self) -> tuple[list[str], list[str]]:
        shown: list[tuple[str, int]] = []  # (text, precedence) per node
        lines: list[str] = []
        labels: list[str] = []
        taken = set(self.variables)
        counter = 0
        for i, node in enumerate(self.nodes):
            text, prec = self._node_text(node, shown)
            if not node.is_leaf and self._fanout[i] > 1 and i != self.output:
                counter += 1
                while f"t{counter}" in taken:  # never shadow a variable named t1
                    counter += 1
                name = f"t{counter}"
                lines.append(f"{name} = {text}")
                labels.append(f"{name} = {text}")
                text, prec = name, ATOM
            else:
                labels.append(text)
            shown.append((text, prec))
        out = shown[-1][0]
        lines = [*lines, f"out = {out}"] if lines else [out]
        return lines, labels

    def __str__(self) -> str:
        return self.to_text()

    def _node_text(self, node: Node, shown: list[tuple[str, int]]) -> tuple[str, int]:
        if node.op == VAR:
            return node.name, ATOM
        if node.op == CONST:
            return _number(node.constant), (
                ATOM if (node.constant or 0) >= 0 else UNARY
            )
        op = OPS[node.op]
        parts = []
        for position, a in enumerate(node.args):
            text, prec = shown[a]
            if op.name in ("rsub", "rdiv", "radd", "rmul"):
                position = 1  # the operand stands right of the number
            if _needs_parens(op.precedence, prec, position):
                text = f"({text})"
            parts.append(text)
        constant = ""
        if op.takes_constant:
            constant = _number(node.constant)
            if (node.constant or 0) < 0:
                constant = f"({constant})"
        return op.template.format(*parts, c=constant), op.precedence

    def __len__(self) -> int:
        return len(self.nodes)


def _needs_parens(parent: int, child: int, position: int) -> bool:
    """Brackets that keep the printed text parsing back to the same graph."""
    if parent == ATOM:
        return False  # function call: the argument is already in parentheses
    if child < parent:
        return True
    if child == parent and parent in (SUM, PRODUCT):
        return position == 1  # left-associative: a - (b + c), a * (b / c)
    return child == parent  # -(-a), and (a**2)**3 always bracketed


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _leaf_constant(value: float | None, backend: str) -> Any:
    if backend == "mp":
        import mpmath

        return mpmath.mpf(value)
    from gradcheck.internal.expr.ops import _exact

    return _exact(value)


class GraphBuilder:
    """Builds a `Graph` node by node: `var`, `const`, then `op` on indices."""

    def __init__(self) -> None:
        self._nodes: list[Node] = []
        self._vars: dict[str, int] = {}
        self._uses: list[int] = []  # per node, as operand of later nodes

    def var(self, name: str) -> int:
        """The variable `name` (one node per name, however often it is used)."""
        if name not in self._vars:
            self._vars[name] = self._add(Node(VAR, name=name))
        return self._vars[name]

    def const(self, value: float) -> int:
        """A constant leaf; engines see it as `Value(value)`."""
        return self._add(Node(CONST, constant=float(value)))

    def op(self, name: str, *args: int, constant: float | None = None) -> int:
        """Apply op `name` (from the op table) to earlier nodes; its index."""
        return self._add(
            Node(name, tuple(args), None if constant is None else float(constant))
        )

    def uses(self, index: int) -> int:
        """How many nodes built so far take node `index` as an operand."""
        return self._uses[index]

    def unused(self) -> list[int]:
        """Op nodes that no other node uses yet."""
        used = {a for node in self._nodes for a in node.args}
        return [i for i, n in enumerate(self._nodes) if i not in used and not n.is_leaf]

    def __len__(self) -> int:
        return len(self._nodes)

    def _add(self, node: Node) -> int:
        for a in node.args:
            self._uses[a] += 1
        self._nodes.append(node)
        self._uses.append(0)
        return len(self._nodes) - 1

    def build(self, output: int | None = None) -> Graph:
        """The graph ending at `output` (default: the last node added)."""
        nodes = self._nodes if output is None else self._nodes[: output + 1]
        return prune(Graph(tuple(nodes)))


def prune(graph: Graph) -> Graph:
    """Drop nodes the output does not depend on, renumbering the rest."""
    nodes = graph.nodes
    needed = [False] * len(nodes)
    needed[-1] = True
    for i in range(len(nodes) - 1, -1, -1):
        if needed[i]:
            for a in nodes[i].args:
                needed[a] = True
    if all(needed):
        return graph
    new_index: dict[int, int] = {}
    kept: list[Node] = []
    for i, node in enumerate(nodes):
        if needed[i]:
            new_index[i] = len(kept)
            kept.append(
                Node(
                    node.op,
                    tuple(new_index[a] for a in node.args),
                    node.constant,
                    node.name,
                )
            )
    return Graph(tuple(kept))


def subgraph(graph: Graph, output: int) -> Graph:
    """The part of `graph` that node `output` depends on, ending there."""
    return prune(Graph(graph.nodes[: output + 1]))
