"""Tensor engines in the worker: the engine's class, its package, its arrays.

The class is the one named (also when the package exports it under another
name or keeps it in a submodule), `Tensor`, or the only class with `__add__`
and `backward` (or `backprop`). The package's functions are the ops an
engine keeps outside its class (`pkg.math.sum`, `pkg.nn.functional.relu`).
Arrays are read whatever they are: an ndarray, lazy data (`realize()`), a
nested list, or an array type of the engine's own. Standard library only;
numpy is handed in by the caller.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

BACKWARD_NAMES = ("backward", "backprop")


class TensorApiError(Exception):
    """The engine's tensors cannot be built, read or backpropagated."""


def to_numpy(np: Any, raw: Any, depth: int = 0) -> Any:
    """An engine's data (an ndarray, an array-like, lazy data) as float64 numpy."""
    if isinstance(raw, np.ndarray):
        return raw
    if depth < 4:
        for name in ("realize", "numpy", "tolist"):
            method = getattr(raw, name, None)
            if callable(method) and not isinstance(raw, list | tuple):
                try:
                    return to_numpy(np, method(), depth + 1)
                except Exception:
                    continue
        for name in ("data", "value", "_data"):
            inner = getattr(raw, name, None)
            if inner is not None and inner is not raw and not callable(inner):
                return to_numpy(np, inner, depth + 1)
    out = np.asarray(raw)
    if out.dtype == object and out.ndim == 0 and hasattr(raw, "__len__"):
        # an array type of the engine's own: read it row by row
        out = np.asarray([to_numpy(np, row, depth + 1) for row in raw])
    elif out.dtype == object and out.size:
        out = np.asarray(
            [to_numpy(np, item, depth + 1) for item in out.reshape(-1)]
        ).reshape(out.shape)
    return out


def bare(shape: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` without its leading axes of length 1."""
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


# Where packages usually keep the ops their class lacks.
USUAL_MODULES = ("functional", "ops", "math", "activation", "activations",
                 "nn", "nn.functional", "function", "functions")  # fmt: skip


def _import_usual(top: str) -> None:
    """Import the package's usual op modules that its __init__ did not."""
    package = sys.modules.get(top)
    if package is None or not hasattr(package, "__path__"):
        return
    for sub in USUAL_MODULES:
        name = f"{top}.{sub}"
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # absent, or broken: the engine's class still works
            sys.modules.pop(name, None)


def _package_modules(module: Any) -> list[Any]:
    """The other loaded modules of the engine's package, shallowest first."""
    name = getattr(module, "__name__", "") or ""
    top = name.split(".")[0]
    if not top or top == "__main__":
        return []
    _import_usual(top)
    found = [
        sys.modules[other]
        for other in list(sys.modules)
        if (other == top or other.startswith(top + "."))
        and other != name
        and sys.modules.get(other) is not None
    ]
    return sorted(found, key=lambda m: (m.__name__.count("."), m.__name__))


def package_namespace(
    module: Any,
) -> tuple[dict[str, tuple[Any, str]], tuple[str, ...]]:
    """Public functions of the engine's package: name -> (function, module name).

    The engine's own module first, then its package's other loaded modules,
    shallowest first. Only functions defined in the package count (numpy's
    `sum` imported into it is not the engine's).
    """
    top = (getattr(module, "__name__", "") or "").split(".")[0]
    modules = [module, *_package_modules(module)]
    space: dict[str, tuple[Any, str]] = {}
    files: list[str] = []
    for mod in modules:
        file = getattr(mod, "__file__", None)
        if file:
            files.append(os.path.dirname(os.path.abspath(file)))
        for key, value in list(vars(mod).items()):
            if key.startswith("_") or key in space or isinstance(value, type):
                continue
            if not callable(value):
                continue
            owner = getattr(value, "__module__", None) or ""
            if owner.split(".")[0] != top and mod is not module:
                continue
            if owner.split(".")[0] in ("numpy", "builtins", "math"):
                continue
            space[key] = (value, mod.__name__)
    return space, tuple(sorted(set(files)))


def find_tensor_class(module: types.ModuleType, name: str | None) -> type:
    if name:
        found = getattr(module, name, None)
        if isinstance(found, type):
            return found
        # exported under another name (`array = Array`), or in a submodule
        for mod in [module, *_package_modules(module)]:
            for value in list(vars(mod).values()):
                if isinstance(value, type) and value.__name__ == name:
                    return value
        raise TensorApiError(f"the engine has no class {name!r}")
    found = getattr(module, "Tensor", None)
    if isinstance(found, type):
        return found
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and hasattr(obj, "__add__")
        and any(callable(getattr(obj, b, None)) for b in BACKWARD_NAMES)
    ]
    if len(candidates) == 1:
        return candidates[0]
    raise TensorApiError("the engine has no class Tensor (name one with :Class)")
