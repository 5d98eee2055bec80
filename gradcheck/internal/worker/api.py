"""How an engine spells the contract: constructor, data, gradient, backward.

Engines vary: `.data` or `.value`, attributes or methods; `.grad`,
`.gradient` or `.derivative` (minitorch); `backward()`, `backwards()`,
`backprop()`, or a module-level `backward(root)`... `detect` finds the
spelling on a live leaf, and `--api` overrides any part of it.

Some engines track gradients only for leaves built with a flag
(`Var(x, req_grad=True)`, `dag=True`): without it, backward asserts or
leaves every gradient at 0. `detect` tries the boolean keywords of the
constructor on `x * y` and uses the one that makes backward work. A
gradient that is a read-only property over a plain attribute
(`derivative` over `_derivative`) is reset through that attribute.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.worker.class_shape import BACKWARD_NAMES, backward_function

DATA_NAMES = ("data", "value")
GRAD_NAMES = ("grad", "gradient", "derivative")
API_KEYS = ("data", "grad", "backward")
_float = float  # bound now: an engine may replace builtins
_isclose = math.isclose
# Constructor keywords that may turn gradient tracking on, when their default
# is False (or None, for the names that can mean nothing else).
_FLAG = re.compile(
    r"^(requires?_?grad\w*|req_?grad|needs?_?grad|track\w*|dag|grad|autograd"
    r"|trainable|is_?param\w*|param|leaf|is_?leaf|differentiable|tracked)$"
)
_STRONG_FLAGS = frozenset({"requires_grad", "req_grad", "track", "track_grad", "dag"})


class ApiError(Exception):
    """The engine's leaves cannot be built, read or backpropagated."""


@dataclass
class Api:
    """The detected or declared spelling of one engine's contract."""

    data: str = "data"
    data_is_method: bool = False
    grad: str = "grad"
    grad_is_method: bool = False
    # Where a `grad()` method keeps its number, so gradients can be reset.
    grad_store: str | None = None
    backward_name: str = "backward"
    constructor_kwargs: dict[str, Any] = field(default_factory=dict)
    # `+` and `*` take only Values: constants are wrapped as leaves.
    wrap_constants: bool = False
    # A module-level `backward(root)` used instead of a method.
    backward_function: Callable[[Any], Any] | None = None
    # Why the constructor keywords were chosen (for the report).
    constructor_why: str = ""
    # The gradient is a read-only property: it is written through grad_store.
    grad_read_only: bool = False
    # Engine method names that differ from the op table's (`--op exp=expo`).
    op_names: dict[str, str] = field(default_factory=dict)

    def make(self, cls: type, x: float) -> Any:
        return cls(x, **self.constructor_kwargs)

    def read_data(self, v: Any) -> float:
        raw = getattr(v, self.data)
        if self.data_is_method:
            raw = raw()
        return _float(raw)

    def raw_grad(self, v: Any) -> Any:
        raw = getattr(v, self.grad)
        return raw() if self.grad_is_method else raw

    def read_grad(self, v: Any) -> float | None:
        """The gradient as a float; None when the engine keeps none here."""
        return self._grad_number(self.raw_grad(v))

    def grad_reader(self) -> Callable[[Any], float | None]:
        """`read_grad` for one program's many nodes, a plain float taken as is."""
        if self.grad_is_method:
            return self.read_grad
        name, number = self.grad, self._grad_number

        def read(v: Any) -> float | None:
            raw = getattr(v, name)
            return raw if type(raw) is _float else number(raw)

        return read

    def _grad_number(self, raw: Any) -> float | None:
        if raw is None:
            return None
        inner = getattr(raw, self.data, None) if not _is_number(raw) else None
        if inner is not None and not callable(inner):
            raw = inner  # a gradient kept as a Value of the engine
        return _float(raw)

    def set_grad(self, v: Any, value: Any) -> None:
        if self.grad_store is not None:
            setattr(v, self.grad_store, value)
        elif self.grad_read_only:
            _cannot_reset(
                f"cannot reset gradients: .{self.grad} is a read-only property "
                "and no attribute of a leaf holds it (use --api grad=ATTRIBUTE)"
            )
        elif not self.grad_is_method:
            setattr(v, self.grad, value)
        else:
            _cannot_reset(
                f"cannot reset gradients read through .{self.grad}() "
                "(no attribute holds them; use --api grad=ATTRIBUTE)"
            )

    def fresh_zero(self, cls: type) -> Any:
        """A new zero of the engine's own kind, never one shared object."""
        return copy.deepcopy(self.raw_grad(self.make(cls, 1.0)))

    def backward(self, v: Any) -> None:
        if self.backward_function is not None:
            self.backward_function(v)
        else:
            getattr(v, self.backward_name)()

    def spelling(self) -> dict[str, Any]:
        """The contract as plain data, for code in the engine's own API."""
        return {
            "data": self.data,
            "data_call": self.data_is_method,
            "grad": self.grad,
            "grad_call": self.grad_is_method,
            "backward": self.backward_name,
            "backward_function": self.backward_function is not None,
            "constructor": {k: repr(v) for k, v in self.constructor_kwargs.items()},
        }

    def describe(self) -> dict[str, str]:
        """What was mapped, for the report."""
        out = {
            "data": f".{self.data}" + ("()" if self.data_is_method else ""),
            "grad": f".{self.grad}" + ("()" if self.grad_is_method else ""),
            "backward": f".{self.backward_name}()",
        }
        if self.backward_function is not None:
            out["backward"] = f"{self.backward_name}(root) (a module function)"
        if self.constructor_kwargs:
            out["constructor"] = ", ".join(
                f"{k}={v!r}" for k, v in self.constructor_kwargs.items()
            )
        if self.constructor_why:
            out["constructor why"] = self.constructor_why
        if self.grad_read_only and self.grad_store is not None:
            out["grad"] += (
                f" (a read-only property; gradients are reset through "
                f".{self.grad_store})"
            )
        elif self.grad_read_only:
            out["grad"] += " (a read-only property; gradients cannot be reset)"
        elif self.grad_store is not None:
            out["grad"] += f" (kept in .{self.grad_store})"
        elif self.grad_is_method:
            out["grad"] += " (no attribute holds it; gradients cannot be reset)"
        if self.wrap_constants:
            out["constants"] = "wrapped as Values (no mixed Value/number arithmetic)"
        for op, name in self.op_names.items():
            out[f"op {op}"] = name
        return out


class CannotReset(ApiError):
    """The checker cannot reset this engine's gradients: its limit, not a bug.

    The worker answers a recipe that needs a reset with "skip", and the
    report's api says so already; it is never "the engine raised".
    """


def _cannot_reset(message: str) -> None:
    raise CannotReset(message)


def _is_number(x: Any) -> bool:
    # numpy scalars and 0-d arrays have a `.data` of their own (a memoryview),
    # which is not a gradient kept as a Value; numpy is named, not imported.
    return isinstance(x, int | float) or type(x).__module__ == "numpy"


def _literal(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return _float(text)
    except ValueError:
        return text


def detect(cls: type, declared: dict[str, str] | None = None) -> Api:
    """Find the spelling on a live leaf; `declared` (from --api) wins."""
    declared = dict(declared or {})
    api = Api()
    for key in list(declared):
        if key not in API_KEYS:
            api.constructor_kwargs[key] = _literal(declared.pop(key))
    flags = [] if api.constructor_kwargs else _flag_keywords(cls)
    if "requires_grad" in flags:  # the usual spelling: the first guess
        api.constructor_kwargs["requires_grad"] = True
    try:
        leaf = api.make(cls, 1.5)
    except BaseException as err:
        raise ApiError(f"Value(1.5) raised {_one_line(err)}") from None
    api.data, api.data_is_method = _find(leaf, declared.get("data"), DATA_NAMES)
    if api.data == "":
        raise ApiError("a leaf has no .data or .value (use --api data=NAME)")
    api.grad, api.grad_is_method = _find(leaf, declared.get("grad"), GRAD_NAMES)
    if api.grad == "":
        raise ApiError(
            "a leaf has no .grad, .gradient or .derivative (use --api grad=NAME)"
        )
    if api.grad_is_method:
        api.grad_store = _store_of(leaf, api.grad)
    elif _read_only(cls, api.grad):
        api.grad_read_only = True
        api.grad_store = _backing(leaf, api.grad, api.data)
    _find_backward(cls, leaf, api, declared.get("backward"))
    if flags:
        _choose_flag(cls, api, flags)
    return api


def _find_backward(cls: type, leaf: Any, api: Api, declared: str | None) -> None:
    names = [declared] if declared else list(BACKWARD_NAMES)
    for name in names:
        if callable(getattr(leaf, name, None)):
            api.backward_name = name
            return
    module = sys.modules.get(getattr(cls, "__module__", "") or "")
    found = backward_function(module) if module is not None else None
    if found is not None and (declared is None or found[0] == declared):
        api.backward_name, api.backward_function = found
        return
    raise ApiError(
        "a leaf has no backward() method and its module no backward(root) "
        f"function (tried {', '.join(names)}; use --api backward=NAME)"
    )


def _flag_keywords(cls: type) -> list[str]:
    """Constructor keywords that may turn gradient tracking on, best first."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    flags = []
    for p in parameters:
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        name = p.name
        strong = p.default is None and name in _STRONG_FLAGS
        if strong or (p.default is False and _FLAG.match(name.lower())):
            flags.append(name)
    flags.sort(key=lambda n: (n != "requires_grad", n not in _STRONG_FLAGS))
    return flags


def _tracking(cls: type, api: Api, kwargs: dict[str, Any]) -> str:
    """'' when leaves built with `kwargs` get gradients; else what happened."""
    outcome = "left the gradients at 0"
    for op in ("mul", "add"):
        try:
            x, y = cls(2.0, **kwargs), cls(3.0, **kwargs)
            api.backward(x * y if op == "mul" else x + y)
            grad = api.read_grad(x)
        except BaseException as err:
            outcome = f"raised {_one_line(err)}"
            continue
        if grad is not None and not _isclose(grad, 0.0, abs_tol=1e-12):
            return ""
    return outcome


def _choose_flag(cls: type, api: Api, flags: list[str]) -> None:
    """Keep the constructor as it is if backward works; else the flag that helps."""
    without = _tracking(cls, api, api.constructor_kwargs)
    if not without:
        return
    for name in flags:
        kwargs = {name: True}
        if kwargs != api.constructor_kwargs and not _tracking(cls, api, kwargs):
            api.constructor_kwargs = kwargs
            api.constructor_why = (
                f"leaves are built with {name}=True: without it, backward() {without}"
            )
            return


def _read_only(cls: type, name: str) -> bool:
    """A property with no setter (minitorch's `derivative`)."""
    try:
        found = inspect.getattr_static(cls, name)
    except AttributeError:
        return False
    return isinstance(found, property) and found.fset is None


def _backing(leaf: Any, name: str, data: str) -> str | None:
    """The plain attribute a read-only gradient property returns."""
    for candidate in (f"_{name}", f"{name}_", "_grad", f"__{name}"):
        if candidate != name and candidate in _fields(leaf):
            return candidate
    try:
        held = getattr(leaf, name)
    except BaseException:
        return None
    same = [
        k
        for k, v in _fields(leaf).items()
        if v is held and k not in (name, data) and not callable(v)
    ]
    return same[0] if len(same) == 1 else None


def _fields(leaf: Any) -> dict[str, Any]:
    try:
        return dict(vars(leaf))
    except TypeError:  # __slots__
        names = [n for k in type(leaf).__mro__ for n in getattr(k, "__slots__", ())]
        return {n: getattr(leaf, n) for n in names if hasattr(leaf, n)}


def _find(leaf: Any, declared: str | None, names: tuple[str, ...]) -> tuple[str, bool]:
    for name in [declared] if declared else names:
        try:
            found = getattr(leaf, name)
        except BaseException:
            continue
        return name, callable(found) and not _is_number(found)
    return "", False


def _store_of(leaf: Any, name: str) -> str | None:
    """The attribute a `grad()` method returns: `_grad`, `_name`, or the same object."""
    try:
        held = getattr(leaf, name)()
        fields = dict(vars(leaf))
    except BaseException:
        return None
    for candidate in (f"_{name}", "_grad", f"{name}_", "_g"):
        if candidate in fields:
            return candidate
    same = [k for k, v in fields.items() if v is held and not callable(v)]
    return same[0] if len(same) == 1 else None


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()
    return text[0] if text else type(err).__name__
