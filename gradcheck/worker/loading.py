"""Import a target inside the worker: a file, a module, a notebook, a source.

A file's folder, and the root of the package it sits in, go first on the
import path, so that sibling and package imports work as they do for the
user, and so do the folders of the user's own packages that the file or
notebook imports, up to the repository root (`import_paths`). Dotted targets
resolve from the current directory first, as `python -m` does. With no
target, the built-in micrograd is loaded from its own file location: it never
stands in for a user's `micrograd` package.

A file whose import fails (a missing module that only a plot needs, a sibling
that does not parse on this Python) is loaded from its own definitions, with
a note. Definitions run one statement at a time: one that fails is skipped
and named by its cell and line. A module that is not installed and that the
engine's class needs is a load error that names it and how to install it.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.worker.class_shape import shaped_classes
from gradcheck.worker.import_paths import (
    BUILTIN_ROOT,
    BUNDLED,
    bundled_refused,
    front_own_packages,
    imported_tops,
)

# Import names whose distribution on the package index is called otherwise.
_PIP_NAMES = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "attr": "attrs",
    "dateutil": "python-dateutil",
}


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
    if kind == "source":
        loaded = _exec_source(target["source"], target["name"], target["name"], [])
    elif kind in ("file", "module", "notebook"):
        # gradcheck's own micrograd only when the target is it
        asked = (
            _is_bundled(Path(target["path"]))
            if kind == "file"
            else kind == "module" and target["module"].split(".")[0] == BUNDLED
        )
        with contextlib.nullcontext() if asked else bundled_refused():
            loaded = _load_target(kind, target)
    else:
        raise LoadError(f"unknown target kind {kind!r}")
    return loaded


def _load_target(kind: str, target: dict[str, Any]) -> Loaded:
    definitions_only = bool(target.get("definitions_only"))
    if kind == "file":
        return _load_file(Path(target["path"]), definitions_only)
    if kind == "module":
        return _load_module(target["module"], definitions_only)
    return _load_notebook(Path(target["path"]), target.get("pick"))


def _is_bundled(path: Path) -> bool:
    return path.resolve().is_relative_to(BUILTIN_ROOT / BUNDLED)


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
    notes = front_own_packages(path.parent, _file_imports(path))
    if definitions_only:
        return _definitions_of(path, notes)
    try:
        if "." in dotted and all(p.isidentifier() for p in dotted.split(".")):
            module = importlib.import_module(dotted)
        else:
            module = _import_path(path, dotted)
    except BaseException as err:
        if isinstance(err, SyntaxError) and _same_file(err.filename, path):
            raise LoadError(
                f"cannot load engine file {path}: {_one_line(err)}"
            ) from None
        failure = f"importing {path.name} raised {_one_line(err)}"
        return _definitions_of(path, [*notes, failure], _missing_module(err))
    return Loaded(module, str(path), notes)


def _file_imports(path: Path) -> list[str]:
    try:
        return imported_tops([path.read_text(encoding="utf-8", errors="replace")])
    except OSError:
        return []


def _same_file(filename: str | None, path: Path) -> bool:
    if not filename:
        return True  # compiled from a string: the file's own text
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _missing_module(err: BaseException) -> str | None:
    """The module a failed import could not find, if that is why it failed."""
    if isinstance(err, ModuleNotFoundError) and err.name:
        return err.name
    return None


def pip_hint(module: str, own_package: str = "") -> str:
    """How to get `module`: its pip command, or why not (ours, or the user's)."""
    top = module.split(".")[0]
    if own_package and top == own_package:
        return f"not installed: {module} is not in the package {own_package}"
    hint = f"not installed (pip install {_PIP_NAMES.get(top, top)})"
    if top == BUNDLED:
        hint += (
            f"; gradcheck's own {BUNDLED} is never used in place of yours: put "
            "your package beside the file or in a folder above it, up to the "
            "repository root"
        )
    return hint


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
            failure, missing = _one_line(err), err.name
        except BaseException as err:
            spec = _find_spec(dotted)
            own = spec.origin if spec is not None else None
            if isinstance(err, SyntaxError) and (
                own is None or _same_file(err.filename, Path(own))
            ):
                raise LoadError(
                    f"cannot import engine {dotted!r}: {_one_line(err)}"
                ) from None
            failure, missing = _one_line(err), None
        else:
            return Loaded(module, getattr(module, "__file__", None))
    else:
        failure, missing = "", None
    spec = _find_spec(dotted)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise LoadError(f"cannot import engine {dotted!r}: {failure or 'not found'}")
    notes = [f"importing {dotted} raised {failure}"] if failure else []
    return _definitions_of(Path(spec.origin), notes, missing)


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


def _definitions_of(path: Path, notes: list[str], missing: str | None = None) -> Loaded:
    """The file's own definitions; `missing`: the module its import lacked."""
    from gradcheck.worker.sources import SourceError, definitions_only

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        source = definitions_only(text, str(path))
    except (OSError, SourceError, SyntaxError) as err:
        raise LoadError(f"cannot load engine file {path}: {_one_line(err)}") from None
    _refuse_missing(f"engine file {path}", source.engine_needs)
    notes = [*notes, "loaded its definitions only", *source.notes]
    package = _stub_packages(path)
    if package:
        notes.append(f"relative imports resolve in {package} (its __init__ not run)")
    loaded = _exec_source(
        source.text,
        str(path),
        path.stem,
        notes,
        file=str(path),
        package=package,
        parts=source.parts,
    )
    lost = "Value" not in vars(loaded.module) and not shaped_classes(loaded.module)
    if missing and lost:
        own = package_root(path)[1].split(".")[0] if package else ""
        raise LoadError(
            f"cannot load engine file {path}: module {missing} is "
            f"{pip_hint(missing, own)}, and without it the file defines no "
            "engine class"
        )
    return loaded


def _refuse_missing(what: str, needs: dict[str, list[str]]) -> None:
    """A module not installed that the engine class needs is the load error."""
    for module, users in needs.items():
        raise LoadError(
            f"cannot load {what}: {', '.join(users[:3])} needs module {module}, "
            f"which is {pip_hint(module)}"
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
    notes = front_own_packages(path.parent, _notebook_imports(path))
    try:
        source = notebook_source(str(path), pick)
    except SourceError as err:
        raise LoadError(f"cannot read notebook {path}: {err}") from None
    _refuse_missing(f"notebook {path}", source.engine_needs)
    return _exec_source(
        source.text,
        str(path),
        path.stem,
        [*notes, *source.notes],
        file=str(path),
        parts=source.parts,
    )


def _notebook_imports(path: Path) -> list[str]:
    from gradcheck.worker.notebook_cells import clean_cell, code_cells
    from gradcheck.worker.sources import MAX_BYTES, SourceError

    try:
        cells = code_cells(str(path), MAX_BYTES)
    except SourceError:
        return []  # reading it again says why
    texts = [clean_cell(text)[0] for _, text in cells]
    return imported_tops(t for t in texts if t)


def _exec_source(
    text: str,
    filename: str,
    name: str,
    notes: list[str],
    file: str | None = None,
    package: str | None = None,
    parts: list[tuple[int, str]] | None = None,
) -> Loaded:
    """Run engine source as a module.

    With `parts` (built definitions: where each statement starts and came
    from), statements run one by one and one that fails is skipped with a
    note naming its cell and line; otherwise a failure is the load error.
    """
    module_name = "_gradcheck_engine_" + "".join(
        c if c.isalnum() else "_" for c in name
    )
    module = types.ModuleType(module_name)
    module.__file__ = file or f"<{name}>"
    if package:
        module.__package__ = package  # `from .operators import ...` works
    sys.modules[module_name] = module  # dataclasses look their module up here
    try:
        if parts:
            notes = [*notes, *_run_each(text, filename, parts, module.__dict__)]
        else:
            # dont_inherit: this module's own `from __future__` must not leak in
            code = compile(text, filename, "exec", dont_inherit=True)
            exec(code, module.__dict__)
    except _EngineFailed as err:
        sys.modules.pop(module_name, None)
        raise LoadError(f"cannot load engine {filename}: {err}") from None
    except BaseException as err:
        sys.modules.pop(module_name, None)
        raise LoadError(f"cannot load engine {name!r}: {_one_line(err)}") from None
    return Loaded(module, file, notes)


def _future_flags(tree: ast.Module) -> int:
    import __future__

    flags = 0
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
            for alias in stmt.names:
                feature = getattr(__future__, alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    return flags


def _run_each(
    text: str, filename: str, parts: list[tuple[int, str]], namespace: dict[str, Any]
) -> list[str]:
    """Run each top-level statement; skip those that fail; notes on them.

    A guarded import (`try: import x / except ImportError: pass`, as the
    built source wraps every import) runs unguarded here, so that a failed
    relative import is named, and so is the import behind a later NameError.
    """
    tree = ast.parse(text, filename)
    flags = _future_flags(tree)
    starts = [line for line, _ in parts]
    lines = text.splitlines()
    notes: list[str] = []
    failed: list[str] = []
    unbound: dict[str, str] = {}  # name -> why its import failed
    for stmt in tree.body:
        first = min(
            [stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))]
        )
        at = bisect.bisect_right(starts, first) - 1
        inner = _guarded_import(stmt)
        code = compile(
            ast.Module(body=[inner or stmt], type_ignores=[]),
            filename,
            "exec",
            flags=flags,
            dont_inherit=True,
        )
        try:
            exec(code, namespace)
        except BaseException as err:
            if at < 0:  # the header and `from __future__` lines
                raise
            shown = lines[(inner or stmt).lineno - 1].strip()
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            note = f"skipped {parts[at][1]} ({shown}): {_one_line(err)}"
            if inner is not None and isinstance(err, ImportError):
                for alias in inner.names:
                    name = alias.asname or alias.name.split(".")[0]
                    unbound[name] = f"{parts[at][1]}: {_one_line(err)}"
                relative = isinstance(inner, ast.ImportFrom) and inner.level
                if isinstance(err, ModuleNotFoundError) and not relative:
                    continue  # a missing module: the notes say so already
            elif isinstance(err, NameError) and err.name in unbound:
                note += f" (the import of {err.name} failed, {unbound[err.name]})"
            if _defines_engine(stmt) and not _has_engine(namespace):
                # Nothing else to check: the failure is the load error.
                failed.append(note)
            notes.append(note)
    if failed and not _has_engine(namespace):
        raise _EngineFailed(failed[-1].removeprefix("skipped "))
    return notes


def _guarded_import(stmt: ast.stmt) -> ast.Import | ast.ImportFrom | None:
    """The import inside `try: IMPORT except ImportError: pass`, if that is it."""
    if not (
        isinstance(stmt, ast.Try)
        and len(stmt.body) == 1
        and len(stmt.handlers) == 1
        and not stmt.orelse
        and not stmt.finalbody
    ):
        return None
    inner, handler = stmt.body[0], stmt.handlers[0]
    catches = isinstance(handler.type, ast.Name) and handler.type.id == "ImportError"
    passes = len(handler.body) == 1 and isinstance(handler.body[0], ast.Pass)
    if catches and passes and isinstance(inner, (ast.Import, ast.ImportFrom)):
        return inner
    return None


class _EngineFailed(Exception):
    """The engine class's own definition failed; the message says where."""


def _defines_engine(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.ClassDef):
        return False
    names = {m.name for m in stmt.body if isinstance(m, ast.FunctionDef)}
    return stmt.name == "Value" or bool(names & {"__add__", "__mul__", "backward"})


def _has_engine(namespace: dict[str, Any]) -> bool:
    if isinstance(namespace.get("Value"), type):
        return True
    module = types.ModuleType(str(namespace.get("__name__", "engine")))
    module.__dict__.update(namespace)
    return bool(shaped_classes(module))


def _one_line(err: BaseException) -> str:
    lines = f"{type(err).__name__}: {err}".splitlines()
    text = lines[0] if lines else type(err).__name__
    if isinstance(err, SyntaxError) and err.lineno and "line" not in text:
        text += f" (line {err.lineno})"
    return text
