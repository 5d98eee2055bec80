"""Which kept definitions make the engine module, and in what order.

The last definition of each name wins, unless something evaluated at definition
time needs an earlier one; definitions needing names that nothing kept binds are
left out; a notebook run out of order is reordered only where it must be. Also
here: the `Name@CELL` pick among several definitions of a class, and spotting a
class whose methods are exercise stubs.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import heapq
import re

from gradcheck.internal.worker.definition_filter import Collected, Stmt
from gradcheck.internal.worker.source_model import SourceError, number_ranges, places

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
_PICK = re.compile(r"^([A-Za-z_]\w*)(?:@(\d+))?$")
_CORE_METHODS = frozenset({"__add__", "__mul__", "backward"})
_PLAIN_METHODS = frozenset({"__init__", "__repr__", "__str__"})


class Builder:
    """Chooses the statements to keep, their order, and the notices about them."""

    def __init__(self, stmts: list[Stmt]) -> None:
        self.candidates = list(stmts)
        self.removed: list[tuple[Stmt, str, str]] = []  # stmt, name, why
        # Removed statements whose name was rebound by a left-out statement.
        self.shadowed: dict[Stmt, Stmt] = {}
        self._by_name: dict[str, list[Stmt]] | None = None

    def binder(self, stmt: Stmt, name: str) -> Stmt | None:
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

    def _unmet(self, stmt: Stmt, star: bool) -> tuple[str, str] | None:
        if stmt.kind == "dropped":
            return None
        for name in sorted(stmt.needs):
            source = self.binder(stmt, name)
            if source is None:
                if name in _BUILTIN_NAMES or star:
                    continue
                return name, ""
            if source.kind == "dropped":
                self._note_shadow(stmt, source, name)
                return name, ""
            if name in source.missing:
                return name, source.missing[name]
        if stmt.attach is not None:
            source = self.binder(stmt, stmt.attach[0])
            if source is not None and source.kind == "dropped":
                self._note_shadow(stmt, source, stmt.attach[0])
            if source is None or source.kind != "class" or source.index > stmt.index:
                return stmt.attach[0], ""
        return None

    def _note_shadow(self, stmt: Stmt, dropped: Stmt, name: str) -> None:
        """Remember that a kept binding of `name` was rebound by `dropped`."""
        kept = [
            s
            for s in self.candidates
            if name in s.binds and s.kind != "dropped" and s.index < dropped.index
        ]
        if kept:
            self.shadowed[stmt] = dropped

    def live(self) -> list[Stmt]:
        """Last binders of every name, plus what they and attachments need."""
        final: dict[str, Stmt] = {}
        for stmt in self.candidates:
            for name in stmt.binds:
                final[name] = stmt
        live = {s for s in final.values() if s.kind != "dropped"}
        live |= {s for s in self.candidates if s.kind == "future"}
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
                    if source is None or source.kind == "dropped":
                        continue
                    if source not in live:
                        live.add(source)
                        changed = True
        return [s for s in self.candidates if s in live]

    def order(self, live: list[Stmt]) -> list[Stmt]:
        """Notebook order, moved only where a definition needs a later binding."""
        after: dict[Stmt, set[Stmt]] = {s: set() for s in live}
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
        users: dict[Stmt, list[Stmt]] = {s: [] for s in live}
        for stmt, deps in after.items():
            for dep in deps:
                users[dep].append(stmt)
        ready = [(s.index, s) for s in live if waiting[s] == 0]
        heapq.heapify(ready)
        done: list[Stmt] = []
        while ready:
            _, stmt = heapq.heappop(ready)
            done.append(stmt)
            for user in users[stmt]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (user.index, user))
        placed = set(done)
        return done + [s for s in live if s not in placed]  # a cycle: keep order


def class_name(stmt: Stmt) -> str:
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


def stub_methods(stmt: Stmt, attached: set[str]) -> list[str]:
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


def parse_pick(pick: str | None) -> tuple[str | None, int | None]:
    if pick is None:
        return None, None
    match = _PICK.match(pick.strip())
    if match is None:
        raise SourceError(f"bad class choice {pick!r}: use Name or Name@CELL")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def broken_cells(found: Collected, name: str) -> str:
    """The cells that do not parse and define class `name` ("2, 5-6"), or ""."""
    pattern = re.compile(rf"^class\s+{re.escape(name)}\b", re.MULTILINE)
    broken = [n for n, t in found.skipped_text.items() if pattern.search(t)]
    return number_ranges(broken) if broken else ""


def apply_pick(found: Collected, name: str, cell: int | None, path: str) -> Stmt | None:
    """Check the pick and drop later redefinitions; the picked statement."""
    defs = [s for s in found.stmts if class_name(s) == name]
    if not defs:
        broken = broken_cells(found, name)
        if broken:
            raise SourceError(
                f"class {name} is only in cells that do not parse: cell {broken}"
            )
        classes = sorted({class_name(s) for s in found.stmts if s.kind == "class"})
        listing = ", ".join(classes) if classes else "none"
        raise SourceError(f"no class {name} in {path} (classes: {listing})")
    if cell is None:
        return None
    chosen = [s for s in defs if s.where == cell]
    if not chosen:
        cells = places("cell", [s.where for s in defs])
        raise SourceError(
            f"cell {cell} does not define class {name}; it is defined in {cells}"
        )
    picked = chosen[-1]
    found.stmts = [
        s for s in found.stmts if s.index <= picked.index or name not in s.binds
    ]
    return picked
