"""Turn a learner's notebook, or a .py file that will not import, into engine source.

Learners write their engines in Jupyter: `Value` is redefined as the lecture goes
on, methods are attached in later cells (`Value.tanh = tanh`), helpers sit 39
cells after their use, and cells mix definitions with plots and training. Running
the notebook as a script fails on all of that, so this module keeps the
definitions only and says what it left out.

What is read: the code cells of a notebook of any version nbformat reads
(converted to v4, as Jupyter does), in order. Markdown and raw
cells are ignored even when they contain code. Cells are numbered as Jupyter
shows their position: 1-based over *all* cells, markdown included.

What is kept: imports (each wrapped so that a missing module binds nothing),
`try:` import guards, classes, functions, assignments whose value calls nothing
(`EPS = 1e-8`, `xs = [[2.0, 3.0]]`, `act = tanh`, lambdas), and methods attached
to a class defined earlier (`Value.tanh = tanh`, `setattr(Value, "tanh", tanh)`).
What is left out: expression statements (prints, plots, `loss.backward()`),
loops, `with` blocks, assignments from a call (`model = MLP(3, [4, 1])`),
in notebooks assignments that compute on names (`e = a*b; d = e + c`),
`if __name__ == "__main__":` blocks, IPython magics, shell escapes and help
lines. A name a left-out statement rebinds (`f = Value(-2.0)` after `def
f(x)`) ends the earlier definition there: what needs it later is left out.
`%%time`-style cell magics lose their first line only; cells in another
language (`%%bash`) are skipped; a `%%writefile x.py` body is read as Python.

The last definition of each name wins, unless something evaluated at definition
time between two definitions needs the earlier one (`class Value(Value):`, an
attachment): those stay, in notebook order. `pick="Value@12"` uses cell 12's
`Value` and drops the later ones. `from __future__` lines go first, and
every statement keeps where it came from (`Source.parts`), so that the
loader can run them one by one and name the cell and line of one that fails.

The work is done in stages, one module each: `notebook_cells` reads the cells
and drops IPython lines, `definition_filter` sorts each statement into kept or
left out, `definition_choice` picks the definitions to keep and their order, and
`source_notes` words what was left out. This module joins them and writes the
result; `source_model` holds what they share.

Runs inside the isolated worker: besides the standard library, only nbformat
is imported, and only when a notebook is read.
"""

from __future__ import annotations

import ast
import os
import textwrap

from gradcheck.internal.worker.definition_choice import (
    Builder,
    apply_pick,
    broken_cells,
    parse_pick,
)
from gradcheck.internal.worker.definition_filter import Collected, Stmt, collect
from gradcheck.internal.worker.notebook_cells import code_cells
from gradcheck.internal.worker.source_model import (
    Source,
    SourceError,
    counted,
    parse_python,
    places,
)
from gradcheck.internal.worker.source_notes import (
    class_notes,
    engine_needs,
    import_notes,
    left_out_note,
)

__all__ = [
    "MAX_BYTES",
    "Source",
    "SourceError",
    "class_candidates",
    "definitions_only",
    "notebook_source",
]

MAX_BYTES = 20 * 1024 * 1024
"""Bigger notebooks and files are refused: an engine is kilobytes, not megabytes."""


def _guarded(stmt: Stmt) -> str:
    body = textwrap.indent(stmt.text, "    ")
    return f"try:\n{body}\nexcept ImportError:\n    pass"


def _origin(stmt: Stmt, place: str) -> str:
    """'cell 8, line 2' (the line inside the cell) or 'line 40': where the
    statement's text starts, its decorators included."""
    decorators = getattr(stmt.node, "decorator_list", [])
    line = min([stmt.node.lineno, *(d.lineno for d in decorators)])
    if place != "cell":
        return f"{place} {line}"
    return f"cell {stmt.where}, line {line}"


def _emit(
    order: list[Stmt], filename: str, place: str
) -> tuple[str, list[tuple[int, str]]]:
    """The module text, and where each kept statement starts in it and came from.

    `from __future__` lines go first, whatever cell they were in.
    """
    name = os.path.basename(filename)
    out = [f"# Engine module built by gradcheck from {name}: definitions only."]
    futures = [s.text for s in order if s.kind == "future"]
    out.extend(dict.fromkeys(futures))
    parts: list[tuple[int, str]] = []
    line = sum(text.count("\n") + 1 for text in out) + 1
    where = None
    for stmt in order:
        if stmt.kind == "future":
            continue
        if stmt.where != where:
            out.append(f"\n# {place} {stmt.where}")
            line += 2
            where = stmt.where
        text = _guarded(stmt) if stmt.kind in ("import", "guard") else stmt.text
        parts.append((line, _origin(stmt, place)))
        out.append(text)
        line += text.count("\n") + 1
    return "\n".join(out) + "\n", parts


def _build(
    found: Collected,
    filename: str,
    place: str,
    name: str | None = None,
    picked: Stmt | None = None,
) -> Source:
    builder = Builder(found.stmts)
    builder.prune()
    for stmt, need, module in builder.removed:
        if stmt is picked:
            rebinder = builder.shadowed.get(stmt)
            if rebinder is not None:
                why = f"{place} {rebinder.where} rebinds it in a left-out statement"
            elif module:
                why = f"module {module} is not installed"
            else:
                why = "nothing binds it"
            raise SourceError(
                f"{name} in {place} {stmt.where} cannot be defined: "
                f"it needs {need} ({why})"
            )
    order = builder.order(builder.live())
    notes: list[str] = []
    used = sorted({s.where for s in order})
    if place == "cell":
        notes.append(f"used {places('cell', used)}" if used else "used no cells")
    else:
        notes.append(f"kept {counted(len(order), 'definition', 'definitions')}")
    notes.extend(found.notes)
    if found.magics:
        notes.append(
            "dropped IPython magics, shell escapes and help lines "
            f"({places(place, found.magics)})"
        )
    left_out_note(found, builder, notes, place)
    class_notes(found, builder, order, notes, place, name, picked)
    import_notes(order, notes, place)
    text, parts = _emit(order, filename, place)
    return Source(
        text=text,
        filename=filename,
        notes=notes,
        cells_used=used if place == "cell" else [],
        parts=parts,
        engine_needs=engine_needs(builder, order, place, name or "Value"),
    )


def notebook_source(path: str, pick: str | None = None) -> Source:
    """Engine module source from a notebook's definitions.

    `pick` is a class name, or `Name@CELL` to use that cell's definition of it
    instead of the last one. Raises SourceError with a one-line message.
    """
    filename = os.fspath(path)
    name, cell = parse_pick(pick)
    found = collect(code_cells(filename, MAX_BYTES), from_notebook=True)
    if name is None and not _engine_like_class(found):
        # No class in the cells that parse could be the engine: if a `Value`
        # sits in a cell that does not parse, that is the cell to name.
        broken = broken_cells(found, "Value")
        if broken:
            raise SourceError(
                f"class Value is only in cells that do not parse: cell {broken}"
            )
    picked = apply_pick(found, name, cell, filename) if name else None
    return _build(found, filename, "cell", name, picked)


def _engine_like_class(found: Collected) -> bool:
    """Whether a parsed class defines arithmetic or a backward of its own."""
    for stmt in found.stmts:
        node = stmt.node
        if isinstance(node, ast.ClassDef) and any(
            isinstance(m, ast.FunctionDef)
            and m.name in ("__add__", "__mul__", "backward")
            for m in node.body
        ):
            return True
    return False


def definitions_only(text: str, filename: str) -> Source:
    """The definitions of a .py file whose import failed, as engine source."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SourceError(f"{filename} is over {MAX_BYTES // (1024 * 1024)} MB")
    try:
        found = collect([(1, text)], from_notebook=False)
    except SourceError as err:
        raise SourceError(f"cannot read {filename}: {err}") from err
    return _build(found, filename, "line")


def class_candidates(text: str) -> list[str]:
    """Names of the classes defined at the top level of `text`, in order."""
    tree, problem = parse_python(text)
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
