"""Turn a learner's notebook, or a .py file that will not import, into engine source.

Learners write their engines in Jupyter: `Value` is redefined as the lecture goes
on, methods are attached in later cells (`Value.tanh = tanh`), helpers sit 39
cells after their use, and cells mix definitions with plots and training. Running
the notebook as a script fails on all of that, so this module keeps the
definitions only and says what it left out.

What is read: the code cells of a v4 or v3 notebook, in order. Markdown and raw
cells are ignored even when they contain code. Cells are numbered as Jupyter
shows their position: 1-based over *all* cells, markdown included.

What is kept: imports (each wrapped so that a missing module binds nothing),
`try:` import guards, classes, functions, assignments whose value calls nothing
(`EPS = 1e-8`, `xs = [[2.0, 3.0]]`, `act = tanh`, lambdas), and methods attached
to a class defined earlier (`Value.tanh = tanh`, `setattr(Value, "tanh", tanh)`).
What is left out: expression statements (prints, plots, `loss.backward()`),
loops, `with` blocks, assignments from a call (`model = MLP(3, [4, 1])`),
`if __name__ == "__main__":` blocks, IPython magics, shell escapes and help
lines. `%%time`-style cell magics lose their first line only; cells in another
language (`%%bash`) are skipped; a `%%writefile x.py` body is read as Python.

The last definition of each name wins, unless something evaluated at definition
time between two definitions needs the earlier one (`class Value(Value):`, an
attachment): those stay, in notebook order. `pick="Value@12"` uses cell 12's
`Value` and drops the later ones.

Runs inside the isolated worker, so only the standard library is imported.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import heapq
import importlib.util
import json
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field

MAX_BYTES = 20 * 1024 * 1024
"""Bigger notebooks and files are refused: an engine is kilobytes, not megabytes."""

_BUILTIN_NAMES = frozenset(dir(builtins)) | {
    "__name__",
    "__file__",
    "__doc__",
    "__spec__",
    "__loader__",
    "__package__",
    "__builtins__",
    "__annotations__",
}
# Cell magics whose body is Python: drop the magic line, keep the body.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_MAGIC_LINE = re.compile(r"^(\s*)(?:[%!]|[\w.,\s]+=\s*[%!])")
_HELP_LINE = re.compile(r"^\s*\?{0,2}[A-Za-z_][\w.]*(?:\(\))?\?{0,2}\s*$")
_PICK = re.compile(r"^([A-Za-z_]\w*)(?:@(\d+))?$")
_PLOT_WORDS = frozenset(
    {
        "plt",
        "pyplot",
        "matplotlib",
        "sns",
        "seaborn",
        "draw_dot",
        "display",
        "plot",
        "show",
        "imshow",
        "scatter",
        "hist",
        "figure",
        "subplot",
        "subplots",
        "savefig",
        "render",
        "graphviz",
        "Digraph",
    }
)
_BACKWARD_WORDS = frozenset({"backward", "backwards", "zero_grad", "step"})
_CORE_METHODS = frozenset({"__add__", "__mul__", "backward"})
_PLAIN_METHODS = frozenset({"__init__", "__repr__", "__str__"})
# Left-out categories: (singular, plural), in the order the note lists them.
_LEFT_OUT = {
    "loop": ("loop (training)", "loops (training)"),
    "plot": ("plot or drawing", "plots or drawings"),
    "print": ("print", "prints"),
    "backward": ("backward() call", "backward() calls"),
    "expr": ("other expression", "other expressions"),
    "call": ("assignment from a call", "assignments from calls"),
    "with": ("with-block", "with-blocks"),
    "main": ('if __name__ == "__main__" block', 'if __name__ == "__main__" blocks'),
    "other": ("other statement", "other statements"),
}


class SourceError(Exception):
    """A notebook or file that cannot be turned into an engine module."""


@dataclass
class Source:
    """Python source of an engine module, and what was done to get it."""

    text: str
    filename: str
    notes: list[str] = field(default_factory=list)
    # Cells that gave kept definitions, numbered 1-based over all cells.
    cells_used: list[int] = field(default_factory=list)


@dataclass(eq=False)
class _Stmt:
    """A kept top-level statement with what it binds and needs at definition time."""

    index: int
    where: int
    node: ast.stmt
    kind: str  # import, future, def, class, const, attach, guard
    text: str
    binds: frozenset[str]
    needs: frozenset[str]
    attach: tuple[str, str] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    star: bool = False


@dataclass
class _Collected:
    """Everything the classification pass found, for the build and the notes."""

    stmts: list[_Stmt] = field(default_factory=list)
    left_out: dict[str, list[int]] = field(default_factory=dict)
    magics: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped_text: dict[int, str] = field(default_factory=dict)


# ---------------------------------------------------------------- reading


def _read_bytes(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise SourceError(
                f"{path} is {size // (1024 * 1024)} MB; files over "
                f"{MAX_BYTES // (1024 * 1024)} MB are refused"
            )
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror or err}") from err


def _text_of(value: object, path: str, number: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    raise SourceError(f"{path} is not a notebook: cell {number} has no text source")


def _code_cells(path: str) -> list[tuple[int, str]]:
    """(cell number, code) for each code cell; numbers count all cells."""
    raw = _read_bytes(path)
    try:
        notebook = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise SourceError(f"cannot read {path}: not UTF-8 text") from err
    except json.JSONDecodeError as err:
        raise SourceError(
            f"cannot read {path}: invalid JSON at line {err.lineno} column {err.colno}"
        ) from err
    if not isinstance(notebook, dict):
        raise SourceError(f"{path} is not a notebook: no cells")
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        language = ""
        for key, inner in (("kernelspec", "language"), ("language_info", "name")):
            info = metadata.get(key)
            if isinstance(info, dict) and isinstance(info.get(inner), str):
                language = info[inner]
        if language and not language.lower().startswith("python"):
            raise SourceError(f"{path} is a {language} notebook, not a Python one")
    if isinstance(notebook.get("cells"), list):
        cells, source_key = notebook["cells"], "source"
    elif isinstance(notebook.get("worksheets"), list):
        cells, source_key = [], "input"
        for sheet in notebook["worksheets"]:
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                cells.extend(sheet["cells"])
    else:
        raise SourceError(f"{path} is not a notebook: no cells")
    found = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if str(cell.get("language", "python")).lower() != "python":
            continue
        found.append((number, _text_of(cell.get(source_key, ""), path, number)))
    if not found:
        raise SourceError(f"{path} has no code cells")
    return found


def _clean_cell(text: str) -> tuple[str | None, bool, str]:
    """(Python text or None, whether IPython lines were dropped, a notice)."""
    try:
        ast.parse(text)
        return text, False, ""
    except (SyntaxError, ValueError, RecursionError):
        pass
    lines = text.splitlines()
    dropped = False
    notice = ""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        magic = words[0] if words else ""
        if magic in ("writefile", "file") and words[-1].endswith(".py"):
            notice = f"%%{magic} {words[-1]} body read as Python"
        elif magic not in _PYTHON_CELL_MAGICS:
            return None, True, f"%%{magic} cell is not Python"
        lines[first] = ""
        dropped = True
    for i, line in enumerate(lines):
        match = _MAGIC_LINE.match(line)
        is_help = "?" in line and _HELP_LINE.match(line) is not None
        if match is None and not is_help:
            continue
        indent = re.match(r"\s*", line)
        width = indent.group(0) if indent else ""
        lines[i] = f"{width}pass" if width else ""
        dropped = True
    return "\n".join(lines) + "\n", dropped, notice


def _parse(text: str) -> tuple[ast.Module | None, str]:
    try:
        return ast.parse(text), ""
    except SyntaxError as err:
        return None, f"SyntaxError line {err.lineno} ({err.msg})"
    except (ValueError, RecursionError) as err:
        return None, f"cannot parse ({type(err).__name__})"


# ---------------------------------------------------------------- analysis


def _calls_nothing(node: ast.AST) -> bool:
    """True when evaluating `node` runs no call (lambda bodies run later)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
            return False
        if isinstance(item, ast.NamedExpr):
            return False
        if isinstance(item, ast.Lambda):
            stack.extend(item.args.defaults)
            stack.extend(d for d in item.args.kw_defaults if d is not None)
            continue
        stack.extend(ast.iter_child_nodes(item))
    return True


def _function_header(node: ast.AST) -> list[ast.AST]:
    """The parts of a def or lambda evaluated when it is defined."""
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    args = node.args
    parts: list[ast.AST] = [*args.defaults]
    parts.extend(d for d in args.kw_defaults if d is not None)
    if isinstance(node, ast.Lambda):
        return parts
    parts.extend(node.decorator_list)
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every.extend(a for a in (args.vararg, args.kwarg) if a is not None)
    parts.extend(a.annotation for a in every if a.annotation is not None)
    if node.returns is not None:
        parts.append(node.returns)
    return parts


def _definition_time_names(stmt: ast.stmt) -> frozenset[str]:
    """Global names read while the statement runs (not later, at call time)."""
    loads: set[str] = set()
    local: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(stmt, False)]
    while stack:
        node, inner = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if inner and not isinstance(node, ast.Lambda):
                local.add(node.name)
            stack.extend((part, inner) for part in _function_header(node))
            continue
        if isinstance(node, ast.ClassDef):
            if inner:
                local.add(node.name)
            heads = [*node.decorator_list, *node.bases, *node.keywords]
            stack.extend((part, inner) for part in heads)
            stack.extend((part, True) for part in node.body)
            continue
        if isinstance(node, ast.comprehension):
            local.update(_store_names(node.target))
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.add(node.id)
            elif inner:
                local.add(node.id)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and inner:
            local.update(_alias_names(node))
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))
    return frozenset(loads - local)


def _store_names(node: ast.AST) -> set[str]:
    return {
        n.id
        for n in ast.walk(node)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _alias_names(node: ast.Import | ast.ImportFrom) -> list[str]:
    names = []
    for alias in node.names:
        if alias.name == "*":
            continue
        names.append(alias.asname or alias.name.split(".")[0])
    return names


def _bound_names(stmt: ast.stmt) -> frozenset[str]:
    """Top-level names the statement binds (not those inside its functions)."""
    bound: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.comprehension)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update(_alias_names(node))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(bound)


def _called_words(node: ast.AST) -> set[str]:
    """Function and method names called anywhere in `node`, with their roots."""
    words: set[str] = set()
    for item in ast.walk(node):
        if not isinstance(item, ast.Call):
            continue
        func: ast.AST = item.func
        while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
            if isinstance(func, ast.Attribute):
                words.add(func.attr)
                func = func.value
            else:
                func = func.func if isinstance(func, ast.Call) else func.value
        if isinstance(func, ast.Name):
            words.add(func.id)
    return words


def _is_main_test(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


def _is_plain_definition(stmt: ast.stmt, allow_runs: bool = False) -> bool:
    """A statement allowed inside a kept `try:` or `if` block."""
    if isinstance(
        stmt,
        (
            ast.Import,
            ast.ImportFrom,
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
            ast.Pass,
        ),
    ):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        return allow_runs or _calls_nothing(stmt.value)
    return allow_runs and isinstance(stmt, (ast.Expr, ast.Raise))


def _kind(stmt: ast.stmt) -> tuple[str, tuple[str, str] | None]:
    """('keep' kind, attachment) or ('out:<category>' | 'silent' | 'magic', None)."""
    if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
        return "future", None
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return "import", None
    if isinstance(stmt, ast.ClassDef):
        return "class", None
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return "def", None
    if isinstance(stmt, ast.Pass):
        return "silent", None
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return _assignment_kind(stmt)
    if isinstance(stmt, ast.Expr):
        return _expression_kind(stmt.value)
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return "out:loop", None
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return "out:with", None
    if isinstance(stmt, ast.If):
        if _is_main_test(stmt.test):
            return "out:main", None
        body = [*stmt.body, *stmt.orelse]
        if _calls_nothing(stmt.test) and all(map(_is_plain_definition, body)):
            return "guard", None
        return "out:other", None
    if isinstance(stmt, ast.Try):
        body_ok = all(map(_is_plain_definition, stmt.body))
        has_import = any(isinstance(s, (ast.Import, ast.ImportFrom)) for s in stmt.body)
        handlers_ok = all(
            _is_plain_definition(s, allow_runs=True)
            for handler in stmt.handlers
            for s in handler.body
        )
        extra_ok = all(map(_is_plain_definition, [*stmt.orelse, *stmt.finalbody]))
        if body_ok and has_import and handlers_ok and extra_ok:
            return "guard", None
        return "out:other", None
    return "out:other", None


def _assignment_kind(
    stmt: ast.Assign | ast.AnnAssign,
) -> tuple[str, tuple[str, str] | None]:
    if stmt.value is None:
        return "silent", None
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    if not _calls_nothing(stmt.value):
        words = _called_words(stmt.value)
        return ("magic" if "get_ipython" in words else "out:call"), None
    if len(targets) == 1 and isinstance(targets[0], ast.Attribute):
        attr = targets[0]
        if isinstance(attr.value, ast.Name):
            return "attach", (attr.value.id, attr.attr)
        return "out:other", None
    plain = (ast.Name, ast.Tuple, ast.List, ast.Starred)
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.expr) and not isinstance(node, plain):
                return "out:other", None
    return "const", None


def _expression_kind(value: ast.expr) -> tuple[str, tuple[str, str] | None]:
    if isinstance(value, ast.Constant):
        return "silent", None
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "setattr"
        and len(value.args) == 3
        and not value.keywords
        and isinstance(value.args[0], ast.Name)
        and isinstance(value.args[1], ast.Constant)
        and isinstance(value.args[1].value, str)
        and _calls_nothing(value.args[2])
    ):
        return "attach", (value.args[0].id, value.args[1].value)
    words = _called_words(value)
    if "get_ipython" in words:
        return "magic", None
    if words & _PLOT_WORDS:
        return "out:plot", None
    if "print" in words:
        return "out:print", None
    if words & _BACKWARD_WORDS:
        return "out:backward", None
    return "out:expr", None


def _module_missing(module: str) -> bool:
    """True when the top-level package of `module` cannot be found."""
    top = module.split(".")[0]
    if top in sys.modules or top in sys.builtin_module_names:
        return False
    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True


def _segment(text: str, node: ast.stmt) -> str:
    """The statement's own source, decorators included, without `; other`."""
    own = ast.get_source_segment(text, node) or ""
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        lines = text.splitlines(keepends=True)
        start = min(d.lineno for d in decorators)
        own = "".join(lines[start - 1 : node.lineno - 1]) + own
    return own


def _collect(cells: list[tuple[int, str]], from_notebook: bool) -> _Collected:
    """Clean, parse and classify every top-level statement of every cell."""
    found = _Collected()
    for number, raw in cells:
        if not raw.strip():
            continue
        text: str | None = raw
        if from_notebook:
            text, dropped, notice = _clean_cell(raw)
            if notice and text is None:
                found.notes.append(f"skipped cell {number}: {notice}")
            elif notice:
                found.notes.append(f"cell {number}: {notice}")
            if dropped:
                found.magics.append(number)
        if text is None:
            continue
        tree, problem = _parse(text)
        if tree is None:
            if not from_notebook:
                raise SourceError(f"cannot parse: {problem}")
            found.notes.append(f"skipped cell {number}: {problem}")
            found.skipped_text[number] = text
            continue
        for stmt in tree.body:
            where = number if from_notebook else stmt.lineno
            kind, attach = _kind(stmt)
            if kind == "silent":
                continue
            if kind == "magic":
                found.magics.append(where)
                continue
            if kind.startswith("out:"):
                found.left_out.setdefault(kind[4:], []).append(where)
                continue
            found.stmts.append(_make_stmt(len(found.stmts), where, stmt, kind, text))
            found.stmts[-1].attach = attach
    return found


def _make_stmt(index: int, where: int, stmt: ast.stmt, kind: str, text: str) -> _Stmt:
    item = _Stmt(
        index=index,
        where=where,
        node=stmt,
        kind=kind,
        text=_segment(text, stmt),
        binds=_bound_names(stmt) if kind != "attach" else frozenset(),
        needs=_definition_time_names(stmt),
    )
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        if isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            if _module_missing(stmt.module):
                item.missing = {name: stmt.module for name in _alias_names(stmt)}
            else:
                item.star = any(alias.name == "*" for alias in stmt.names)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if _module_missing(alias.name):
                    name = alias.asname or alias.name.split(".")[0]
                    item.missing[name] = alias.name
    return item


# ---------------------------------------------------------------- building


class _Builder:
    """Chooses the statements to keep, their order, and the notices about them."""

    def __init__(self, stmts: list[_Stmt]) -> None:
        self.candidates = list(stmts)
        self.removed: list[tuple[_Stmt, str, str]] = []  # stmt, name, why
        self._by_name: dict[str, list[_Stmt]] | None = None

    def binder(self, stmt: _Stmt, name: str) -> _Stmt | None:
        """The statement whose binding of `name` `stmt` sees when it runs.

        The last binding before it; failing that (a notebook run out of
        order), the last binding anywhere, and the statement moves after it.
        """
        if self._by_name is None:
            self._by_name = {}
            for other in self.candidates:
                for bound in other.binds:
                    self._by_name.setdefault(bound, []).append(other)
        binders = self._by_name.get(name, [])
        at = bisect.bisect_left(binders, stmt.index, key=lambda b: b.index)
        if at > 0:
            return binders[at - 1]
        later = [b for b in binders[at:] if b is not stmt]
        return later[-1] if later else None

    def prune(self) -> None:
        """Leave out statements needing names that nothing kept can bind."""
        changed = True
        while changed:
            changed = False
            star = any(s.star for s in self.candidates)
            for stmt in list(self.candidates):
                why = self._unmet(stmt, star)
                if why is not None:
                    self.candidates.remove(stmt)
                    self._by_name = None
                    self.removed.append((stmt, *why))
                    changed = True

    def _unmet(self, stmt: _Stmt, star: bool) -> tuple[str, str] | None:
        for name in sorted(stmt.needs):
            source = self.binder(stmt, name)
            if source is None:
                if name in _BUILTIN_NAMES or star:
                    continue
                return name, ""
            if name in source.missing:
                return name, source.missing[name]
        if stmt.attach is not None:
            source = self.binder(stmt, stmt.attach[0])
            if source is None or source.kind != "class" or source.index > stmt.index:
                return stmt.attach[0], ""
        return None

    def live(self) -> list[_Stmt]:
        """Last binders of every name, plus what they and attachments need."""
        final: dict[str, _Stmt] = {}
        for stmt in self.candidates:
            for name in stmt.binds:
                final[name] = stmt
        live = set(final.values()) | {s for s in self.candidates if s.kind == "future"}
        changed = True
        while changed:
            changed = False
            for stmt in self.candidates:
                if stmt.attach is None or stmt in live:
                    continue
                if self.binder(stmt, stmt.attach[0]) in live:
                    live.add(stmt)
                    changed = True
            for stmt in list(live):
                for name in stmt.needs:
                    source = self.binder(stmt, name)
                    if source is not None and source not in live:
                        live.add(source)
                        changed = True
        return [s for s in self.candidates if s in live]

    def order(self, live: list[_Stmt]) -> list[_Stmt]:
        """Notebook order, moved only where a definition needs a later binding."""
        after: dict[_Stmt, set[_Stmt]] = {s: set() for s in live}
        for stmt in live:
            for name in stmt.needs:
                source = self.binder(stmt, name)
                if source is None or source not in after or source is stmt:
                    continue
                after[stmt].add(source)
                # A later rebinding must not run before this statement reads it.
                since = max(stmt.index, source.index)
                for other in self._by_name.get(name, []) if self._by_name else []:
                    if other.index > since and other in after:
                        after[other].add(stmt)
        waiting = {s: len(deps) for s, deps in after.items()}
        users: dict[_Stmt, list[_Stmt]] = {s: [] for s in live}
        for stmt, deps in after.items():
            for dep in deps:
                users[dep].append(stmt)
        ready = [(s.index, s) for s in live if waiting[s] == 0]
        heapq.heapify(ready)
        done: list[_Stmt] = []
        while ready:
            _, stmt = heapq.heappop(ready)
            done.append(stmt)
            for user in users[stmt]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (user.index, user))
        placed = set(done)
        return done + [s for s in live if s not in placed]  # a cycle: keep order


def _class_name(stmt: _Stmt) -> str:
    return stmt.node.name if isinstance(stmt.node, ast.ClassDef) else ""


def _is_stub_method(node: ast.stmt) -> bool:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = list(node.body)
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        body = body[1:]
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Return) and (
            stmt.value is None
            or (isinstance(stmt.value, ast.Constant) and stmt.value.value is None)
        ):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                continue
        return False
    return True


def _stub_methods(stmt: _Stmt, attached: set[str]) -> list[str]:
    """Stubbed methods of a class definition, or [] if it looks real."""
    assert isinstance(stmt.node, ast.ClassDef)
    methods = [
        m
        for m in stmt.node.body
        if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
        and m.name not in _PLAIN_METHODS
        and m.name not in attached
    ]
    stubs = [m.name for m in methods if _is_stub_method(m)]
    if stubs and (set(stubs) & _CORE_METHODS or len(stubs) == len(methods)):
        return stubs
    return []


def _ranges(numbers: list[int]) -> str:
    """'3, 5, 9-12' for [3, 5, 9, 10, 11, 12]."""
    values = sorted(set(numbers))
    parts: list[str] = []
    start = prev = values[0] if values else 0
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(parts) if values else ""


def _at(place: str, numbers: list[int]) -> str:
    """'cell 5' or 'cells 5, 8-9'."""
    plural = "s" if len(set(numbers)) > 1 else ""
    return f"{place}{plural} {_ranges(numbers)}"


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _label(stmt: _Stmt) -> str:
    if stmt.attach is not None:
        return ".".join(stmt.attach)
    kind = {"class": "class ", "def": "function "}.get(stmt.kind, "")
    return kind + ", ".join(sorted(stmt.binds)) if stmt.binds else kind.strip()


def _guarded(stmt: _Stmt) -> str:
    body = textwrap.indent(stmt.text, "    ")
    return f"try:\n{body}\nexcept ImportError:\n    pass"


def _emit(order: list[_Stmt], filename: str, place: str) -> str:
    name = os.path.basename(filename)
    out = [f"# Engine module built by gradcheck from {name}: definitions only."]
    futures = [s.text for s in order if s.kind == "future"]
    out.extend(dict.fromkeys(futures))
    where = None
    for stmt in order:
        if stmt.kind == "future":
            continue
        if stmt.where != where:
            out.append(f"\n# {place} {stmt.where}")
            where = stmt.where
        out.append(_guarded(stmt) if stmt.kind in ("import", "guard") else stmt.text)
    return "\n".join(out) + "\n"


def _parse_pick(pick: str | None) -> tuple[str | None, int | None]:
    if pick is None:
        return None, None
    match = _PICK.match(pick.strip())
    if match is None:
        raise SourceError(f"bad class choice {pick!r}: use Name or Name@CELL")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _apply_pick(
    found: _Collected, name: str, cell: int | None, path: str
) -> _Stmt | None:
    """Check the pick and drop later redefinitions; the picked statement."""
    defs = [s for s in found.stmts if _class_name(s) == name]
    if not defs:
        pattern = re.compile(rf"^class\s+{re.escape(name)}\b", re.MULTILINE)
        broken = [n for n, t in found.skipped_text.items() if pattern.search(t)]
        if broken:
            raise SourceError(
                f"class {name} is only in cells that do not parse: "
                f"cell {_ranges(broken)}"
            )
        classes = sorted({_class_name(s) for s in found.stmts if s.kind == "class"})
        listing = ", ".join(classes) if classes else "none"
        raise SourceError(f"no class {name} in {path} (classes: {listing})")
    if cell is None:
        return None
    chosen = [s for s in defs if s.where == cell]
    if not chosen:
        cells = _at("cell", [s.where for s in defs])
        raise SourceError(
            f"cell {cell} does not define class {name}; it is defined in {cells}"
        )
    picked = chosen[-1]
    found.stmts = [
        s for s in found.stmts if s.index <= picked.index or name not in s.binds
    ]
    return picked


def _build(
    found: _Collected,
    filename: str,
    place: str,
    name: str | None = None,
    picked: _Stmt | None = None,
) -> Source:
    builder = _Builder(found.stmts)
    builder.prune()
    for stmt, need, module in builder.removed:
        if stmt is picked:
            why = f"module {module} is not installed" if module else "nothing binds it"
            raise SourceError(
                f"{name} in {place} {stmt.where} cannot be defined: "
                f"it needs {need} ({why})"
            )
    order = builder.order(builder.live())
    notes: list[str] = []
    used = sorted({s.where for s in order})
    if place == "cell":
        notes.append(f"used {_at('cell', used)}" if used else "used no cells")
    else:
        notes.append(f"kept {_plural(len(order), 'definition', 'definitions')}")
    notes.extend(found.notes)
    if found.magics:
        notes.append(
            "dropped IPython magics, shell escapes and help lines "
            f"({_at(place, found.magics)})"
        )
    _left_out_note(found, builder, notes, place)
    _class_notes(found, builder, order, notes, place, name, picked)
    _import_notes(order, notes, place)
    return Source(
        text=_emit(order, filename, place),
        filename=filename,
        notes=notes,
        cells_used=used if place == "cell" else [],
    )


def _left_out_note(
    found: _Collected, builder: _Builder, notes: list[str], place: str
) -> None:
    total = sum(len(v) for v in found.left_out.values())
    if total:
        parts = [
            _plural(len(found.left_out[key]), *words)
            for key, words in _LEFT_OUT.items()
            if key in found.left_out
        ]
        where = [w for v in found.left_out.values() for w in v]
        notes.append(
            f"left out {_plural(total, 'statement', 'statements')} that run things: "
            f"{', '.join(parts)} ({_at(place, where)})"
        )
    unbound = []
    for stmt, need, module in builder.removed:
        label = f"{_label(stmt)} ({place} {stmt.where})"
        if module:
            notes.append(
                f"left out {label}: it needs {need}, and module {module} "
                "is not installed"
            )
        else:
            unbound.append(f"{label} needs {need}")
    if unbound:
        shown = "; ".join(unbound[:6]) + ("; ..." if len(unbound) > 6 else "")
        notes.append(
            f"left out {_plural(len(unbound), 'definition', 'definitions')} "
            f"using results of left-out statements: {shown}"
        )


def _class_notes(
    found: _Collected,
    builder: _Builder,
    order: list[_Stmt],
    notes: list[str],
    place: str,
    name: str | None,
    picked: _Stmt | None,
) -> None:
    kept = {_class_name(s): s for s in order if s.kind == "class"}
    every: dict[str, list[_Stmt]] = {}
    for stmt in found.stmts:
        if stmt.kind == "class":
            every.setdefault(_class_name(stmt), []).append(stmt)
    for cls, defs in sorted(every.items()):
        if len(defs) > 1 and cls in kept:
            how = ", as picked" if kept[cls] is picked else ""
            notes.append(
                f"{cls} from {place} {kept[cls].where}{how} "
                f"(of {len(defs)} definitions: {_at(place, [s.where for s in defs])})"
            )
    target = name or "Value"
    chosen = kept.get(target)
    if chosen is None:
        return
    attached = {
        s.attach[1]
        for s in order
        if s.attach is not None and builder.binder(s, target) is chosen
    }
    stubs = _stub_methods(chosen, attached)
    if not stubs:
        return
    earlier = [
        s
        for s in every.get(target, [])
        if s.index < chosen.index and s in builder.candidates
    ]
    real = [s for s in earlier if not _stub_methods(s, set())]
    hint = f", e.g. :{target}@{real[-1].where}" if real and place == "cell" else ""
    shown = ", ".join(stubs[:4]) + (", ..." if len(stubs) > 4 else "")
    notes.append(
        f"{target} in {place} {chosen.where} looks like an exercise stub "
        f"({shown} only pass or raise NotImplementedError); "
        f"pick another with :{target}@N{hint}"
    )


def _import_notes(order: list[_Stmt], notes: list[str], place: str) -> None:
    for stmt in order:
        by_module: dict[str, list[str]] = {}
        for bound, module in sorted(stmt.missing.items()):
            by_module.setdefault(module, []).append(bound)
        for module, names in by_module.items():
            users = [
                _label(other)
                for other in order
                if other is not stmt
                and any(
                    isinstance(n, ast.Name) and n.id in names
                    for n in ast.walk(other.node)
                )
            ]
            head = (
                f"import of {module} ({place} {stmt.where}) failed: "
                "module not installed"
            )
            if users:
                notes.append(
                    f"{head}; {', '.join(names)} is used by {', '.join(users[:4])}, "
                    "which will fail if called"
                )
            else:
                notes.append(f"{head}; the definitions do not need it")


# ---------------------------------------------------------------- public


def notebook_source(path: str, pick: str | None = None) -> Source:
    """Engine module source from a notebook's definitions.

    `pick` is a class name, or `Name@CELL` to use that cell's definition of it
    instead of the last one. Raises SourceError with a one-line message.
    """
    filename = os.fspath(path)
    name, cell = _parse_pick(pick)
    found = _collect(_code_cells(filename), from_notebook=True)
    picked = _apply_pick(found, name, cell, filename) if name else None
    return _build(found, filename, "cell", name, picked)


def definitions_only(text: str, filename: str) -> Source:
    """The definitions of a .py file whose import failed, as engine source."""
    if len(text) > MAX_BYTES:
        raise SourceError(f"{filename} is over {MAX_BYTES // (1024 * 1024)} MB")
    try:
        found = _collect([(1, text)], from_notebook=False)
    except SourceError as err:
        raise SourceError(f"cannot read {filename}: {err}") from err
    return _build(found, filename, "line")


def class_candidates(text: str) -> list[str]:
    """Names of the classes defined at the top level of `text`, in order."""
    tree, problem = _parse(text)
    if tree is None:
        raise SourceError(f"cannot parse: {problem}")
    names: list[str] = []
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.ClassDef) and stmt.name not in names:
            names.append(stmt.name)
        elif isinstance(stmt, (ast.If, ast.Try)):
            inner = [*stmt.body, *stmt.orelse]
            if isinstance(stmt, ast.Try):
                inner += [s for h in stmt.handlers for s in h.body] + stmt.finalbody
            stack.extend(reversed(inner))
    return names
