"""What the references need to know about a graph, worked out once per graph.

Both references and the error bounds walk the same graph node by node, and
a probe graph is computed at a dozen points on every engine of a batch. The
walk's bookkeeping (which op function, which operands, which nodes depend
on which variable, the op table's rounding budget) does not depend on the
point, so it is done here once per graph and kept: the per-point work is
then the arithmetic alone. Nothing here computes a number of a reference.

A plan holds the op table's functions, so it is only valid for the table
it was made from: like the reference cache, it is emptied whenever the
table changes (`--op-def`, see `refs/declarations.py`), by
`references.clear_cache`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gradcheck.internal.expr.graph import CONST, VAR, Graph
from gradcheck.internal.expr.ops import OPS

# One op node of the forward pass: its index, the op's mpmath function, its
# operands and the constant as the function's last argument (or nothing).
Step = tuple[int, Callable[..., Any], tuple[int, ...], tuple[Any, ...]]


class Cone:
    """The nodes that depend on one variable: all a displaced pass recomputes."""

    __slots__ = ("leaves", "reaches_output", "steps")

    def __init__(
        self, leaves: list[int], steps: list[Step], reaches_output: bool
    ) -> None:
        self.leaves = tuple(leaves)  # the variable's own nodes
        self.steps = tuple(steps)
        self.reaches_output = reaches_output


class Plan:
    """One graph's walk, without numbers: see the module docstring."""

    __slots__ = (
        "cones",
        "constants",
        "edges",
        "ops",
        "rules",
        "steps",
        "var_nodes",
        "variables",
    )

    def __init__(self, graph: Graph) -> None:
        nodes = graph.nodes
        self.var_nodes: list[tuple[int, str]] = []
        self.constants: list[tuple[int, float | None]] = []
        self.steps: list[Step] = []
        # Per op node: index, op name, operands, constant (as in the node).
        self.ops: list[tuple[int, str, tuple[int, ...], float | None]] = []
        reach: list[int] = []  # per node, a bit per variable it depends on
        bit: dict[str, int] = {}  # in order of first appearance
        for i, node in enumerate(nodes):
            name, args = node.op, node.args
            if name == VAR:
                self.var_nodes.append((i, node.name))
                reach.append(bit.setdefault(node.name, 1 << len(bit)))
            elif name == CONST:
                self.constants.append((i, node.constant))
                reach.append(0)
            else:
                op = OPS[name]
                extra = (node.constant,) if op.takes_constant else ()
                self.steps.append((i, op.mp, args, extra))
                self.ops.append((i, name, args, node.constant))
                mask = reach[args[0]] if args else 0
                for a in args[1:]:
                    mask |= reach[a]
                reach.append(mask)
        self.variables = tuple(bit)
        # Op nodes last to first with their operands: the backward pass.
        self.edges = [(i, args) for i, _, args, _ in reversed(self.steps)]
        out = reach[-1]
        self.cones: dict[str, Cone] = {}
        for name, b in bit.items():
            leaves = [i for i, n in self.var_nodes if n == name]
            steps = [s for s in self.steps if reach[s[0]] & b]
            self.cones[name] = Cone(leaves, steps, bool(out & b))
        # The symbolic rules, filled on first need (`symbolic.py`).
        self.rules: list[tuple[int, Callable[..., Any], tuple[int, ...]]] | None = None


# Plans of recent graphs, least recently used out first, sized in nodes (a
# plan is a few hundred bytes per node, so at most about 20 MB): the ~800
# probe graphs of an engine run all stay, and are shared by every point and
# every engine of a batch.
_PLANS: OrderedDict[Graph, Plan] = OrderedDict()
NODE_BUDGET = 50_000
_held = [0]  # nodes held


def plan_of(graph: Graph) -> Plan:
    """The plan of `graph`, made on first use and kept until `clear`."""
    found = _PLANS.get(graph)
    if found is not None:
        _PLANS.move_to_end(graph)
        return found
    found = Plan(graph)
    size = len(graph.nodes)
    while _PLANS and _held[0] + size > NODE_BUDGET:
        old, _ = _PLANS.popitem(last=False)
        _held[0] -= len(old)
    if size <= NODE_BUDGET:
        _PLANS[graph] = found
        _held[0] += size
    return found


def clear() -> None:
    """Forget every plan."""
    _PLANS.clear()
    _held[0] = 0
