"""The op table: every operation the checker knows, described once.

Each `Op` says how to apply it to an engine's values, to mpmath numbers and
to SymPy expressions, where it is defined, and how to print it. Every other
module reads this table; nothing here knows about any particular engine.
The derivative of each op is *not* written here: SymPy finds it, and the
finite differences measure it, so the references share no derivative rule
with any engine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
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
    # How an engine spells it: a method name for functions (`a.tanh()`),
    # or the operator's dunder (`__add__`, `__rsub__`, `__abs__`). With
    # these the worker tells a class that lacks the op from one whose op is
    # defined but broken. Ops sharing a method (the two gelu forms) are told
    # apart by the forward value.
    method: str | None = None
    dunder: str | None = None
    # A chain link: this op with constant `undo[0]`, then op `undo[1]` with
    # constant `undo[2]`, gives back the input exactly in value and slope.
    # The depth search and the deep probe both build their chains from these
    # links, so the two measure the same graphs.
    undo: tuple[float | None, str, float | None] | None = None
    # Points beyond the normal range (and near 0) where the op is probed for
    # overflow and lost digits; both signs where the op is defined for both.
    far_points: tuple[float, ...] = ()
    # What to do about a range limit of this op, and why an overflow happens
    # (`{exp}` is filled in with the exp that overflows at the measured bound).
    far_hint: str = "guard the formula against overflow"
    overflow_cause: str = ""
    # Rounding of the op in float64, in units of 2**-53: (value ulps, value
    # floor, derivative ulps, derivative floor). A floor of 1 lets the error
    # be absolute near zero (tanh written with exp(2x) loses relative
    # accuracy at small x, and 1 - t**2 at large |x|). The references'
    # error bounds (`refs/tolerance.py`) add these up over a graph.
    rounding: tuple[float, float, float, float] = (1, 0, 1, 0)
    # The op on Python floats, for screening points and drawn values before
    # the 80-digit references; None when `engine` already works on floats.
    fl: Callable[..., Any] | None = None

    def apply_float(self, args: Sequence[float], constant: float | None) -> float:
        f = self.engine if self.fl is None else self.fl
        return float(f(*args, constant) if self.takes_constant else f(*args))

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


# Slope of `leaky_relu(x)` when the call gives none (PyTorch's default).
LEAKY_SLOPE = 0.01


def _mp_relu(a: Any) -> Any:
    return a if a > 0 else mpmath.mpf(0)


def _mp_sigmoid(a: Any) -> Any:
    return 1 / (1 + mpmath.exp(-a))


def _mp_abs(a: Any) -> Any:
    return a if a > 0 else -a


def _mp_leaky_relu(a: Any, slope: float) -> Any:
    return a if a > 0 else mpmath.mpf(slope) * a


def _mp_softplus(a: Any) -> Any:
    return mpmath.log1p(mpmath.exp(a))


@functools.cache
def _gelu_constants(prec: int) -> tuple[Any, Any, Any]:
    """sqrt(2), 0.044715 and sqrt(2/pi) at `prec` bits, once per precision:
    the very numbers the gelu formulas below would compute on every call."""
    with mpmath.workprec(prec):
        cubic = mpmath.mpf(44715) / 10**6  # exact 0.044715, as in the SymPy form
        return mpmath.sqrt(2), cubic, mpmath.sqrt(2 / mpmath.pi)


def _mp_gelu_erf(a: Any) -> Any:
    root2, _, _ = _gelu_constants(mpmath.mp.prec)
    return a * (1 + mpmath.erf(a / root2)) / 2


def _mp_gelu_tanh(a: Any) -> Any:
    _, cubic, scale = _gelu_constants(mpmath.mp.prec)
    inner = scale * (a + cubic * a**3)
    return a * (1 + mpmath.tanh(inner)) / 2


def _fl_relu(a: float) -> float:
    return a if a > 0 else 0.0


def _fl_sigmoid(a: float) -> float:
    return 1 / (1 + math.exp(-a))


def _fl_softplus(a: float) -> float:
    return math.log1p(math.exp(a))


def _fl_gelu_erf(a: float) -> float:
    return a * (1 + math.erf(a / math.sqrt(2))) / 2


def _fl_gelu_tanh(a: float) -> float:
    inner = math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)
    return a * (1 + math.tanh(inner)) / 2


def _sym_relu(a: Any) -> Any:
    import sympy

    return sympy.Piecewise((a, a > 0), (0, True))


def _sym_sigmoid(a: Any) -> Any:
    import sympy

    return 1 / (1 + sympy.exp(-a))


def _sym_abs(a: Any) -> Any:
    import sympy

    # Piecewise rather than sympy.Abs, whose derivative is sign(a): both
    # branches then differentiate to plain numbers.
    return sympy.Piecewise((a, a > 0), (-a, True))


def _sym_leaky_relu(a: Any, slope: Any) -> Any:
    import sympy

    return sympy.Piecewise((a, a > 0), (slope * a, True))


def _sym_softplus(a: Any) -> Any:
    import sympy

    return sympy.log(1 + sympy.exp(a))


def _sym_gelu_erf(a: Any) -> Any:
    import sympy

    return a * (1 + sympy.erf(a / sympy.sqrt(2))) / 2


def _sym_gelu_tanh(a: Any) -> Any:
    import sympy

    cubic = sympy.Rational(44715, 10**6)
    inner = sympy.sqrt(2 / sympy.pi) * (a + cubic * a**3)
    return a * (1 + sympy.tanh(inner)) / 2


def _sym(name: str) -> Callable[[Any], Any]:
    def apply(a: Any) -> Any:
        import sympy

        return getattr(sympy, name)(a)

    apply.__name__ = f"sympy_{name}"
    return apply


def _method(name: str) -> Callable[..., Any]:
    """`a.name()` on an engine value."""

    def apply(a: Any) -> Any:
        return getattr(a, name)()

    apply.__name__ = f"engine_{name}"
    return apply


def _away_from_zero(x: float) -> bool:
    return abs(x) > EDGE


def _pow_domain(a: float, n: float) -> bool:
    if n < 1 and not _away_from_zero(a):
        return False  # the derivative n*a**(n-1) blows up at 0
    if not float(n).is_integer() and a <= EDGE:
        return False  # fractional powers of negatives are complex
    return abs(n * math.log(abs(a))) < 40 if a != 0 else True


def _pow_var_domain(a: float, b: float) -> bool:
    # a**b = exp(b log a): real only for a > 0, and d/db = a**b log a.
    return a > EDGE and abs(b * math.log(a)) < 40


def _rpow_domain(a: float, c: float) -> bool:
    return c > EDGE and abs(a * math.log(c)) < 40


def _below(limit: float) -> Callable[[float], bool]:
    def inside(x: float) -> bool:
        return abs(x) < limit

    return inside


def _always(*_: Any) -> bool:
    return True


TANH_HINT = "use math.tanh, or a formula in exp(-2|x|); fine for |x| below the bound"
SIGMOID_HINT = "use exp(x) / (1 + exp(x)) for negative x; fine above the bound"
# `{exp}` is read off the measured bound (`checking.limits`): exp(2x) when
# tanh overflows at 355, exp(x) at 710, exp(-x) at -710.
TANH_OVERFLOW = "it computes {exp}; math.tanh has no such limit"
SIGMOID_OVERFLOW = "it computes {exp}; branch on the sign of x"

OPS: dict[str, Op] = {}


def _register(*ops: Op) -> None:
    for op in ops:
        OPS[op.name] = op


_register(
    Op("add", 2, False, "{0} + {1}", SUM,
       lambda a, b: a + b, lambda a, b: a + b, lambda a, b: a + b,
       _always, "a + b", dunder="__add__",
       rounding=(1, 0, 0, 0)),
    Op("sub", 2, False, "{0} - {1}", SUM,
       lambda a, b: a - b, lambda a, b: a - b, lambda a, b: a - b,
       _always, "a - b", dunder="__sub__",
       rounding=(1, 0, 0, 0)),
    Op("mul", 2, False, "{0}*{1}", PRODUCT,
       lambda a, b: a * b, lambda a, b: a * b, lambda a, b: a * b,
       _always, "a * b", dunder="__mul__",
       rounding=(1, 0, 0, 0)),
    Op("div", 2, False, "{0}/{1}", PRODUCT,
       lambda a, b: a / b, lambda a, b: a / b, lambda a, b: a / b,
       lambda a, b: _away_from_zero(b), "a / b", dunder="__truediv__",
       rounding=(2, 0, 3, 0)),
    Op("neg", 1, False, "-{0}", UNARY,
       lambda a: -a, lambda a: -a, lambda a: -a,
       _always, "-a", dunder="__neg__",
       undo=(None, "neg", None),
       rounding=(0, 0, 0, 0)),
    Op("pow", 1, True, "{0}**{c}", POWER,
       lambda a, n: a**n, lambda a, n: a ** mpmath.mpf(n), lambda a, n: a**n,
       _pow_domain, "a ** n for a constant n", dunder="__pow__",
       rounding=(4, 0, 6, 0)),
    Op("pow_var", 2, False, "{0}**{1}", POWER,
       lambda a, b: a**b, lambda a, b: a**b, lambda a, b: a**b,
       _pow_var_domain, "a ** b for a Value exponent b (a > 0)",
       dunder="__pow__",
       rounding=(4, 0, 6, 0)),
    Op("add_const", 1, True, "{0} + {c}", SUM,
       lambda a, c: a + c, lambda a, c: a + c, lambda a, c: a + c,
       _always, "a + c", dunder="__add__",
       undo=(0.25, "sub_const", 0.25),
       rounding=(1, 0, 0, 0)),
    Op("sub_const", 1, True, "{0} - {c}", SUM,
       lambda a, c: a - c, lambda a, c: a - c, lambda a, c: a - c,
       _always, "a - c", dunder="__sub__",
       rounding=(1, 0, 0, 0)),
    Op("mul_const", 1, True, "{0}*{c}", PRODUCT,
       lambda a, c: a * c, lambda a, c: a * c, lambda a, c: a * c,
       _always, "a * c", dunder="__mul__",
       undo=(2.0, "mul_const", 0.5),
       rounding=(1, 0, 0, 0)),
    Op("div_const", 1, True, "{0}/{c}", PRODUCT,
       lambda a, c: a / c, lambda a, c: a / c, lambda a, c: a / c,
       lambda a, c: c != 0, "a / c", dunder="__truediv__",
       undo=(1.25, "mul_const", 1.25),
       rounding=(2, 0, 2, 0)),
    Op("radd", 1, True, "{c} + {0}", SUM,
       lambda a, c: c + a, lambda a, c: c + a, lambda a, c: c + a,
       _always, "c + a (reflected)", dunder="__radd__",
       rounding=(1, 0, 0, 0)),
    Op("rsub", 1, True, "{c} - {0}", SUM,
       lambda a, c: c - a, lambda a, c: c - a, lambda a, c: c - a,
       _always, "c - a (reflected)", dunder="__rsub__",
       undo=(0.5, "rsub", 0.5),
       rounding=(1, 0, 0, 0)),
    Op("rmul", 1, True, "{c}*{0}", PRODUCT,
       lambda a, c: c * a, lambda a, c: c * a, lambda a, c: c * a,
       _always, "c * a (reflected)", dunder="__rmul__",
       rounding=(1, 0, 0, 0)),
    Op("rdiv", 1, True, "{c}/{0}", PRODUCT,
       lambda a, c: c / a, lambda a, c: c / a, lambda a, c: c / a,
       lambda a, c: _away_from_zero(a), "c / a (reflected)",
       dunder="__rtruediv__",
       rounding=(2, 0, 4, 0)),
    Op("rpow", 1, True, "{c}**{0}", POWER,
       lambda a, c: c**a, lambda a, c: mpmath.mpf(c) ** a, lambda a, c: c**a,
       _rpow_domain, "c ** a for a constant base c > 0 (reflected)",
       dunder="__rpow__",
       rounding=(4, 0, 6, 0)),
    Op("tanh", 1, False, "tanh({0})", ATOM,
       _method("tanh"), mpmath.tanh, _sym("tanh"),
       _always, "tanh(a)", method="tanh", fl=math.tanh,
       far_points=(1e-12, 12.0, -12.0, 20.0, -20.0, 400.0, -400.0, 1e4, -1e4),
       far_hint=TANH_HINT, overflow_cause=TANH_OVERFLOW,
       rounding=(4, 1, 4, 1)),
    Op("exp", 1, False, "exp({0})", ATOM,
       _method("exp"), mpmath.exp, _sym("exp"),
       lambda a: a < EXP_LIMIT, "exp(a)", method="exp", fl=math.exp,
       far_points=(1e-12, 12.0, -12.0, 20.0, -20.0, 700.0, -700.0),
       far_hint="inputs this large overflow the float format anyway; guard them "
       "before exp",
       rounding=(4, 0, 4, 0)),
    Op("log", 1, False, "log({0})", ATOM,
       _method("log"), mpmath.log, _sym("log"),
       lambda a: a > EDGE, "natural log(a)", method="log", fl=math.log,
       far_points=(1e-300, 1e-12, 12.0, 20.0, 1e3, 1e300),
       far_hint="a log this close to 0 or this large needs no special case",
       rounding=(4, 1, 3, 0)),
    Op("relu", 1, False, "relu({0})", ATOM,
       _method("relu"), _mp_relu, _sym_relu,
       _away_from_zero, "max(a, 0)", method="relu", fl=_fl_relu,
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(0, 0, 0, 0)),
    Op("sigmoid", 1, False, "sigmoid({0})", ATOM,
       _method("sigmoid"), _mp_sigmoid, _sym_sigmoid,
       _always, "1 / (1 + exp(-a))", method="sigmoid", fl=_fl_sigmoid,
       far_points=(1e-12, 12.0, -12.0, 20.0, -20.0, 800.0, -800.0),
       far_hint=SIGMOID_HINT, overflow_cause=SIGMOID_OVERFLOW,
       rounding=(4, 1, 4, 1)),
    Op("sin", 1, False, "sin({0})", ATOM,
       _method("sin"), mpmath.sin, _sym("sin"),
       _below(1e4), "sin(a)", method="sin", fl=math.sin,
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(2, 0, 2, 0)),
    Op("cos", 1, False, "cos({0})", ATOM,
       _method("cos"), mpmath.cos, _sym("cos"),
       _below(1e4), "cos(a)", method="cos", fl=math.cos,
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(2, 0, 2, 0)),
    Op("sqrt", 1, False, "sqrt({0})", ATOM,
       _method("sqrt"), mpmath.sqrt, _sym("sqrt"),
       lambda a: a > EDGE, "square root of a", method="sqrt", fl=math.sqrt,
       far_points=(12.0, 20.0, 1e3, 1e300),
       rounding=(1, 0, 4, 0)),
    Op("abs", 1, False, "abs({0})", ATOM,
       abs, _mp_abs, _sym_abs,
       _away_from_zero, "|a|, through the builtin abs()", dunder="__abs__",
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(0, 0, 0, 0)),
    Op("softplus", 1, False, "softplus({0})", ATOM,
       _method("softplus"), _mp_softplus, _sym_softplus,
       _below(EXP_LIMIT), "log(1 + exp(a))", method="softplus",
       fl=_fl_softplus,
       far_points=(12.0, -12.0, 20.0, -20.0, 800.0, -800.0),
       rounding=(4, 1, 4, 1)),
    Op("leaky_relu", 1, True, "leaky_relu({0}, {c})", ATOM,
       lambda a, s: a.leaky_relu(s), _mp_leaky_relu, _sym_leaky_relu,
       lambda a, s: _away_from_zero(a), "a if a > 0 else slope * a",
       method="leaky_relu", fl=lambda a, s: a if a > 0 else s * a,
       rounding=(1, 0, 1, 0)),
    Op("gelu_erf", 1, False, "gelu({0})", ATOM,
       _method("gelu"), _mp_gelu_erf, _sym_gelu_erf,
       _below(20.0), "a * Phi(a) = a/2 * (1 + erf(a/sqrt(2)))", method="gelu",
       fl=_fl_gelu_erf,
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(6, 1, 6, 1)),
    Op("gelu_tanh", 1, False, "gelu_tanh({0})", ATOM,
       _method("gelu"), _mp_gelu_tanh, _sym_gelu_tanh,
       _below(20.0), "a/2 * (1 + tanh(sqrt(2/pi) * (a + 0.044715 a**3)))",
       method="gelu", fl=_fl_gelu_tanh,
       far_points=(12.0, -12.0, 20.0, -20.0),
       rounding=(8, 1, 8, 1)),
    Op("erf", 1, False, "erf({0})", ATOM,
       _method("erf"), mpmath.erf, _sym("erf"),
       _below(20.0), "the error function erf(a)", method="erf", fl=math.erf,
       far_points=(12.0, -12.0),
       rounding=(2, 0, 4, 0)),
)  # fmt: skip
# The table as shipped, whatever `--op-def` declares later: what the shipped
# references (`refs.shipped`) were computed with.
BUILT_IN: Mapping[str, Op] = MappingProxyType(dict(OPS))

# The functions a user may call by name in an expression, and their ops.
FUNCTION_OPS: dict[str, str] = {
    "tanh": "tanh", "exp": "exp", "log": "log", "relu": "relu",
    "sigmoid": "sigmoid", "sin": "sin", "cos": "cos", "sqrt": "sqrt",
    "abs": "abs", "softplus": "softplus", "leaky_relu": "leaky_relu",
    "gelu": "gelu_erf", "gelu_tanh": "gelu_tanh", "erf": "erf",
}  # fmt: skip
FUNCTIONS = tuple(FUNCTION_OPS)
# The constant a call may leave out: `leaky_relu(x)` is `leaky_relu(x, 0.01)`.
DEFAULT_CONSTANTS: dict[str, float] = {"leaky_relu": LEAKY_SLOPE}
# Exponents the generator uses for `pow`; integers and fractions.
POW_EXPONENTS = (2.0, 3.0, -1.0, 0.5, 1.5, -2.0)
# Bases the generator uses for `rpow`, and slopes for `leaky_relu`.
RPOW_BASES = (2.0, 0.5, 3.0, 10.0)
LEAKY_SLOPES = (LEAKY_SLOPE, 0.2, 0.1)
# Constants drawn for the ops whose constant has a meaning of its own.
CONSTANT_CHOICES: dict[str, tuple[float, ...]] = {
    "pow": POW_EXPONENTS,
    "rpow": RPOW_BASES,
    "leaky_relu": LEAKY_SLOPES,
}


def _spellings() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for op in OPS.values():
        for spelling in (op.method, op.dunder):
            if spelling is not None:
                found.setdefault(spelling, []).append(op.name)
    return {k: tuple(v) for k, v in found.items()}


# Every method or dunder name an engine may define, and the ops it serves:
# `gelu` serves both gelu forms, `__pow__` both pow and pow_var. A public
# method of an engine's class that is not a key here is not checked.
SPELLINGS: dict[str, tuple[str, ...]] = _spellings()


# A pair of chain links: ((op, constant), (op, constant)) that undo each other.
Link = tuple[str, float | None]
CHAIN_PAIRS: tuple[tuple[Link, Link], ...] = tuple(
    ((op.name, op.undo[0]), (op.undo[1], op.undo[2]))
    for op in OPS.values()
    if op.undo is not None
)
