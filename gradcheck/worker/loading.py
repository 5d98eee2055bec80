"""Import a target inside the worker: a file, a module, a notebook, a source.

A file's folder, and the root of the package it sits in, go first on the
import path, so that sibling and package imports work as they do for the
user. Dotted targets resolve from the current directory first, as
`python -m` does. With no target, the built-in micrograd is loaded from its
own file location: it never stands in for a user's `micrograd` package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUILTIN_ROOT = Path(__file__).resolve().parents[2]  # holds gradcheck/ and micrograd/


class LoadError(Exception):
    """A target that cannot be imported; the message is one line."""


@dataclass
class Loaded:
    """An imported engine module and what loading it took."""

    module: types.ModuleType
    file: str | None
    notes: list[str] = field(default_factory=list)


def load(target: dict[str, Any]) -> Loaded:
    """Import what `target` names (see `gradcheck.checking.targets`)."""
    kind = target["kind"]
    if kind == "builtin":
        return _load_builtin()
    if kind == "file":
        return _load_file(Path(target["path"]), bool(target.get("definitions_only")))
    if kind == "module":
        return _load_module(target["module"], bool(target.get("definitions_only")))
    if kind == "notebook":
        return _load_notebook(Path(target["path"]), target.get("pick"))
    if kind == "source":
        return _exec_source(target["source"], target["name"], target["name"], [])
    raise LoadError(f"unknown target kind {kind!r}")


def _load_builtin() -> Loaded:
    init = BUILTIN_ROOT / "micrograd" / "__init__.py"
    for name in [
        n for n in sys.modules if n == "micrograd" or n.startswith("micrograd.")
    ]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "micrograd", init, submodule_search_locations=[str(init.parent)]
    )
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot find the built-in engine at {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["micrograd"] = module
    spec.loader.exec_module(module)
    return Loaded(module, str(init.parent / "engine.py"))


def package_root(path: Path) -> tuple[Path, str]:
    """The folder to put on sys.path for `path`, and its dotted module name."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _front(*folders: Path) -> None:
    for folder in reversed(folders):
        text = str(folder)
        if text in sys.path:
            sys.path.remove(text)
        sys.path.insert(0, text)


def _load_file(path: Path, definitions_only: bool) -> Loaded:
    path = path.resolve()
    if not path.is_file():
        raise LoadError(f"engine file not found: {path}")
    root, dotted = package_root(path)
    _front(path.parent, root)
    if definitions_only:
        return _definitions_of(path, [])
    try:
        if "." in dotted and all(p.isidentifier() for p in dotted.split(".")):
            module = importlib.import_module(dotted)
        else:
            module = _import_path(path, dotted)
    except BaseException as err:
        if isinstance(err, SyntaxError):
            raise LoadError(
                f"cannot load engine file {path}: {_one_line(err)}"
            ) from None
        return _definitions_of(path, [f"importing {path.name} raised {_one_line(err)}"])
    return Loaded(module, str(path))


def _import_path(path: Path, name: str) -> types.ModuleType:
    if not name.isidentifier():
        name = "_gradcheck_engine_" + "".join(c if c.isalnum() else "_" for c in name)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"cannot load engine file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # sibling imports of the same name find this one
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _load_module(dotted: str, definitions_only: bool) -> Loaded:
    _front(Path.cwd())
    if not definitions_only:
        try:
            module = importlib.import_module(dotted)
        except ModuleNotFoundError as err:
            if err.name and dotted.startswith(err.name):
                raise LoadError(
                    f"cannot import engine {dotted!r}: {_one_line(err)}"
                ) from None
            failure = _one_line(err)
        except BaseException as err:
            if isinstance(err, SyntaxError):
                raise LoadError(
                    f"cannot import engine {dotted!r}: {_one_line(err)}"
                ) from None
            failure = _one_line(err)
        else:
            return Loaded(module, getattr(module, "__file__", None))
    else:
        failure = ""
    spec = _find_spec(dotted)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise LoadError(f"cannot import engine {dotted!r}: {failure or 'not found'}")
    notes = [f"importing {dotted} raised {failure}"] if failure else []
    return _definitions_of(Path(spec.origin), notes)


def _find_spec(dotted: str) -> Any:
    """The spec of `dotted` without running its package's `__init__`."""
    head = dotted.rpartition(".")[0]
    if not head:
        return importlib.util.find_spec(dotted)
    for entry in sys.path:
        candidate = Path(entry or ".").joinpath(*dotted.split("."))
        if candidate.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(
                dotted, candidate.with_suffix(".py")
            )
        if (candidate / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                dotted, candidate / "__init__.py"
            )
    return None


def _definitions_of(path: Path, notes: list[str]) -> Loaded:
    from gradcheck.worker.sources import SourceError, definitions_only

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        source = definitions_only(text, str(path))
    except (OSError, SourceError, SyntaxError) as err:
        raise LoadError(f"cannot load engine file {path}: {_one_line(err)}") from None
    notes = [*notes, "loaded its definitions only", *source.notes]
    package = _stub_packages(path)
    if package:
        notes.append(f"relative imports resolve in {package} (its __init__ not run)")
    return _exec_source(
        source.text, str(path), path.stem, notes, file=str(path), package=package
    )


def _stub_packages(path: Path) -> str | None:
    """Make the packages around `path` importable without running `__init__`.

    A package's `__init__` may import what the engine never uses (minitorch
    imports numba there); the file's relative imports still need the package.
    Packages already imported are kept; returns the file's package name.
    """
    root, dotted = package_root(path.resolve())
    parts = dotted.split(".")[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    folder = root
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        folder = folder / parts[depth - 1]
        if name in sys.modules:
            continue
        stub = types.ModuleType(name)
        stub.__path__ = [str(folder)]
        stub.__file__ = str(folder / "__init__.py")
        stub.__package__ = name
        sys.modules[name] = stub
    return ".".join(parts)


def _load_notebook(path: Path, pick: str | None) -> Loaded:
    from gradcheck.worker.sources import SourceError, notebook_source

    path = path.resolve()
    if not path.is_file():
        raise LoadError(f"notebook not found: {path}")
    _front(path.parent)
    try:
        source = notebook_source(str(path), pick)
    except SourceError as err:
        raise LoadError(f"cannot read notebook {path}: {err}") from None
    return _exec_source(
        source.text, str(path), path.stem, list(source.notes), file=str(path)
    )


def _exec_source(
    text: str,
    filename: str,
    name: str,
    notes: list[str],
    file: str | None = None,
    package: str | None = None,
) -> Loaded:
    module_name = "_gradcheck_engine_" + "".join(
        c if c.isalnum() else "_" for c in name
    )
    module = types.ModuleType(module_name)
    module.__file__ = file or f"<{name}>"
    if package:
        module.__package__ = package  # `from .operators import ...` works
    sys.modules[module_name] = module  # dataclasses look their module up here
    try:
        exec(compile(text, filename, "exec"), module.__dict__)
    except BaseException as err:
        sys.modules.pop(module_name, None)
        raise LoadError(f"cannot load engine {name!r}: {_one_line(err)}") from None
    return Loaded(module, file, notes)


def _one_line(err: BaseException) -> str:
    lines = f"{type(err).__name__}: {err}".splitlines()
    text = lines[0] if lines else type(err).__name__
    if isinstance(err, SyntaxError) and err.lineno and "line" not in text:
        text += f" (line {err.lineno})"
    return text
