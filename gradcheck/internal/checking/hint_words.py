"""How hints name ops and causes, and how a hint is read back for its cause.

Shared by the diagnosis (which writes hints) and the marking of
consequences in `marking` (which reads which op or cause a hint blames).
"""

from __future__ import annotations

from gradcheck.internal.expr.ops import OPS

# How the hint of each confirmed cause begins, up to the op it names.
_CAUSES = (
    ("the backward of ", " is lost when its input is computed"),
    ("", " passes no gradient to its "),
    ("nodes with equal values are treated as one", ""),
)


# A reflected op whose operands are swapped, confirmed on the forward value.
_SWAPPED = "{0} computes self {1} other instead of other {1} self"
SWAPPED_OPS = {"rsub": ("__rsub__", "-"), "rdiv": ("__rtruediv__", "/")}


def swapped_operands(op: str) -> str:
    """The words for a reflected op (`rsub`, `rdiv`) computed the wrong way round."""
    return _SWAPPED.format(*SWAPPED_OPS[op])


def confirmed_cause(hint: str) -> str | None:
    """The cause (with its op) a hint of this module states, else None."""
    for op in SWAPPED_OPS:
        if swapped_operands(op) in hint:
            return swapped_operands(op)
    for head, tail in _CAUSES:
        if not hint.startswith(head):
            continue
        if not tail:
            return head
        op, found, _ = hint[len(head) :].partition(tail)
        if found and op and " " not in op:
            return f"{head}{op}{tail}"
    return None


_OVERWRITE = "`=` instead of `+=` in the backward of `{}`: "


def overwrite_hint(symbol: str) -> str:
    """How a hint that blames one op's overwritten gradient begins."""
    return _OVERWRITE.format(symbol)


def blamed_symbol(hint: str) -> str | None:
    """The op symbol an `overwrite_hint` blames, if the hint starts with one."""
    head, tail = _OVERWRITE.split("{}")
    if not hint.startswith(head):
        return None
    symbol, found, _ = hint[len(head) :].partition(tail)
    return symbol if found else None


_WRONG_DERIVATIVE = "{} has a wrong derivative: "


def wrong_derivative_hint(op: str) -> str:
    """How a hint that blames one op's local derivative begins."""
    return _WRONG_DERIVATIVE.format(op)


def wrong_derivative_op(hint: str) -> str | None:
    """The op a `wrong_derivative_hint` blames, if the hint starts with one."""
    op, found, _ = hint.partition(_WRONG_DERIVATIVE.format(""))
    return op if found and op in OPS else None


def op_symbol(name: str) -> str:
    """How an op reads in source: `**` for pow, `tanh` for tanh."""
    template = OPS[name].template if name in OPS else name
    for part in ("{0}", "{1}", "{c}", "(", ")", ",", " "):
        template = template.replace(part, "")
    return template or name


def shown(name: str) -> str:
    """An op as a hint names it: exp, gelu, or `**` in backticks."""
    symbol = op_symbol(name)
    return symbol if symbol.isidentifier() else f"`{symbol}`"
