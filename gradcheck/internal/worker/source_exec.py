"""Run a target's collected definitions, one statement at a time.

A statement that fails is skipped and named by its cell and line, so one
broken scratch cell does not lose the engine; a failure in the engine class
itself is the load error. `from __future__` flags of the user's source are
honoured, never the worker's own.
"""

from __future__ import annotations

import ast
import bisect
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.worker.class_shape import shaped_classes

# filename -> where each statement of a built module starts and came from
# ("line 40" or "cell 8, line 2"), to map a line of it back to the user's.
_ORIGINS: dict[str, list[tuple[int, str]]] = {}


def original_line(filename: str, line: int) -> int | None:
    """The line in the user's file of `line` of the module run from
    `filename`; None inside a notebook cell or outside every statement."""
    parts = _ORIGINS.get(filename)
    if parts is None:
        return line  # the file ran as it is
    at = bisect.bisect_right([start for start, _ in parts], line) - 1
    if at < 0 or not parts[at][1].startswith("line "):
        return None
    return int(parts[at][1].split()[1]) + line - parts[at][0]


class LoadError(Exception):
    """A target that cannot be imported; the message is one line."""


@dataclass
class Loaded:
    """An imported engine module and what loading it took."""

    module: types.ModuleType
    file: str | None
    notes: list[str] = field(default_factory=list)


def one_line_error(err: BaseException) -> str:
    lines = f"{type(err).__name__}: {err}".splitlines()
    text = lines[0] if lines else type(err).__name__
    if isinstance(err, SyntaxError) and err.lineno and "line" not in text:
        text += f" (line {err.lineno})"
    return text


def exec_source(
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
            _ORIGINS[filename] = list(parts)
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
        raise LoadError(f"cannot load engine {name!r}: {one_line_error(err)}") from None
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
            note = f"skipped {parts[at][1]} ({shown}): {one_line_error(err)}"
            if inner is not None and isinstance(err, ImportError):
                for alias in inner.names:
                    name = alias.asname or alias.name.split(".")[0]
                    unbound[name] = f"{parts[at][1]}: {one_line_error(err)}"
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
