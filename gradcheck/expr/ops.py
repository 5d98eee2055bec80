"""The op table: every operation the checker knows, described once.

Each `Op` says how to apply it to an engine's values, to mpmath numbers and
to SymPy expressions, where it is defined, and how to print it. Every other
module reads this table; nothing here knows about any particular engine.
The derivative of each op is *not* written here: SymPy finds it, and the
finite differences measure it, so the references share no derivative rule
with any engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath

# Precedence levels for printing, as in Python: higher binds tighter.
SUM, PRODUCT, UNARY, POWER, ATOM = 1, 2, 3, 4, 5

# A point is too close to a kink, pole or domain edge when nearer than this.
EDGE = 1e-3
# Arguments of exp beyond this make values that dwarf everything else.
EXP_LIMIT = 30.0


@dataclass(frozen=True)
class Op:
    """One operation of the expression language.

    `arity` counts graph operands; `takes_constant` ops also carry one plain
    number (the exponent of `pow`, the number in `2 - x`). `template` prints
    it: `{0}`/`{1}` are operands, `{c}` the constant.
    """

    name: str
    arity: int
    takes_constant: bool
    template: str
    precedence: int
    engine: Callable[..., Any]
    mp: Callable[..., Any]
    sympy: Callable[..., Any]
    domain: Callable[..., bool]
    doc: str

    def apply_engine(self, args: Sequence[Any], constant: float | None) -> Any:
        return (
            self.engine(*args, constant) if self.takes_constant else self.engine(*args)
        )

    def apply_mp(self, args: Sequence[Any], constant: float | None) -> Any:
        return self.mp(*args, constant) if self.takes_constant else self.mp(*args)

    def apply_sympy(self, args: Sequence[Any], constant: float | None) -> Any:
        if self.takes_constant:
            return self.sympy(*args, _exact(constant))
        return self.sympy(*args)

    def in_domain(self, args: Sequence[float], constant: float | None) -> bool:
        """True when the op is defined, smooth and well away from edges here."""
        try:
            if self.takes_constant:
                return bool(self.domain(*args, constant))
            return bool(self.domain(*args))
        except (ArithmeticError, ValueError):
            return False


def _exact(constant: float | None) -> Any:
    """A float as the exact SymPy rational it stands for (0.1 is not 1/10)."""
    import sympy

    if constant is None:
        raise ValueError("this op needs a constant")
    if float(constant).is_integer():
        return sympy.Integer(int(constant))
    return sympy.Rational(constant)


def _mp_relu(a: Any) -> Any:
    return a if a > 0 else mpmath.mpf(0)


def _mp_sigmoid(a: Any) -> Any:
    return 1 / (1 + mpmath.exp(-a))


def _sym_relu(a: Any) -> Any:
    import sympy

    return sympy.Piecewise((a, a > 0), (0, True))


def _sym_sigmoid(a: Any) -> Any:
    import sympy

    return 1 / (1 + sympy.exp(-a))


def _sym(name: str) -> Callable[[Any], Any]:
    def apply(a: Any) -> Any:
        import sympy

        return getattr(sympy, name)(a)

    apply.__name__ = f"sympy_{name}"
    return apply


def _away_from_zero(x: float) -> bool:
    return abs(x) > EDGE


def _pow_domain(a: float, n: float) -> bool:
    if n < 1 and not _away_from_zero(a):
        return False  # the derivative n*a**(n-1) blows up at 0
    if not float(n).is_integer() and a <= EDGE:
        return False  # fractional powers of negatives are complex
    return abs(n * math.log(abs(a))) < 40 if a != 0 else True


def _always(*_: Any) -> bool:
    return True


OPS: dict[str, Op] = {}


def _register(*ops: Op) -> None:
    for op in ops:
        OPS[op.name] = op


_register(
    Op("add", 2, False, "{0} + {1}", SUM,
       lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b,
       _always, "a + b"),
    Op("sub", 2, False, "{0} - {1}", SUM,
       lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b,
       _always, "a - b"),
    Op("mul", 2, False, "{0}*{1}", PRODUCT,
       lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b,
       _always, "a * b"),
    Op("div", 2, False, "{0}/{1}", PRODUCT,
       lambda a, b: a / b, lambda a, b: a / b, lambda a, b: a / b,
       lambda a, b: _away_from_zero(b), "a / b"),
    Op("neg", 1, False, "-{0}", UNARY,
       lambda a: -a, lambda a: -a, lambda a: -a,
       _always, "-a"),
    Op("pow", 1, True, "{0}**{c}", POWER,
       lambda a, n: a**n, lambda a, n: a ** mpmath.mpf(n), lambda a, n: a**n,
       _pow_domain, "a ** n for a constant n"),
    Op("add_const", 1, True, "{0} + {c}", SUM,
       lambda a, c: a + c, lambda a, c: a + c, lambda a, c: a + c,
       _always, "a + c"),
    Op("sub_const", 1, True, "{0} - {c}", SUM,
       lambda a, c: a - c, lambda a, c: a - c, lambda a, c: a - c,
       _always, "a - c"),
    Op("mul_const", 1, True, "{0}*{c}", PRODUCT,
       lambda a, c: a * c, lambda a, c: a * c, lambda a, c: a * c,
       _always, "a * c"),
    Op("div_const", 1, True, "{0}/{c}", PRODUCT,
       lambda a, c: a / c, lambda a, c: a / c, lambda a, c: a / c,
       lambda a, c: c != 0, "a / c"),
    Op("radd", 1, True, "{c} + {0}", SUM,
       lambda a, c: c + a, lambda a, c: c + a, lambda a, c: c + a,
       _always, "c + a (reflected)"),
    Op("rsub", 1, True, "{c} - {0}", SUM,
       lambda a, c: c - a, lambda a, c: c - a, lambda a, c: c - a,
       _always, "c - a (reflected)"),
    Op("rmul", 1, True, "{c}*{0}", PRODUCT,
       lambda a, c: c * a, lambda a, c: c * a, lambda a, c: c * a,
       _always, "c * a (reflected)"),
    Op("rdiv", 1, True, "{c}/{0}", PRODUCT,
       lambda a, c: c / a, lambda a, c: c / a, lambda a, c: c / a,
       lambda a, c: _away_from_zero(a), "c / a (reflected)"),
    Op("tanh", 1, False, "tanh({0})", ATOM,
       lambda a: a.tanh(), mpmath.tanh, _sym("tanh"),
       _always, "tanh(a)"),
    Op("exp", 1, False, "exp({0})", ATOM,
       lambda a: a.exp(), mpmath.exp, _sym("exp"),
       lambda a: a < EXP_LIMIT, "exp(a)"),
    Op("log", 1, False, "log({0})", ATOM,
       lambda a: a.log(), mpmath.log, _sym("log"),
       lambda a: a > EDGE, "natural log(a)"),
    Op("relu", 1, False, "relu({0})", ATOM,
       lambda a: a.relu(), _mp_relu, _sym_relu,
       _away_from_zero, "max(a, 0)"),
    Op("sigmoid", 1, False, "sigmoid({0})", ATOM,
       lambda a: a.sigmoid(), _mp_sigmoid, _sym_sigmoid,
       _always, "1 / (1 + exp(-a))"),
)  # fmt: skip

# The functions a user may call by name in an expression.
FUNCTIONS = ("tanh", "exp", "log", "relu", "sigmoid")
# Exponents the generator uses for `pow`; integers and fractions.
POW_EXPONENTS = (2.0, 3.0, -1.0, 0.5, 1.5, -2.0)
