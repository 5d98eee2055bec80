"""How an engine spells the contract: constructor, data, gradient, backward.

Engines vary: `.data` or `.value`, attributes or methods; `.grad`,
`.gradient` or `.derivative` (minitorch); `backward()`, `backwards()`,
`backprop()`... `detect` finds the spelling on a live leaf, and `--api`
overrides any part of it.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

DATA_NAMES = ("data", "value")
GRAD_NAMES = ("grad", "gradient", "derivative")
BACKWARD_NAMES = (
    "backward",
    "backwards",
    "backprop",
    "backpropagate",
    "back_propagate",
    "backword",
)
API_KEYS = ("data", "grad", "backward")
_float = float  # bound now: an engine may replace builtins


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
        raw = self.raw_grad(v)
        if raw is None:
            return None
        inner = getattr(raw, self.data, None) if not _is_number(raw) else None
        if inner is not None and not callable(inner):
            raw = inner  # a gradient kept as a Value of the engine
        return _float(raw)

    def set_grad(self, v: Any, value: Any) -> None:
        if not self.grad_is_method:
            setattr(v, self.grad, value)
        elif self.grad_store is not None:
            setattr(v, self.grad_store, value)
        else:
            raise ApiError(
                f"cannot reset gradients read through .{self.grad}() "
                "(no attribute holds them; use --api grad=ATTRIBUTE)"
            )

    def fresh_zero(self, cls: type) -> Any:
        """A new zero of the engine's own kind, never one shared object."""
        return copy.deepcopy(self.raw_grad(self.make(cls, 1.0)))

    def backward(self, v: Any) -> None:
        getattr(v, self.backward_name)()

    def describe(self) -> dict[str, str]:
        """What was mapped, for the report."""
        out = {
            "data": f".{self.data}" + ("()" if self.data_is_method else ""),
            "grad": f".{self.grad}" + ("()" if self.grad_is_method else ""),
            "backward": f".{self.backward_name}()",
        }
        if self.constructor_kwargs:
            out["constructor"] = ", ".join(
                f"{k}={v!r}" for k, v in self.constructor_kwargs.items()
            )
        if self.grad_store is not None:
            out["grad"] += f" (kept in .{self.grad_store})"
        if self.wrap_constants:
            out["constants"] = "wrapped as Values (no mixed Value/number arithmetic)"
        for op, name in self.op_names.items():
            out[f"op {op}"] = name
        return out


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
    if not api.constructor_kwargs and _takes(cls, "requires_grad"):
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
    names = [declared["backward"]] if "backward" in declared else BACKWARD_NAMES
    for name in names:
        if callable(getattr(leaf, name, None)):
            api.backward_name = name
            break
    else:
        raise ApiError(
            "a leaf has no backward() method "
            f"(tried {', '.join(names)}; use --api backward=NAME)"
        )
    return api


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


def _takes(cls: type, keyword: str) -> bool:
    try:
        return keyword in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()
    return text[0] if text else type(err).__name__
