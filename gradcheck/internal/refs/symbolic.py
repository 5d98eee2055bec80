"""The symbolic reference: exact derivatives from SymPy, evaluated at 60 digits.

Differentiating a whole reuse-heavy expression with `sympy.diff` swells
exponentially (each shared node is copied into every use). Instead, SymPy
differentiates each op once, on its own symbols (the "intermediate symbols"
of reverse mode), and the chain rule combines those exact local derivatives
over the graph in 60-digit arithmetic. That is exact symbolic
differentiation with a cost linear in the graph. The per-op rules come
differentiated ahead of time (`rules.py`, written by `make_rules.py`), so a
run needs SymPy only for what that file does not hold. The whole-expression
formula is still produced for display when the expanded tree is small.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import mpmath
from mpmath.libmp import fzero, mpf_add, mpf_mul

from gradcheck.errors import PointError
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import BUILT_IN, OPS
from gradcheck.internal.refs.plan import plan_of

# Working precision of the references, in decimal digits.
DIGITS = 60
_ZERO, _ONE = mpmath.mpf(0), mpmath.mpf(1)  # exact at any precision
# Largest expanded tree (nodes, counting shared ones once per use) for which
# the whole-expression formula is computed and printed.
FORMULA_BUDGET = 300


# An op's rule: operands in, (value, first partials, second partials) out,
# all mpf: `(v, (d0, d1), ((d00, d01), (d10, d11)))` for two operands.
LocalRule = Callable[..., tuple[Any, tuple[Any, ...], tuple[tuple[Any, ...], ...]]]


@cache
def local_rule(op_name: str, constant: float | None) -> LocalRule:
    """Differentiate one op, once per (op, constant).

    The shipped ops come from the generated `rules.py` (no SymPy import);
    a declared op, or a constant the file has no entry for (`x**2.7`), is
    differentiated by SymPy here.
    """
    shipped = OPS.get(op_name) is BUILT_IN.get(op_name)  # not --op-def
    generated = _generated(op_name, constant) if shipped else None
    return generated if generated is not None else _sympy_rule(op_name, constant)


def _generated(op_name: str, constant: float | None) -> LocalRule | None:
    from gradcheck.internal.refs.rules import RULES

    found = RULES.get((op_name, constant)) if constant is not None else None
    if found is not None:
        return found
    found = RULES.get((op_name, None))
    if found is None or (constant is not None) != OPS[op_name].takes_constant:
        return None
    if constant is None:
        return found
    bound = mpmath.mpf(constant)  # a float is exact in binary, as its Rational
    rule = found
    return lambda *args: rule(*args, bound)


def _sympy_rule(op_name: str, constant: float | None) -> LocalRule:
    import sympy

    op = OPS[op_name]
    args = sympy.symbols(f"a0:{op.arity}", real=True)
    expr = op.apply_sympy(list(args), constant)
    firsts = [sympy.diff(expr, a) for a in args]
    seconds = [[sympy.diff(d, a) for a in args] for d in firsts]
    compiled = sympy.lambdify(args, [expr, firsts, seconds], modules="mpmath")
    mpf = mpmath.mpf

    def rule(*at: Any) -> tuple[Any, tuple[Any, ...], tuple[tuple[Any, ...], ...]]:
        value, d1, d2 = compiled(*at)
        return (
            mpf(value),
            tuple(mpf(d) for d in d1),
            tuple(tuple(mpf(d) for d in row) for row in d2),
        )

    return rule


@dataclass
class SymbolicResult:
    """Values, per-edge local derivatives and adjoints of every node.

    `partials[i][k]` is d node_i / d operand_k; `seconds[i][k][j]` is
    d^2 node_i / d operand_k d operand_j (for the tolerance bound);
    `adjoints[i]` is d output / d node_i; `gradients` maps each variable to
    its derivative.
    """

    values: list[Any]
    partials: list[tuple[Any, ...]]
    adjoints: list[Any]
    gradients: dict[str, Any]
    seconds: list[tuple[tuple[Any, ...], ...]]

    @property
    def value(self) -> Any:
        return self.values[-1]


def symbolic_reference(graph: Graph, point: Mapping[str, float]) -> SymbolicResult:
    """Exact reverse-mode derivatives of `graph` at `point` (60 digits)."""
    plan = plan_of(graph)
    if plan.rules is None:  # each node's rule, looked up once per graph
        plan.rules = [
            (i, local_rule(op, constant), fetch, single)
            for i, op, _, constant, fetch, single in plan.ops
        ]
    mpf = mpmath.mpf
    n = len(graph.nodes)
    with mpmath.workdps(DIGITS):
        values: list[Any] = [None] * n
        partials: list[tuple[Any, ...]] = [()] * n
        seconds: list[tuple[tuple[Any, ...], ...]] = [()] * n
        for i, name in plan.var_nodes:
            values[i] = mpf(point[name])
        for i, constant in plan.constants:
            values[i] = mpf(constant)
        for i, rule, fetch, single in plan.rules:
            at = fetch(values)
            values[i], partials[i], seconds[i] = rule(at) if single else rule(*at)
        adjoints = _backward(plan.ops, partials, values)
        gradients = {name: adjoints[i] for i, name in plan.var_nodes}
    return SymbolicResult(values, partials, adjoints, gradients, seconds)


def _backward(
    ops: list[Any], partials: list[tuple[Any, ...]], values: list[Any]
) -> list[Any]:
    """Adjoints by the chain rule, last node to first, at the current precision.

    The same products and sums as `adjoints[a] += adjoints[i] * d` over mpf,
    in the same order, made on mpmath's raw numbers (`mpf_mul`, `mpf_add`,
    which the mpf operators call) without an object per intermediate, and
    with the first contribution to a node taken as it is rather than added
    to an exact zero (which rounds nothing: the product is already rounded
    to this precision). Same bits, less cost. A local derivative that is not
    real (d/db of a**b at a < 0 is a**b log a) puts the point outside the
    domain.
    """
    n = len(values)
    prec, rounding = mpmath.mp._prec_rounding
    raw: list[Any] = [None] * n
    raw[-1] = _ONE._mpf_
    for i, name, args, _, _, _ in reversed(ops):  # last to first
        g = raw[i]
        if g is None:  # nothing reached it: an exact zero, as before
            g = fzero
        for a, d in zip(args, partials[i], strict=True):
            if not isinstance(d, mpmath.mpf):
                shown = ", ".join(mpmath.nstr(values[k], 6) for k in args)
                raise PointError(f"{name} has no real derivative at ({shown})")
            term = mpf_mul(g, d._mpf_, prec, rounding)
            held = raw[a]
            raw[a] = term if held is None else mpf_add(held, term, prec, rounding)
    make = mpmath.mp.make_mpf
    return [_ZERO if r is None else make(r) for r in raw]


def expanded_size(graph: Graph, cap: int = 10**9) -> int:
    """Nodes in the tree you get by copying every shared node into each use."""
    size: list[int] = []
    for node in graph.nodes:
        size.append(min(cap, 1 + sum(size[a] for a in node.args)))
    return size[-1]


def derivative_formulas(
    graph: Graph, budget: int = FORMULA_BUDGET
) -> tuple[dict[str, str], str | None]:
    """`d out / d var` as SymPy formulas, or ({}, reason) when too large."""
    import sympy

    size = expanded_size(graph, cap=budget + 1)
    if size > budget:
        return {}, (
            f"formula not shown: the expression expands to more than {budget} "
            "nodes; the reference uses the chain rule over shared nodes instead"
        )
    symbols = {v: sympy.Symbol(v, real=True) for v in graph.variables}
    expr = graph.to_sympy(symbols)
    formulas = {}
    for name, sym in symbols.items():
        formulas[name] = sympy.sstr(sympy.diff(expr, sym))
    return formulas, None
