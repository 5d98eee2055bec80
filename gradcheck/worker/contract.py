"""What an engine must do to be checked at all, and which ops it has.

Refusing to load is only for what makes checking impossible: a leaf cannot
be built, its data cannot be read, or backward() on it fails. Everything
else is a finding about an op. An op is *unsupported* only when the class
does not define it (no method, or Python's NotImplemented dispatch because
a reflected method is missing); a defined op that raises is *broken*, which
the checker reports as a crash error. Engine values are tracked by `id()`:
they are never hashed nor tested for truth.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import math
import re
import sys
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.worker.api import Api, ApiError, detect
from gradcheck.worker.apply import SPELLING, apply_op, method_name

WORKER_DIR = str(Path(__file__).resolve().parent)
_PROBE = {1: (0.7,), 2: (0.7, 1.3)}
_CONSTANT = {"pow": 2, "rpow": 2, "leaky_relu": 0.01}
_float = float
_isclose = math.isclose  # bound now: an engine may replace math functions


class ContractError(Exception):
    """The engine cannot be checked at all; the message is one line."""


@dataclass
class Capabilities:
    """What detection found, as plain data for the parent."""

    supported: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)
    broken: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    capabilities: dict[str, str] = field(default_factory=dict)
    # op -> the class's own methods it calls (`-` as self + (-other)).
    built_from: dict[str, list[str]] = field(default_factory=dict)


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
        and any(callable(getattr(obj, b, None)) for b in _BACKWARDS)
    ]
    if len(candidates) == 1:
        cls = candidates[0]
        return cls, [
            f"no class Value; checking {cls.__name__}, the only class shaped like one"
        ]
    if not candidates:
        raise ContractError("the engine has no class Value (name one with :Class)")
    names = ", ".join(sorted(c.__name__ for c in candidates))
    raise ContractError(
        f"no class Value and several candidates ({names}): name one with :Class"
    )


_BACKWARDS = (
    "backward",
    "backwards",
    "backprop",
    "backpropagate",
    "back_propagate",
    "backword",
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


def detect_ops(cls: type, api: Api) -> Capabilities:
    """Sort every op of the table into supported, unsupported and broken."""
    caps = Capabilities()
    x, y = api.make(cls, 0.7), api.make(cls, 1.3)
    values_only = not (_works(lambda: x + 3) and _works(lambda: x * 3))
    if _works(lambda: x + y) and _works(lambda: x * y) and values_only:
        api.wrap_constants = True
        caps.capabilities["mixed arithmetic"] = (
            "no mixed Value/number arithmetic: constants are checked as Values"
        )
    wrap = (lambda c: api.make(cls, c)) if api.wrap_constants else None
    for op, (arity, _, spelling) in SPELLING.items():
        verdict = _classify(cls, api, op, arity, spelling, wrap)
        if verdict is None or verdict[0] == "supported":
            caps.supported.append(op)
            if verdict is not None:
                caps.built_from[op] = verdict[1]
        elif verdict[0] == "unsupported":
            caps.unsupported[op] = verdict[1]
        else:
            caps.broken[op] = verdict[1]
    caps.not_checked = _not_checked(cls, api)
    return caps


def _works(thunk: Any) -> bool:
    try:
        result = thunk()
    except BaseException:
        return False
    return result is not NotImplemented


def _classify(
    cls: type, api: Api, op: str, arity: int, spelling: str, wrap: Any
) -> tuple[str, Any] | None:
    name = method_name(op, api.op_names) or spelling
    if not _defines(cls, name):
        near = _near_miss(cls, name)
        if near:
            return "broken", {
                "message": f"the class defines {near}, which Python never calls: "
                f"rename it {name}",
                "type": "NameError",
                "where": None,
            }
        return "unsupported", f"the class has no {_shown(name)}"
    args = [api.make(cls, a) for a in _PROBE[arity]]
    try:
        with _tracing(cls) as called:
            result = apply_op(op, args, _CONSTANT.get(op, 3), api.op_names, wrap)
    except BaseException as err:
        if op in _NUMBER_ONLY and isinstance(
            err, TypeError | AssertionError | NotImplementedError
        ):
            return "unsupported", _NUMBER_ONLY[op]
        return "broken", describe_error(err, cause=_cause(cls, op, name, err))
    if result is NotImplemented or not _is_value(result, api):
        return "broken", {
            "message": f"{_shown(name)} returned {type(result).__name__}, not a Value",
            "type": "TypeError",
            "where": None,
        }
    helpers = sorted({c for c in called if c not in (name, "__init__")})
    return ("supported", helpers) if helpers else None


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


def _is_value(result: Any, api: Api) -> bool:
    try:
        api.read_data(result)
    except BaseException:
        return False
    return True


def _not_checked(cls: type, api: Api) -> list[str]:
    """Public methods of the class that no op of the table covers."""
    covered = {api.data, api.grad, api.backward_name, "zero_grad", "parameters"}
    for op, (_, _, spelling) in SPELLING.items():
        covered.add(method_name(op, api.op_names) or spelling)
    names = []
    for attribute, value in vars(cls).items():
        if attribute.startswith("_") or attribute in covered:
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


def storage(cls: type, api: Api) -> dict[str, Any]:
    """How values are stored: the type of .data and its unit roundoff.

    `.data` may be a float, a numpy scalar (numpy.float32, numpy.float64) or
    a 0-d array: it is read with float() and named by its type (and dtype),
    without importing numpy. The unit roundoff is measured, not looked up:
    from how Value(0.1) holds 0.1, and from one product, for engines that
    keep a float64 leaf but round every op's result (struct round-trips).
    """
    leaf = api.make(cls, 0.1)
    raw = _raw_data(leaf, api)
    kind = type(raw).__name__
    dtype = getattr(raw, "dtype", None)
    if dtype is not None and str(dtype) != kind:
        kind = f"{kind}[{dtype}]"
    unit = _roundoff(_float(raw), 0.1)
    try:
        product = _float(_raw_data(api.make(cls, 0.1) * api.make(cls, 0.3), api))
    except BaseException:  # mul is judged later as an op; here only precision
        product = None
    if product is not None and unit < 2.0**-24:
        unit = max(unit, _roundoff(product, 0.1 * 0.3, leaf=False))
    return {"type": kind, "unit_roundoff": unit}


def _raw_data(value: Any, api: Api) -> Any:
    raw = getattr(value, api.data)
    return raw() if api.data_is_method else raw


# 0.1 in each format: float32, float16 (bfloat16 comes out by measurement).
_TENTH = ((0.10000000149011612, 2.0**-24), (0.0999755859375, 2.0**-11))


def _roundoff(value: float, wanted: float, leaf: bool = True) -> float:
    """The unit roundoff that explains holding the float64 `wanted` as `value`."""
    if value == wanted:
        return 2.0**-53
    if leaf:
        for held, unit in _TENTH:
            if abs(value - held) < 1e-12:
                return unit
    relative = abs(value - wanted) / abs(wanted)
    if not relative < 1e-3:  # not rounding: a wrong value, judged as one later
        return 2.0**-53
    for unit in (2.0**-53, 2.0**-24, 2.0**-11, 2.0**-8):
        if relative <= 1.01 * unit:
            return unit
    return relative


def describe_error(err: BaseException, cause: str | None = None) -> dict[str, Any]:
    """An engine exception as plain data: type, message, where it was raised."""
    where = None
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not frame.filename.startswith(WORKER_DIR):
            where = {
                "file": frame.filename,
                "line": frame.lineno,
                "function": frame.name,
            }
            break
    out: dict[str, Any] = {
        "type": type(err).__name__,
        "message": one_line(err),
        "where": where,
        "base": not isinstance(err, Exception),
    }
    if cause:
        out["cause"] = cause
    return out


def one_line(err: BaseException) -> str:
    name = type(err).__name__
    try:
        text = str(err)
    except BaseException:  # an engine's __str__ may raise anything
        text = ""
    lines = f"{name}: {text}".splitlines() if text else []
    return lines[0][:500] if lines else name
