"""The definitions-only filter: what each top-level statement is.

Every statement of every cell is either kept (an import, a class, a function, a
constant, a guard, a method attached to a class) or left out in a category the
notes count (a loop, a plot, a print, an assignment from a call, ...). Kept
statements record the names they bind and the names they read while they run,
which is all the later stages need to choose and order them.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass, field

from gradcheck.internal.worker.notebook_cells import clean_cell
from gradcheck.internal.worker.source_model import SourceError, parse_python

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


@dataclass(eq=False)
class Stmt:
    """A kept top-level statement with what it binds and needs at definition time."""

    index: int
    where: int
    node: ast.stmt
    # import, future, def, class, const, attach, guard; or "dropped": a
    # left-out statement's bindings, kept only so that nothing earlier
    # outlives them (never emitted).
    kind: str
    text: str
    binds: frozenset[str]
    needs: frozenset[str]
    attach: tuple[str, str] | None = None
    missing: dict[str, str] = field(default_factory=dict)
    star: bool = False


@dataclass
class Collected:
    """Everything the classification pass found, for the build and the notes."""

    stmts: list[Stmt] = field(default_factory=list)
    left_out: dict[str, list[int]] = field(default_factory=dict)
    magics: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped_text: dict[int, str] = field(default_factory=dict)


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


def _computes(value: ast.AST) -> bool:
    """True when the value is arithmetic or logic on names (`e = a * b`).

    Literals, names, attributes, containers and lambdas are definitions;
    `2 ** 10` and `-1.0` compute on constants only, and `int | float` is a
    type, so they are definitions too.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Lambda):
            continue
        operating = isinstance(
            item,
            (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.JoinedStr),
        )
        if isinstance(item, ast.BinOp) and isinstance(item.op, ast.BitOr):
            operating = False
        if operating and any(isinstance(n, ast.Name) for n in ast.walk(item)):
            return True
        stack.extend(ast.iter_child_nodes(item))
    return False


def _function_header(node: ast.AST, lazy: bool = False) -> list[ast.AST]:
    """The parts of a def or lambda evaluated when it is defined.

    `lazy`: annotations are not evaluated (`from __future__ import annotations`).
    """
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
    args = node.args
    parts: list[ast.AST] = [*args.defaults]
    parts.extend(d for d in args.kw_defaults if d is not None)
    if isinstance(node, ast.Lambda):
        return parts
    parts.extend(node.decorator_list)
    if lazy:
        return parts
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every.extend(a for a in (args.vararg, args.kwarg) if a is not None)
    parts.extend(a.annotation for a in every if a.annotation is not None)
    if node.returns is not None:
        parts.append(node.returns)
    return parts


def _definition_time_names(stmt: ast.stmt, lazy: bool = False) -> frozenset[str]:
    """Global names read while the statement runs (not later, at call time).

    `lazy`: annotations are strings (`from __future__ import annotations`).
    """
    loads: set[str] = set()
    local: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(stmt, False)]
    while stack:
        node, inner = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if inner and not isinstance(node, ast.Lambda):
                local.add(node.name)
            header = _function_header(node, lazy)
            stack.extend((part, inner) for part in header)
            continue
        if lazy and isinstance(node, ast.AnnAssign):
            parts = [node.target] + ([node.value] if node.value else [])
            stack.extend((part, inner) for part in parts)
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


def _has_lazy_annotations(trees: list[ast.Module]) -> bool:
    """`from __future__ import annotations` anywhere: it is hoisted to the top."""
    return any(
        isinstance(stmt, ast.ImportFrom)
        and stmt.module == "__future__"
        and any(alias.name == "annotations" for alias in stmt.names)
        for tree in trees
        for stmt in tree.body
    )


def _dropped_binds(stmt: ast.stmt, category: str) -> frozenset[str]:
    """Names a left-out statement would have rebound when the notebook ran.

    A name the statement also reads is left alone: `Value = dataclass(Value)`
    or `lr = lr * 0.9` change what the name holds, they do not replace it.
    """
    if category == "main":  # not run on import
        return frozenset()
    reads = {
        n.id
        for n in ast.walk(stmt)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return _bound_names(stmt) - reads


def collect(cells: list[tuple[int, str]], from_notebook: bool) -> Collected:
    """Clean, parse and classify every top-level statement of every cell.

    In a notebook, an assignment that computes on names (`e = a * b`) is
    scratch work, not a definition. A left-out statement that binds names
    (`f = Value(-2.0)` after `def f(x)`) stays as a "dropped" marker so that
    an earlier definition of the name does not silently outlive it.
    """
    found = Collected()
    parsed: list[tuple[int, str, ast.Module]] = []
    for number, raw in cells:
        if not raw.strip():
            continue
        text: str | None = raw
        if from_notebook:
            text, dropped, notice = clean_cell(raw)
            if notice and text is None:
                found.notes.append(f"skipped cell {number}: {notice}")
            elif notice:
                found.notes.append(f"cell {number}: {notice}")
            if dropped:
                found.magics.append(number)
        if text is None:
            continue
        tree, problem = parse_python(text)
        if tree is None:
            if not from_notebook:
                raise SourceError(f"cannot parse: {problem}")
            found.notes.append(f"skipped cell {number}: {problem}")
            found.skipped_text[number] = text
            continue
        parsed.append((number, text, tree))
    lazy = _has_lazy_annotations([tree for _, _, tree in parsed])
    for number, text, tree in parsed:
        for stmt in tree.body:
            where = number if from_notebook else stmt.lineno
            kind, attach = _kind(stmt)
            if (
                from_notebook
                and kind == "const"
                and isinstance(stmt, (ast.Assign, ast.AnnAssign))
                and stmt.value is not None
                and _computes(stmt.value)
            ):
                kind = "out:compute"
            if kind == "silent":
                continue
            if kind == "magic":
                found.magics.append(where)
                continue
            if kind.startswith("out:"):
                found.left_out.setdefault(kind[4:], []).append(where)
                binds = _dropped_binds(stmt, kind[4:])
                if binds:
                    found.stmts.append(
                        Stmt(
                            len(found.stmts),
                            where,
                            stmt,
                            "dropped",
                            "",
                            binds,
                            frozenset(),
                        )
                    )
                continue
            found.stmts.append(
                _make_stmt(len(found.stmts), where, stmt, kind, text, lazy)
            )
            found.stmts[-1].attach = attach
    return found


def _make_stmt(
    index: int, where: int, stmt: ast.stmt, kind: str, text: str, lazy: bool
) -> Stmt:
    item = Stmt(
        index=index,
        where=where,
        node=stmt,
        kind=kind,
        text=_segment(text, stmt),
        binds=_bound_names(stmt) if kind != "attach" else frozenset(),
        needs=_definition_time_names(stmt, lazy),
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
