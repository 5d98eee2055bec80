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

import contextlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

from gradcheck.internal.worker.class_shape import shaped_classes
from gradcheck.internal.worker.import_paths import (
    BUILTIN_ROOT,
    BUNDLED,
    bundled_refused,
    front_own_packages,
    imported_tops,
)
from gradcheck.internal.worker.source_exec import Loaded as Loaded
from gradcheck.internal.worker.source_exec import LoadError as LoadError
from gradcheck.internal.worker.source_exec import exec_source, one_line_error

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


def load(target: dict[str, Any]) -> Loaded:
    """Import what `target` names (see `gradcheck.internal.checking.targets`)."""
    kind = target["kind"]
    if kind == "builtin":
        return _load_builtin()
    if kind == "source":
        loaded = exec_source(target["source"], target["name"], target["name"], [])
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
                f"cannot load engine file {path}: {one_line_error(err)}"
            ) from None
        failure = f"importing {path.name} raised {one_line_error(err)}"
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
                    f"cannot import engine {dotted!r}: {one_line_error(err)}"
                ) from None
            failure, missing = one_line_error(err), err.name
        except BaseException as err:
            spec = _find_spec(dotted)
            own = spec.origin if spec is not None else None
            if isinstance(err, SyntaxError) and (
                own is None or _same_file(err.filename, Path(own))
            ):
                raise LoadError(
                    f"cannot import engine {dotted!r}: {one_line_error(err)}"
                ) from None
            failure, missing = one_line_error(err), None
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
    from gradcheck.internal.worker.sources import SourceError, definitions_only

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        source = definitions_only(text, str(path))
    except (OSError, SourceError, SyntaxError) as err:
        raise LoadError(
            f"cannot load engine file {path}: {one_line_error(err)}"
        ) from None
    _refuse_missing(f"engine file {path}", source.engine_needs)
    notes = [*notes, "loaded its definitions only", *source.notes]
    package = _stub_packages(path)
    if package:
        notes.append(f"relative imports resolve in {package} (its __init__ not run)")
    loaded = exec_source(
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
    from gradcheck.internal.worker.sources import SourceError, notebook_source

    path = path.resolve()
    if not path.is_file():
        raise LoadError(f"notebook not found: {path}")
    _front(path.parent)
    notes = front_own_packages(path.parent, _notebook_imports(path))
    try:
        source = notebook_source(str(path), pick)
    except SourceError as err:
        message = str(err)  # most already name the notebook: not twice
        if str(path) not in message:
            message = f"cannot read notebook {path}: {message}"
        raise LoadError(message) from None
    _refuse_missing(f"notebook {path}", source.engine_needs)
    return exec_source(
        source.text,
        str(path),
        path.stem,
        [*notes, *source.notes],
        file=str(path),
        parts=source.parts,
    )


def _notebook_imports(path: Path) -> list[str]:
    from gradcheck.internal.worker.notebook_cells import clean_cell, code_cells
    from gradcheck.internal.worker.sources import MAX_BYTES, SourceError

    try:
        cells = code_cells(str(path), MAX_BYTES)
    except SourceError:
        return []  # reading it again says why
    texts = [clean_cell(text)[0] for _, text in cells]
    return imported_tops(t for t in texts if t)
