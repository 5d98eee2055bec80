"""What the references need to know about a graph, worked out once per graph.

Both references walk the same graph node by node, and a probe graph is
computed at a dozen points on every engine of a batch. The walk's
bookkeeping (which op function or rule, which operands, which nodes depend
on which variable, the order of the backward pass) does not depend on the
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
from operator import itemgetter
from typing import Any

from gradcheck.internal.expr.graph import CONST, VAR, Graph
from gradcheck.internal.expr.ops import BUILT_IN, OPS

# A function's arguments, fetched from a list of values by one C call
# (`operator.itemgetter`): a tuple, or the value itself when `single`.
Fetch = Callable[[list[Any]], Any]
# One op node of the forward pass: its index, the op's mpmath function, how
# to fetch its arguments, and whether that is a single value.
Step = tuple[int, Callable[..., Any], Fetch, bool]


def fetcher(indices: tuple[int, ...]) -> tuple[Fetch, bool]:
    """Fetch `values[k]` for each index; a list comprehension and `*args` per
    call were a fifth of evaluating a small op."""
    return itemgetter(*indices), len(indices) == 1


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
    """One graph's walk, without numbers: see the module docstring.

    The forward passes hold one value per node and then one slot per op
    constant (`slots`), so that an op with a constant (`a + c`) takes it
    from the list like its operands; the output is `values[output]`. A
    slot marked exact may hold the constant as an mpf: the shipped ops'
    mpmath functions convert a float constant to mpf exactly on every call
    anyway, so handing them the mpf gives the same numbers without the
    conversions. A declared op (`--op-def`) gets the float, as it always
    did: its definition may do arithmetic on the constant alone.
    """

    __slots__ = (
        "cones",
        "constants",
        "ops",
        "output",
        "rules",
        "size",
        "slots",
        "steps",
        "var_nodes",
        "variables",
    )

    def __init__(self, graph: Graph) -> None:
        nodes = graph.nodes
        self.output = len(nodes) - 1
        self.var_nodes: list[tuple[int, str]] = []
        self.constants: list[tuple[int, float | None]] = []
        # (slot, op constant, exact: the op takes it as an mpf alike)
        self.slots: list[tuple[int, float | None, bool]] = []
        self.steps: list[Step] = []
        # Per op node: index, op name, operands, constant (as in the node),
        # and the operands' fetch (shared with the step when it has no slot).
        self.ops: list[tuple[int, str, tuple[int, ...], float | None, Fetch, bool]]
        self.ops = []
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
                fetch, single = fetcher(args)
                if op.takes_constant:
                    slot = len(nodes) + len(self.slots)
                    exact = op is BUILT_IN.get(name)  # not --op-def
                    self.slots.append((slot, node.constant, exact))
                    self.steps.append((i, op.mp, *fetcher((*args, slot))))
                else:
                    self.steps.append((i, op.mp, fetch, single))
                self.ops.append((i, name, args, node.constant, fetch, single))
                mask = reach[args[0]] if args else 0
                for a in args[1:]:
                    mask |= reach[a]
                reach.append(mask)
        self.size = len(nodes) + len(self.slots)
        self.variables = tuple(bit)
        out = reach[-1]
        self.cones: dict[str, Cone] = {}
        for name, b in bit.items():
            leaves = [i for i, n in self.var_nodes if n == name]
            steps = [s for s in self.steps if reach[s[0]] & b]
            self.cones[name] = Cone(leaves, steps, bool(out & b))
        # The symbolic rules as (index, rule, fetch, single): `symbolic.py`
        # fills them on first need. The backward passes walk `ops` reversed.
        self.rules: list[tuple[int, Callable[..., Any], Fetch, bool]] | None = None


# Plans of recent graphs, least recently used out first, sized in nodes (a
# plan is a few hundred bytes per node, so at most about 20 MB): the ~800
# probe graphs of an engine run all stay, and are shared by every point and
# every engine of a batch.
_PLANS: OrderedDict[Graph, Plan] = OrderedDict()
NODE_BUDGET = 50_000
_held = [0]  # nodes held
_large: list[tuple[Graph, Plan]] = []  # the last graph too large for the budget


def plan_of(graph: Graph) -> Plan:
    """The plan of `graph`, made on first use and kept until `clear`."""
    found = _PLANS.get(graph)
    if found is not None:
        _PLANS.move_to_end(graph)
        return found
    if _large and _large[0][0] is graph:
        return _large[0][1]
    found = Plan(graph)
    size = len(graph.nodes)
    if size > NODE_BUDGET:  # kept alone, so that one point's references share it
        _large[:] = [(graph, found)]
        return found
    while _PLANS and _held[0] + size > NODE_BUDGET:
        old, _ = _PLANS.popitem(last=False)
        _held[0] -= len(old)
    _PLANS[graph] = found
    _held[0] += size
    return found


def clear() -> None:
    """Forget every plan."""
    _PLANS.clear()
    _held[0] = 0
    _large.clear()
