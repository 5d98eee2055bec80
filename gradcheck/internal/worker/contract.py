"""What an engine must do to be checked at all, and which ops it has.

Refusing to load is only for what makes checking impossible: a leaf cannot
be built, its data cannot be read, or backward() on it fails. Everything
else is a finding about an op. An op is *unsupported* when the class does
not define it (no method, or Python's NotImplemented dispatch because a
reflected method is missing) or refuses it on purpose (a `raise` with its
own message in the op's method, or NotImplementedError, before computing
anything); a defined op that raises otherwise is *broken*, which the checker
reports as a crash error. An op whose result holds a Value in `.data` is
supported: the number inside is read, and the nesting reported as a wrong
value of that op. Engine values are tracked by `id()`: they are never hashed
nor tested for truth.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import dis
import inspect
import math
import re
import sys
import textwrap
import types
from collections.abc import Iterator, Sequence
from typing import Any

from gradcheck.internal.worker.api import Api, ApiError, detect
from gradcheck.internal.worker.class_shape import (
    BACKWARD_NAMES,
    shaped_classes,
    value_in_submodules,
)
from gradcheck.internal.worker.faults import describe_error, innermost, one_line
from gradcheck.internal.worker.op_calls import (
    SPELLING,
    apply_op,
    method_name,
    slope_default,
)
from gradcheck.internal.worker.reading import is_value, nesting
from gradcheck.internal.worker.source_exec import original_line

_PROBE = {1: (0.7,), 2: (0.7, 1.3)}
_CONSTANT = {"pow": 2, "rpow": 2, "leaky_relu": 0.01}
_float = float
_isclose = math.isclose  # bound now: an engine may replace math functions


class ContractError(Exception):
    """The engine cannot be checked at all; the message is one line."""


def find_class(module: types.ModuleType, name: str | None) -> tuple[type, list[str]]:
    """The Value class: by name, or the only class shaped like one."""
    if name:
        found = getattr(module, name, None)
        if not isinstance(found, type):
            raise ContractError(f"the engine has no class {name!r}")
        return found, []
    found = getattr(module, "Value", None)
    if isinstance(found, type):
        return found, []
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and getattr(obj, "__module__", None) == module.__name__
        and hasattr(obj, "__add__")
        and hasattr(obj, "__mul__")
        and any(callable(getattr(obj, b, None)) for b in BACKWARD_NAMES)
    ]
    # A class imported from a sibling, or one a module-level backward(root)
    # backpropagates: found by what its source stores and defines.
    candidates = candidates or shaped_classes(module)
    # A subclass beside its base (`Const(Var)`) is not a second engine.
    candidates = [
        c for c in candidates if not any(b in candidates for b in c.__mro__[1:])
    ]
    if len(candidates) == 1:
        cls = candidates[0]
        return cls, [
            f"no class Value; checking {cls.__name__}, the only class shaped like one "
            "(arithmetic, a data and a grad attribute, and backward)"
        ]
    if not candidates:
        raise ContractError(
            "the engine has no class Value (name one with :Class)"
            + value_in_submodules(module)
        )
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise ContractError(
        f"no class Value and several candidates ({names}): name one with :Class"
    )


def check_contract(cls: type, declared: dict[str, str] | None) -> Api:
    """Leaf construction, data, gradient and backward() on a leaf, or refuse."""
    try:
        api = detect(cls, declared)
    except ApiError as err:
        raise ContractError(str(err)) from None
    try:
        leaf = api.make(cls, 1.5)
        data = api.read_data(leaf)
    except BaseException as err:
        raise ContractError(
            f"cannot read the data of Value(1.5): {one_line(err)}"
        ) from None
    if not _isclose(data, 1.5, rel_tol=1e-6):
        raise ContractError(f"Value(1.5) holds {data!r}, not 1.5")
    try:
        api.backward(leaf)
        api.read_grad(leaf)
    except BaseException as err:
        raise ContractError(
            f"backward() on a leaf raised {one_line(err)} "
            f"({api.backward_name} on Value(1.5))"
        ) from None
    return api


def detect_mixed(cls: type, api: Api) -> dict[str, str]:
    """Whether constants must be wrapped as Values; sets `api.wrap_constants`."""
    x, y = api.make(cls, 0.7), api.make(cls, 1.3)
    values_only = not (_works(lambda: x + 3) and _works(lambda: x * 3))
    if _works(lambda: x + y) and _works(lambda: x * y) and values_only:
        api.wrap_constants = True
        return {
            "mixed arithmetic": (
                "no mixed Value/number arithmetic: constants are checked as Values"
            )
        }
    return {}


def detect_op(
    cls: type, api: Api, op: str, constants: Sequence[Any] = ()
) -> dict[str, Any]:
    """One op's verdict as plain data.

    {"verdict": "supported", "built_from": [...], "nested": text?,
    "refused_constants": [[constant, reason], ...]?},
    {"verdict": "unsupported", "detail": reason} or
    {"verdict": "broken", "detail": error}. The worker answers each op as
    its own item (`serve.handle_detect`), so that an op that hangs or kills
    the worker is a finding about that op. `constants`: the constants the
    checker will use with the op (pow's exponents); those the op refuses on
    purpose are listed, and the checker leaves them out.
    """
    arity, _, spelling = SPELLING[op]
    wrap = (lambda c: api.make(cls, c)) if api.wrap_constants else None
    found = _classify(cls, api, op, arity, spelling, wrap)
    if found["verdict"] == "supported" and constants:
        name = method_name(op, api.op_names) or spelling
        refused = _refused_constants(cls, api, op, name, constants, wrap)
        if refused:
            found["refused_constants"] = refused
    return found


def _refused_constants(
    cls: type, api: Api, op: str, name: str, constants: Sequence[Any], wrap: Any
) -> list[list[Any]]:
    """[constant, reason] for each constant the op refuses on purpose.

    `x ** 0.5` on an engine whose `__pow__` raises ValueError("Only integer
    exponents are supported"): the same test as for a refused op
    (`_refusal`: a `raise` with its own message in the op's method, before
    anything is computed). Any other exception is left for the probes to
    report as the crash it is.
    """
    refused: list[list[Any]] = []
    for constant in constants:
        if constant == _CONSTANT.get(op, 3):
            continue  # the op already worked with it
        args = [api.make(cls, a) for a in _PROBE[SPELLING[op][0]]]
        called: set[str] = set()
        try:
            with _tracing(cls) as called:
                apply_op(op, args, constant, api.op_names, wrap)
        except BaseException as err:
            reason = _refusal(cls, name, err, called)
            if reason is not None:
                refused.append([constant, reason])
    return refused


def _works(thunk: Any) -> bool:
    try:
        result = thunk()
    except BaseException:
        return False
    return result is not NotImplemented


def _classify(
    cls: type, api: Api, op: str, arity: int, spelling: str, wrap: Any
) -> dict[str, Any]:
    name = method_name(op, api.op_names) or spelling
    if not _defines(cls, name):
        near = _near_miss(cls, name)
        if near:
            return _broken(
                f"the class defines {near}, which Python never calls: rename it {name}",
                "NameError",
            )
        return {"verdict": "unsupported", "detail": f"the class has no {_shown(name)}"}
    args = [api.make(cls, a) for a in _PROBE[arity]]
    called: set[str] = set()
    try:
        with _tracing(cls) as called:
            result = apply_op(op, args, _CONSTANT.get(op, 3), api.op_names, wrap)
    except BaseException as err:
        refusal = _refusal(cls, name, err, called)
        if refusal is not None:
            return {"verdict": "unsupported", "detail": refusal}
        if op in _NUMBER_ONLY and isinstance(
            err, TypeError | AssertionError | NotImplementedError
        ):
            return {"verdict": "unsupported", "detail": _NUMBER_ONLY[op]}
        return {
            "verdict": "broken",
            "detail": describe_error(err, cause=_cause(cls, op, name, err)),
        }
    if result is NotImplemented or not is_value(result, api):
        return _broken(
            f"{_shown(name)} returned {type(result).__name__}, not a Value",
            "TypeError",
        )
    helpers = sorted({c for c in called if c not in (name, "__init__")})
    out: dict[str, Any] = {"verdict": "supported", "built_from": helpers}
    where = defined_at(cls, name)
    if where is not None:
        out["defined_at"] = where
    if op == "leaky_relu":  # its own slope, sent back when it is measured
        own = slope_default(getattr(args[0], name))
        if own is not None:
            out["slope_default"] = own
    depth = nesting(result, api)
    if depth:
        out["nested"] = (
            f".data of {_called_as(op, name)} is itself a Value"
            + (f" ({depth + 1} levels deep)" if depth > 1 else "")
            + ": the number is read from inside it"
        )
    return out


def _broken(message: str, type_name: str) -> dict[str, Any]:
    return {
        "verdict": "broken",
        "detail": {"message": message, "type": type_name, "where": None},
    }


_WRITTEN = {
    "add": "x + y",
    "sub": "x - y",
    "mul": "x * y",
    "div": "x / y",
    "pow_var": "x ** y",
    "neg": "-x",
    "pow": "x ** 2",
    "rpow": "2 ** x",
    "add_const": "x + 3",
    "sub_const": "x - 3",
    "mul_const": "x * 3",
    "div_const": "x / 3",
    "radd": "3 + x",
    "rsub": "3 - x",
    "rmul": "3 * x",
    "rdiv": "3 / x",
    "abs": "abs(x)",
}


def _called_as(op: str, name: str) -> str:
    """How the op reads in a message: tanh(x), x * y, 3 - x."""
    return _WRITTEN.get(op, f"{name}(x)")


def _refusal(cls: type, name: str, err: BaseException, called: set[str]) -> str | None:
    """The engine's own message when the op refused on purpose, else None.

    On purpose: the innermost frame is the op's own method (any method of the
    class for NotImplementedError), on a `raise` statement, and no other
    method of the class ran first (nothing was computed). A TypeError from
    `float + Value` or an AttributeError from a typo is raised by Python, not
    by a `raise` statement, and stays a crash.
    """
    if not isinstance(err, Exception):
        return None
    tb = innermost(err)
    if tb is None:
        return None
    code = tb.tb_frame.f_code
    own = getattr(getattr(cls, name, None), "__code__", None)
    if isinstance(err, NotImplementedError):
        if code is not own and code not in _codes(cls):
            return None
    elif code is not own or not _message(err):
        return None
    # Nothing computed first: no other method ran (building a Value counts,
    # except before a NotImplementedError, which wrapping a constant may precede).
    allowed = {name, code.co_name}
    if isinstance(err, NotImplementedError):
        allowed.add("__init__")
    if called - allowed:
        return None
    if not is_raise(code, tb.tb_lasti, tb.tb_lineno):
        return None
    text = _message(err) or "not implemented"
    return f"{text} ({type(err).__name__} raised on purpose by {_shown(name)})"


def _codes(cls: type) -> set[Any]:
    return {
        getattr(value, "__code__", None)
        for klass in cls.__mro__
        for value in vars(klass).values()
    } - {None}


def _message(err: BaseException) -> str:
    try:
        text = str(err)
    except BaseException:
        return ""
    return text.splitlines()[0][:300] if text.strip() else ""


def is_raise(code: Any, offset: int, line: int) -> bool:
    """Whether the instruction that raised is a `raise` statement.

    Read from the bytecode (sources given as text or notebook cells have no
    file to read); from the source when the offset matches no instruction.
    """
    try:
        for instruction in dis.get_instructions(code):
            if instruction.offset == offset:
                return instruction.opname == "RAISE_VARARGS"
    except (TypeError, ValueError):
        pass
    try:
        lines, first = inspect.getsourcelines(code)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return False
    first = max(first, 1)
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise):
            start = node.lineno + first - 1
            end = (node.end_lineno or node.lineno) + first - 1
            if start <= line <= end:
                return True
    return False


# Ops that share a dunder with a number form: refusing a Value there is a
# missing capability (the lecture's `__pow__` asserts a number exponent).
_NUMBER_ONLY = {
    "pow_var": "__pow__ takes only number exponents (no x ** y with a Value y)",
}


@contextlib.contextmanager
def _tracing(cls: type) -> Iterator[set[str]]:
    """The names of the class's own methods called inside the block.

    Learners build `-` as self + (-other) and `/` through `**`: knowing what
    an op calls lets the report say that its failure is another op's bug.
    """
    codes: dict[Any, str] = {}
    for klass in cls.__mro__:
        for attribute, value in vars(klass).items():
            code = getattr(value, "__code__", None)
            if code is not None:
                codes.setdefault(code, attribute)
    called: set[str] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            found = codes.get(frame.f_code)
            if found is not None:
                called.add(found)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def defined_at(cls: type, name: str) -> dict[str, Any] | None:
    """File and first line of the method behind an op, for CI annotations."""
    try:
        function = inspect.unwrap(getattr(cls, name))
        code = getattr(function, "__code__", None) or getattr(
            getattr(function, "__func__", None), "__code__", None
        )
        if not isinstance(code, types.CodeType):
            return None
        file = str(code.co_filename)
        return {"file": file, "line": original_line(file, code.co_firstlineno)}
    except BaseException:  # an engine's descriptor may raise anything
        return None


def _defines(cls: type, name: str) -> bool:
    return callable(getattr(cls, name, None))


def _shown(name: str) -> str:
    return name if name.startswith("__") else f"{name}()"


def _near_miss(cls: type, name: str) -> str | None:
    """A misspelt dunder (`_rtruediv__`, `__rtruediv_`) the class does define.

    Only names that are not themselves proper dunders count: `__sub__` is
    not a misspelling of `__rsub__`.
    """
    if not name.startswith("__"):
        return None
    core = name.strip("_")
    names = [
        a
        for a in dir(cls)
        if a != name
        and a.startswith("_")
        and not _DUNDER.fullmatch(a)
        and callable(getattr(cls, a, None))
    ]
    for attribute in names:
        if attribute.strip("_") == core:
            return attribute
    close = difflib.get_close_matches(name, names, 1, 0.85)
    return close[0] if close else None


_DUNDER = re.compile(r"__[a-z][a-z0-9_]*[a-z0-9]__")


def _cause(cls: type, op: str, name: str, err: BaseException) -> str | None:
    text = str(err)
    if "unary -" in text and not _defines(cls, "__neg__"):
        return f"{name} computes self + (-other), but the class has no __neg__"
    if isinstance(err, TypeError) and name.startswith("__r") and _defines(cls, name):
        try:
            direct = getattr(cls, name)(cls(0.7), 3)
        except BaseException:
            direct = None
        if direct is NotImplemented:
            return (
                f"{name} returns NotImplemented for the int 3 (it builds the "
                "result through an op that refuses ints)"
            )
    return None


def unchecked_methods(cls: type, api: Api) -> list[str]:
    """Public methods of the class that no op of the table covers."""
    covered = {api.data, api.grad, api.backward_name, "zero_grad", "parameters"}
    for op, (_, _, spelling) in SPELLING.items():
        covered.add(method_name(op, api.op_names) or spelling)
    own = vars(cls)
    # Another name for a covered method (`abs = __abs__`) is covered too.
    aliases = {id(own[name]) for name in covered if name in own}
    names = []
    for attribute, value in own.items():
        if attribute.startswith("_") or attribute in covered or id(value) in aliases:
            continue
        if inspect.isfunction(value) and _arity(value) == 1:
            names.append(attribute)
    return sorted(names)


def _arity(function: Any) -> int:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return -1
    return sum(1 for p in parameters if p.default is inspect.Parameter.empty)
