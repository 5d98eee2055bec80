"""Parse expression text such as `tanh(x*y) + x**2` into a `Graph`, safely.

The text goes through `ast.parse(..., mode="eval")` and an allow-list walk;
nothing is ever evaluated by Python. Allowed: numbers, variable names
(ASCII identifiers that are not function names), `+ - * / **`, unary `-`
and `+`, parentheses, and calls of the functions in `ops.FUNCTIONS` (`tanh
exp log relu sigmoid sin cos sqrt abs softplus leaky_relu gelu gelu_tanh
erf`) with one argument; `leaky_relu` takes an optional number, its slope.
Precedence and associativity are Python's.

Decisions, documented in docs/grammar.md:

* Parts made of numbers only are folded: `2*3*x` is `rmul(x, 6)`, `-2` is
  the constant -2, `exp(1)` is 2.718281828459045.
* A number next to an expression selects the constant forms of the op table:
  `x + 2` is `add_const`, `2 - x` is `rsub`, `1 / x` is `rdiv`.
* `x**2` is `pow` (a number exponent, `|exponent| <= 1000`), `x**y` is
  `pow_var` (a Value exponent) and `2**x` is `rpow` (a number base, which
  must be positive).
* One name is one variable node, so `x*x` reuses `x`. Identical
  subexpressions stay separate nodes unless they are named with a binding:
  `t1 = x*y; out = t1 + t1*x` is the text `Graph.to_text()` prints for a
  graph with shared nodes, and it parses back to the same graph.
* Input length, bracket depth, runs of unary operators and the operator
  count are capped *before* `ast.parse`, which can crash on deep nesting.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from gradcheck.errors import ExpressionError
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import DEFAULT_CONSTANTS, FUNCTION_OPS, FUNCTIONS, OPS

__all__ = ["MAX_DEPTH", "MAX_EXPONENT", "MAX_LENGTH", "MAX_OPERATORS", "parse"]

MAX_LENGTH = 10_000
MAX_DEPTH = 100  # brackets open at once, and unary operators in a row
MAX_OPERATORS = 1_000  # each binary operator nests the syntax tree one level
MAX_EXPONENT = 1_000.0

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BINDING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_ALLOWED_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ "
    "+-*/().,=;!\"#$%&'<>?@[\\]^`{|}~:"
)
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div"}
# fmt: off
_OTHER_OPERATORS = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<",
    ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
    ast.Invert: "~", ast.Not: "not",
}
_NOT_ALLOWED = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts",
    ast.Lambda: "lambda", ast.IfExp: "conditional expressions",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons", ast.BoolOp: "'and' and 'or'",
    ast.List: "lists", ast.Tuple: "tuples", ast.Set: "sets", ast.Dict: "dicts",
    ast.JoinedStr: "strings", ast.FormattedValue: "strings",
    ast.NamedExpr: "assignment expressions (:=)", ast.Starred: "starred arguments",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
}
# fmt: on
_KNOWN = ", ".join(FUNCTIONS)


@dataclass(frozen=True)
class _Term:
    """An expression that is a graph node (as opposed to a plain number)."""

    index: int


_Value = float | _Term


def parse(text: str) -> Graph:
    """The graph of `text`; raises `ExpressionError` pointing at the bad part.

    >>> parse("tanh(x*y) + x**2").to_text()
    'tanh(x*y) + x**2'
    >>> parse("2 - x").nodes[-1].op
    'rsub'
    >>> parse("t1 = x*y; out = t1 + t1*x").to_text()
    't1 = x*y; out = t1 + t1*x'
    """
    if not isinstance(text, str):
        raise ExpressionError(
            f"an expression must be a string, not {type(text).__name__}"
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression too long: {len(text):,} characters (at most {MAX_LENGTH:,})"
        )
    # Whitespace becomes plain spaces so that every offset is a column of one line.
    text = re.sub(r"[\t\n\r\f\v]", " ", text)
    _check_characters(text)
    if not text.strip():
        raise ExpressionError("empty expression", text, (0, max(1, len(text))))
    _check_nesting(text)
    return _Parser(text).run()


def _check_characters(text: str) -> None:
    for i, char in enumerate(text):
        if char not in _ALLOWED_CHARS:
            raise ExpressionError(f"unexpected character {char!r}", text, (i, i + 1))


def _check_nesting(text: str) -> None:
    """Refuse inputs deep enough to strain CPython's parser, before parsing."""
    depth = 0
    deepest = (0, 0)
    run, run_start = 0, 0
    operators = 0
    previous = ""
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > deepest[0]:
                deepest = (depth, i)
        elif char in ")]}":
            depth -= 1
        if char in "+-~":
            if run == 0:
                run_start = i
            run += 1
            if run > MAX_DEPTH:
                raise ExpressionError(
                    f"too many unary operators in a row (at most {MAX_DEPTH})",
                    text,
                    (run_start, i + 1),
                )
        elif char != " ":
            run = 0
        if char in "+-*/%@&|^<>" and not (char == "*" and previous == "*"):
            operators += 1
            if operators > MAX_OPERATORS:
                raise ExpressionError(
                    f"expression too large: more than {MAX_OPERATORS:,} operators",
                    text,
                    (i, i + 1),
                )
        if char != " ":
            previous = char
    if deepest[0] > MAX_DEPTH:
        raise ExpressionError(
            f"expression nested too deeply: {deepest[0]} brackets "
            f"(at most {MAX_DEPTH})",
            text,
            (deepest[1], deepest[1] + 1),
        )


class _Parser:
    """Turns the statements of one input into nodes of one `GraphBuilder`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.builder = GraphBuilder()
        self.bindings: dict[str, _Value] = {}
        self.variables: set[str] = set()

    def fail(self, message: str, start: int, end: int | None = None) -> ExpressionError:
        return ExpressionError(
            message, self.text, (start, start + 1 if end is None else end)
        )

    def run(self) -> Graph:
        statements = _split(self.text)
        result: _Value = 0.0
        for number, (start, end) in enumerate(statements):
            last = number == len(statements) - 1
            piece = self.text[start:end]
            if not piece.strip():
                raise self.fail(
                    "empty statement between ';'", start, max(end, start + 1)
                )
            binding = _BINDING.match(piece)
            name = ""
            if binding and len(statements) == 1:
                raise self.fail(
                    "'=' only names a part (t1 = ...; out = ...); to give "
                    f"{binding.group(1)} a value, pass it in the point (--at)",
                    start + binding.start(1),
                    start + binding.end(),
                )
            if binding:
                name = binding.group(1)
                self._check_binding(
                    name, start + binding.start(1), start + binding.end(1)
                )
                start += binding.end()
            elif not last:
                raise self.fail(
                    "only the last part may be a bare expression; "
                    "name the others: t1 = ...",
                    start,
                    end,
                )
            result = self.expression(start, end)
            if name and not last:
                self.bindings[name] = result
        return self.builder.build(self._node(result).index)

    def _check_binding(self, name: str, start: int, end: int) -> None:
        if name in FUNCTIONS:
            raise self.fail(f"{name} is a function and cannot be assigned", start, end)
        if name in self.bindings:
            raise self.fail(f"{name} is assigned twice", start, end)
        if name in self.variables:
            raise self.fail(f"{name} is already used as a variable", start, end)

    def _node(self, value: _Value) -> _Term:
        if isinstance(value, _Term):
            return value
        return _Term(self.builder.const(value))

    def expression(self, start: int, end: int) -> _Value:
        """Parse `text[start:end]` as one expression (offsets are kept)."""
        piece = self.text[start:end]
        source = piece.lstrip()
        shift = start + len(piece) - len(source)  # ast offsets are into `source`
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as err:
            raise self._syntax_error(err, source, shift) from None
        except (ValueError, RecursionError, MemoryError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise self.fail(f"cannot parse expression: {message}", start, end) from None
        return self._walk(tree.body, shift)

    def _syntax_error(
        self, err: SyntaxError, source: str, shift: int
    ) -> ExpressionError:
        stripped = source.rstrip()
        if stripped and stripped[-1] in "+-*/(,=" and err.msg == "invalid syntax":
            last = shift + len(stripped) - 1
            return self.fail("the expression ends too early", last, last + 1)
        offset = (err.offset or 1) - 1
        end_offset = getattr(err, "end_offset", None)
        end = (
            end_offset - 1 + shift
            if end_offset and end_offset > (err.offset or 0)
            else None
        )
        offset = max(0, min(offset, len(source))) + shift
        message = err.msg[0].lower() + err.msg[1:] if err.msg else "syntax error"
        if message == "invalid syntax":
            message = "syntax error"
        return self.fail(
            f"invalid syntax: {message}"
            if message != "syntax error"
            else "syntax error",
            offset,
            end,
        )

    def _walk(self, root: ast.expr, shift: int) -> _Value:
        """Post-order walk with an explicit stack: no recursion over depth."""
        done: dict[int, _Value] = {}
        stack: list[tuple[ast.expr, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if not expanded:
                children = self._children(node, shift)
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))
            else:
                done[id(node)] = self._combine(node, done, shift)
        return done[id(root)]

    def _span(self, node: ast.AST, shift: int) -> tuple[int, int]:
        start = getattr(node, "col_offset", 0) + shift
        end = getattr(node, "end_col_offset", None)
        return start, (end + shift if end is not None else start + 1)

    def _children(self, node: ast.expr, shift: int) -> list[ast.expr]:
        """The operands of an allowed node; raises for anything not allowed."""
        start, end = self._span(node, shift)
        if isinstance(node, ast.Constant):
            return []
        if isinstance(node, ast.Name):
            return []
        if isinstance(node, ast.BinOp):
            if type(node.op) in _OTHER_OPERATORS:
                symbol = _OTHER_OPERATORS[type(node.op)]
                raise self.fail(
                    f"operator {symbol!r} is not supported; use + - * / **",
                    *self._operator_span(node, shift),
                )
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            if type(node.op) in _OTHER_OPERATORS:
                symbol = _OTHER_OPERATORS[type(node.op)]
                raise self.fail(
                    f"operator {symbol!r} is not supported; use unary - or +",
                    start,
                    start + 1,
                )
            return [node.operand]
        if isinstance(node, ast.Call):
            return self._call_arguments(node, shift)
        what = _NOT_ALLOWED.get(type(node), f"{type(node).__name__} expressions")
        raise self.fail(f"{what} not allowed in an expression", start, end)

    def _call_arguments(self, node: ast.Call, shift: int) -> list[ast.expr]:
        start, end = self._span(node, shift)
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self.fail(
                "attribute access not allowed in an expression",
                *self._span(func, shift),
            )
        if not isinstance(func, ast.Name):
            raise self.fail(f"only the functions {_KNOWN} can be called", start, end)
        if func.id not in FUNCTIONS:
            raise self.fail(
                f"unknown function {func.id}; known: {_KNOWN}", *self._span(func, shift)
            )
        if node.keywords:
            raise self.fail(
                f"{func.id}() takes no keyword arguments",
                *self._span(node.keywords[0], shift),
            )
        op = OPS[FUNCTION_OPS[func.id]]
        if op.takes_constant:
            if len(node.args) not in (1, 2):
                raise self.fail(
                    f"{func.id}() takes one argument and an optional number "
                    f"({len(node.args)} given)",
                    start,
                    end,
                )
        elif len(node.args) != 1:
            raise self.fail(
                f"{func.id}() takes exactly one argument ({len(node.args)} given)",
                start,
                end,
            )
        return list(node.args)

    def _operator_span(self, node: ast.BinOp, shift: int) -> tuple[int, int]:
        """The span of the operator symbol between the operands of `node`."""
        _, left_end = self._span(node.left, shift)
        right_start, _ = self._span(node.right, shift)
        between = self.text[left_end:right_start]
        stripped = between.strip(" ()")
        if stripped:
            first = left_end + between.index(stripped)
            return first, first + len(stripped)
        return left_end, max(right_start, left_end + 1)

    def _combine(self, node: ast.expr, done: dict[int, _Value], shift: int) -> _Value:
        start, end = self._span(node, shift)
        if isinstance(node, ast.Constant):
            return self._number(node.value, start, end)
        if isinstance(node, ast.Name):
            return self._name(node.id, start, end)
        if isinstance(node, ast.UnaryOp):
            operand = done[id(node.operand)]
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(operand, _Term):
                return _Term(self.builder.op("neg", operand.index))
            return -operand
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # checked in _call_arguments
            return self._call(node, node.func.id, done, shift)
        assert isinstance(node, ast.BinOp)  # the only other kind _children allows
        left, right = done[id(node.left)], done[id(node.right)]
        if isinstance(node.op, ast.Pow):
            return self._power(node, left, right, shift)
        name = _BINARY[type(node.op)]
        if isinstance(left, _Term) and isinstance(right, _Term):
            return _Term(self.builder.op(name, left.index, right.index))
        if isinstance(left, _Term):
            assert not isinstance(right, _Term)
            if name == "div" and right == 0:
                raise self.fail("division by zero", *self._span(node.right, shift))
            return _Term(self.builder.op(f"{name}_const", left.index, constant=right))
        if isinstance(right, _Term):
            return _Term(self.builder.op(f"r{name}", right.index, constant=left))
        return self._fold(_FOLD_BINARY[name], (left, right), start, end)

    def _call(
        self, node: ast.Call, function: str, done: dict[int, _Value], shift: int
    ) -> _Value:
        """A call of a known function; its second argument is the op's constant."""
        start, end = self._span(node, shift)
        name = FUNCTION_OPS[function]
        argument = done[id(node.args[0])]
        if not OPS[name].takes_constant:
            if isinstance(argument, _Term):
                return _Term(self.builder.op(name, argument.index))
            return self._fold(_FOLD_FUNCTIONS[function], (argument,), start, end)
        constant = DEFAULT_CONSTANTS[name]
        if len(node.args) == 2:
            given = done[id(node.args[1])]
            if isinstance(given, _Term):
                raise self.fail(
                    f"the second argument of {function}() must be a number",
                    *self._span(node.args[1], shift),
                )
            constant = given
        if isinstance(argument, _Term):
            return _Term(self.builder.op(name, argument.index, constant=constant))
        return self._fold(_FOLD_CONSTANT[function], (argument, constant), start, end)

    def _power(
        self, node: ast.BinOp, base: _Value, exponent: _Value, shift: int
    ) -> _Value:
        right_start, right_end = self._span(node.right, shift)
        if isinstance(exponent, _Term):
            if isinstance(base, _Term):
                return _Term(self.builder.op("pow_var", base.index, exponent.index))
            if not base > 0:
                raise self.fail(
                    f"the base of c**x must be a positive number, not {base:g} "
                    "(a negative base to a fractional power is not real)",
                    *self._span(node.left, shift),
                )
            return _Term(self.builder.op("rpow", exponent.index, constant=base))
        if not abs(exponent) <= MAX_EXPONENT:
            raise self.fail(
                f"exponent {exponent:g} too large (at most {MAX_EXPONENT:g} in size)",
                right_start,
                right_end,
            )
        if isinstance(base, _Term):
            return _Term(self.builder.op("pow", base.index, constant=exponent))
        return self._fold(_fold_pow, (base, exponent), *self._span(node, shift))

    def _number(self, value: object, start: int, end: int) -> float:
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.fail(f"{value!r} is not a number", start, end)
        if isinstance(value, (str, bytes)):
            raise self.fail("strings not allowed in an expression", start, end)
        if isinstance(value, complex):
            raise self.fail("complex numbers not supported", start, end)
        if not isinstance(value, (int, float)):
            raise self.fail(f"{value!r} is not a number", start, end)
        try:
            number = float(value)
        except OverflowError:
            raise self.fail("number too large for a float", start, end) from None
        if not math.isfinite(number):
            raise self.fail("number too large for a float", start, end)
        return number

    def _name(self, name: str, start: int, end: int) -> _Value:
        if name in self.bindings:
            return self.bindings[name]
        if name in FUNCTIONS:
            raise self.fail(f"{name} is a function: call it as {name}(...)", start, end)
        if not _NAME.fullmatch(name):
            raise self.fail(f"{name!r} is not a valid variable name", start, end)
        self.variables.add(name)
        return _Term(self.builder.var(name))

    def _fold(
        self,
        function: Callable[..., float],
        args: tuple[float, ...],
        start: int,
        end: int,
    ) -> float:
        """Compute a part made of numbers only; errors point at that part."""
        try:
            result = function(*args)
        except ZeroDivisionError:
            raise self.fail("division by zero", start, end) from None
        except OverflowError:
            raise self.fail(
                "overflow: the result is too large for a float", start, end
            ) from None
        except ValueError as err:
            raise self.fail(f"math domain error: {err}", start, end) from None
        if not isinstance(result, float):
            raise self.fail("the result is not a real number", start, end)
        if not math.isfinite(result):
            raise self.fail("overflow: the result is too large for a float", start, end)
        return result


def _split(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every statement separated by ';'."""
    spans = []
    start = 0
    for i, char in enumerate(text):
        if char == ";":
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(text)))
    if len(spans) > 1 and not text[spans[-1][0] :].strip():
        spans.pop()  # a trailing ';' is harmless
    return spans


def _fold_pow(base: float, exponent: float) -> float:
    if base < 0 and not exponent.is_integer():
        raise ValueError("a negative number to a fractional power is not real")
    return float(base**exponent)


def _fold_log(a: float) -> float:
    if a <= 0:
        raise ValueError("log of a number <= 0")
    return math.log(a)


def _fold_sigmoid(a: float) -> float:
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


_FOLD_BINARY: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


def _fold_sqrt(a: float) -> float:
    if a < 0:
        raise ValueError("sqrt of a number < 0")
    return math.sqrt(a)


def _fold_softplus(a: float) -> float:
    return max(a, 0.0) + math.log1p(math.exp(-abs(a)))


def _fold_gelu_tanh(a: float) -> float:
    inner = math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)
    return 0.5 * a * (1.0 + math.tanh(inner))


_FOLD_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "tanh": math.tanh,
    "exp": math.exp,
    "log": _fold_log,
    "relu": lambda a: max(a, 0.0),
    "sigmoid": _fold_sigmoid,
    "sin": math.sin,
    "cos": math.cos,
    "sqrt": _fold_sqrt,
    "abs": abs,
    "softplus": _fold_softplus,
    "gelu": lambda a: 0.5 * a * (1.0 + math.erf(a / math.sqrt(2))),
    "gelu_tanh": _fold_gelu_tanh,
    "erf": math.erf,
}
_FOLD_CONSTANT: dict[str, Callable[[float, float], float]] = {
    "leaky_relu": lambda a, slope: a if a > 0 else slope * a,
}
