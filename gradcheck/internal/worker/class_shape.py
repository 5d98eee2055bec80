"""Find the engine's class by its shape when it is not called `Value`.

Learners call it `Var`, `Node`, `Scalar` or `Tensor`, import it from a sibling
module, or backpropagate with a module-level `backward(root)` instead of a
method. A class is shaped like an engine when it has `+` and `*` of its own,
its `__init__` sets a data-like and a grad-like attribute, and it has a
backward method or its module has a backward function. Only the source of the
class is read: nothing of the engine runs here.

Runs inside the isolated worker, so only the standard library is imported.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import types
from typing import Any

DATA_NAMES = ("data", "value", "val", "_data", "_value")
GRAD_NAMES = ("grad", "gradient", "derivative", "_grad", "_gradient", "_derivative")
BACKWARD_NAMES = (
    "backward",
    "backwards",
    "backprop",
    "backpropagate",
    "back_propagate",
    "backword",
)


def backward_function(module: Any) -> tuple[str, Any] | None:
    """A module-level `backward(root)` (or its other spellings), if any."""
    namespace = getattr(module, "__dict__", {})
    for name in BACKWARD_NAMES:
        found = namespace.get(name)
        if inspect.isfunction(found) and _takes_one(found):
            return name, found
    return None


def _takes_one(function: Any) -> bool:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    return bool(parameters) and len(required) <= 1


def _own(cls: type, name: str) -> bool:
    """Defined by the class or a base of its own, not by `object` or a builtin."""
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == "builtins":
            continue
        if name in vars(klass):
            return True
    return False


def _init_attributes(cls: type) -> set[str]:
    """Attribute names that `__init__` (and its helpers in the class) stores."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        init = vars(klass).get("__init__")
        code = getattr(init, "__code__", None)
        if code is not None:
            names.update(code.co_names)
        slots = vars(klass).get("__slots__", ())
        names.update([slots] if isinstance(slots, str) else slots)
        names.update(vars(klass).get("__annotations__", {}))
        for attribute, value in vars(klass).items():
            if isinstance(value, property):
                names.add(attribute)
    return names


def is_engine_shaped(cls: type, module_backward: bool) -> bool:
    if not (_own(cls, "__add__") and _own(cls, "__mul__")):
        return False
    stored = _init_attributes(cls)
    if not any(n in stored or _own(cls, n) for n in DATA_NAMES):
        return False
    if not any(n in stored or _own(cls, n) for n in GRAD_NAMES):
        return False
    has_method = any(callable(getattr(cls, n, None)) for n in BACKWARD_NAMES)
    return has_method or module_backward


def shaped_classes(module: types.ModuleType) -> list[type]:
    """Classes of `module` shaped like an engine; those defined there first.

    A class imported from a sibling counts when no class defined in the
    module itself is shaped like one. A subclass of another candidate is
    left out when its base is one (a `Const(Var)` next to `Var`).
    """
    module_backward = backward_function(module) is not None
    seen: list[type] = []
    for obj in list(vars(module).values()):
        if isinstance(obj, type) and obj not in seen:
            try:
                shaped = is_engine_shaped(obj, module_backward)
            except Exception:
                shaped = False
            if shaped:
                seen.append(obj)
    here = [c for c in seen if getattr(c, "__module__", None) == module.__name__]
    chosen = here or seen
    return [c for c in chosen if not any(b in chosen for b in c.__mro__[1:])]


_VALUE_CLASS = re.compile(r"^class\s+Value\b", re.MULTILINE)


def value_in_submodules(module: types.ModuleType) -> str:
    """For a package (`micrograd`): its modules that define class Value, read
    as text without importing them (`micrograd.engine`)."""
    found = []
    for folder in getattr(module, "__path__", None) or ():
        with contextlib.suppress(OSError):
            for entry in sorted(os.listdir(folder)):
                if not entry.endswith(".py") or entry.startswith("_"):
                    continue
                path = os.path.join(folder, entry)
                with (
                    contextlib.suppress(OSError, UnicodeDecodeError),
                    open(path, encoding="utf-8") as file,
                ):
                    if _VALUE_CLASS.search(file.read(1_000_000)):
                        found.append(f"{module.__name__}.{entry[:-3]}")
    if not found:
        return ""
    return f"; {', '.join(found[:3])} defines one: check that module instead"
