"""Declared ops: what an engine method computes, when it is not the table's op.

A course template may define `log` as `log(x + 1e-6)` to keep away from
log(0); a student who follows it must not fail. `--op-def 'log=log(x +
1e-6)'` declares that, and the method is checked against the declaration:
the definition is parsed with the safe grammar (`x`, and `y` for binary
ops, are the operands; `c` the constant of an op that takes one), and the
op's references evaluate the parsed graph with the operands substituted.

The definition is parsed against the table as it was before the
declaration, and evaluated with those ops, so `log=log(x + 1e-6)` refers to
the table's log, not to itself. `declared_ops` restores the table after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import mpmath

from gradcheck.errors import ExpressionError
from gradcheck.internal.expr.graph import CONST, VAR, Graph, _leaf_constant
from gradcheck.internal.expr.ops import OPS, Op

__all__ = ["declare_op"]

# Values beyond this overflow a float64 engine (as in the references).
_FLOAT_LIMIT = 1e300
_OPERANDS = ("x", "y")


@dataclasses.dataclass(frozen=True)
class _Definition:
    """A parsed definition, with the ops it uses bound at declaration time."""

    graph: Graph
    ops: tuple[Op | None, ...]
    operands: tuple[str, ...]

    def evaluate(self, args: tuple[Any, ...], constant: Any, backend: str) -> Any:
        """The output with the operands substituted; no recursion, one pass."""
        point = dict(zip(self.operands, args, strict=True))
        if constant is not None:
            point["c"] = constant
        values: list[Any] = []
        for node, op in zip(self.graph.nodes, self.ops, strict=True):
            if node.op == VAR:
                values.append(point[node.name])
            elif node.op == CONST:
                values.append(_leaf_constant(node.constant, backend))
            else:
                assert op is not None  # every non-leaf node has its op bound
                operands = [values[a] for a in node.args]
                if backend == "mp":
                    values.append(op.apply_mp(operands, node.constant))
                else:
                    values.append(op.apply_sympy(operands, node.constant))
        return values[-1]

    def defined_at(self, args: tuple[float, ...], constant: float | None) -> bool:
        """Every node inside its op's domain, and no value overflows float64."""
        point = dict(zip(self.operands, (float(a) for a in args), strict=True))
        if constant is not None:
            point["c"] = float(constant)
        values: list[float] = []
        with mpmath.workdps(30):
            for node, op in zip(self.graph.nodes, self.ops, strict=True):
                if node.op == VAR:
                    values.append(point[node.name])
                    continue
                if node.op == CONST:
                    values.append(float(node.constant or 0.0))
                    continue
                assert op is not None
                operands = [values[a] for a in node.args]
                if not op.in_domain(operands, node.constant):
                    return False
                try:
                    value = float(
                        op.apply_mp([mpmath.mpf(a) for a in operands], node.constant)
                    )
                except (TypeError, ValueError, ZeroDivisionError, OverflowError):
                    return False
                if not abs(value) < _FLOAT_LIMIT:
                    return False
                values.append(value)
        return True


def declare_op(name: str, definition: str) -> Op:
    """Register `name` as computing `definition`; return the new op.

    `name` is an op of the table (its method and printing are kept). The
    table's entry is replaced until `declared_ops` restores it.

    >>> with declared_ops({"log": "log(x + 1e-6)"}):
    ...     OPS["log"].doc, OPS["log"].in_domain([-1e-7], None)
    ('declared: log = log(x + 1e-6)', False)
    >>> OPS["log"].doc
    'natural log(a)'
    """
    from gradcheck.internal.expr.parser import parse

    original = OPS.get(name)
    if original is None:
        raise ExpressionError(f"--op-def {name}: unknown op; known: {', '.join(OPS)}")
    try:
        graph = parse(definition)
    except ExpressionError as err:
        raise ExpressionError(
            f"--op-def {name}: {err.message}", err.text, err.span
        ) from err
    operands = _OPERANDS[: original.arity]
    allowed = set(operands) | ({"c"} if original.takes_constant else set())
    extra = sorted(set(graph.variables) - allowed)
    if extra:
        raise ExpressionError(
            f"--op-def {name}: only {', '.join(sorted(allowed))} may be used, "
            f"not {', '.join(extra)}"
        )
    bound = tuple(None if n.is_leaf else OPS[n.op] for n in graph.nodes)
    parsed = _Definition(graph, bound, operands)
    op = _op_from(original, parsed, definition)
    OPS[name] = op
    return op


def _op_from(original: Op, parsed: _Definition, definition: str) -> Op:
    """An Op that keeps `original`'s spelling and printing, with new maths."""
    if original.takes_constant:

        def mp(*args: Any) -> Any:
            return parsed.evaluate(args[:-1], mpmath.mpf(args[-1]), "mp")

        def sym(*args: Any) -> Any:
            return parsed.evaluate(args[:-1], args[-1], "sympy")

        def domain(*args: Any) -> bool:
            return parsed.defined_at(args[:-1], args[-1])

    else:

        def mp(*args: Any) -> Any:
            return parsed.evaluate(args, None, "mp")

        def sym(*args: Any) -> Any:
            return parsed.evaluate(args, None, "sympy")

        def domain(*args: Any) -> bool:
            return parsed.defined_at(args, None)

    def in_floats(*args: Any) -> float:
        # The table's float64 form is the original op's; screen with the
        # declared definition instead, in 30-digit mpmath.
        with mpmath.workdps(30):
            return float(mp(*args))

    return dataclasses.replace(
        original,
        mp=mp,
        sympy=sym,
        domain=domain,
        fl=in_floats,
        doc=f"declared: {original.name} = {definition}",
    )
