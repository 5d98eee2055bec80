"""Where a user's imports resolve: their own packages first, never ours.

A notebook in `repo/notebooks/` that ends with `from micrograd.engine import
Value` means the repository's own `repo/micrograd/`. Jupyter finds it when the
kernel was started at the root; the worker starts in the notebook's folder.
So each top-level package the source imports is looked for beside it, then in
its parent folders up to the repository root (a folder holding `.git`,
`pyproject.toml`, `setup.py` or `setup.cfg`), and the folder that holds it goes
first on the import path, before anything installed.

gradcheck ships a `micrograd` package of its own. It is importable wherever
gradcheck is, and a user's `import micrograd` must never get it in place of
theirs: `bundled_refused` puts a finder first that looks for `micrograd`
everywhere except in gradcheck's own folder, and says so when there is none.

Runs inside the isolated worker, so only the standard library is imported.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.machinery
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

BUILTIN_ROOT = Path(__file__).resolve().parents[3]  # holds gradcheck/ and micrograd/
BUNDLED = "micrograd"
_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")


def imported_tops(texts: Iterable[str]) -> list[str]:
    """Top-level names of the absolute imports in `texts`, in order.

    Texts that do not parse are skipped; nested imports (in functions, in
    `try:`) count too.
    """
    names: dict[str, None] = {}
    for text in texts:
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.name.split(".")[0]] = None
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names[node.module.split(".")[0]] = None
    return list(names)


def _holds(folder: Path, name: str) -> bool:
    if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file():
        return True
    package = folder / name
    return package.is_dir() and any(package.glob("*.py"))  # a namespace package


def _is_repo_root(folder: Path) -> bool:
    return any((folder / marker).exists() for marker in _ROOT_MARKERS)


def own_package_folders(start: Path, names: Sequence[str]) -> dict[str, Path]:
    """name -> the nearest folder from `start` up to the repository root holding it.

    The standard library's names are left alone: a stray `random.py` in a
    parent folder does not get to shadow it.
    """
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    wanted = [
        n
        for n in names
        if n.isidentifier()
        and n not in stdlib
        and n not in sys.builtin_module_names
        and n != "gradcheck"
    ]
    found: dict[str, Path] = {}
    folder = start.resolve()
    while wanted:
        if folder != BUILTIN_ROOT:
            for name in list(wanted):
                if _holds(folder, name):
                    found[name] = folder
                    wanted.remove(name)
        if _is_repo_root(folder) or folder.parent == folder:
            break
        folder = folder.parent
    return found


def front_own_packages(start: Path, names: Sequence[str]) -> list[str]:
    """Put the folders of the user's own packages first; notes on what moved.

    A module of the same name imported already from elsewhere is forgotten,
    so the next import finds the user's.
    """
    found = own_package_folders(start, names)
    notes = []
    for name, folder in sorted(found.items(), key=lambda item: str(item[1])):
        text = str(folder)
        if text in sys.path:
            sys.path.remove(text)
        sys.path.insert(0, text)
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            origin = getattr(sys.modules[loaded], "__file__", None) or ""
            if not Path(origin).resolve().is_relative_to(folder):
                del sys.modules[loaded]
        if folder != start.resolve():
            notes.append(f"import {name} resolves to {folder / name}")
    return notes


class _NotTheBundled:
    """A meta-path finder: `micrograd` from anywhere but gradcheck's own folder."""

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != BUNDLED:
            return None
        elsewhere = [entry for entry in sys.path if _resolved(entry) != BUILTIN_ROOT]
        spec = importlib.machinery.PathFinder.find_spec(fullname, elsewhere)
        if spec is not None:
            return spec
        raise ModuleNotFoundError(
            f"No module named {BUNDLED!r} (gradcheck's own {BUNDLED} is never "
            "used in place of yours)",
            name=BUNDLED,
        )


def _resolved(entry: str) -> Path | None:
    try:
        return Path(entry or ".").resolve()
    except (OSError, RuntimeError):
        return None


@contextlib.contextmanager
def bundled_refused() -> Iterator[None]:
    """While loading, `import micrograd` finds only a user's or an installed one.

    gradcheck's own `micrograd` modules already imported are set aside and put
    back after, unless the user's took their names (in-process loading must
    not leave the caller's process changed for good).
    """
    aside = {
        name: module
        for name, module in sys.modules.items()
        if (name == BUNDLED or name.startswith(BUNDLED + "."))
        and _inside(getattr(module, "__file__", None), BUILTIN_ROOT / BUNDLED)
    }
    for name in aside:
        del sys.modules[name]
    finder = _NotTheBundled()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for name, module in aside.items():
            sys.modules.setdefault(name, module)


def _inside(file: str | None, folder: Path) -> bool:
    try:
        return bool(file) and Path(str(file)).resolve().is_relative_to(folder)
    except (OSError, RuntimeError):
        return False
