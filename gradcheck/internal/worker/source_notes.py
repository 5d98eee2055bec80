"""The notes that say what was left out of the engine module, and why.

Counts of left-out statements by category, definitions that lost what they
needed, which of several class definitions was used, a class that looks like an
exercise stub, and imports of modules that are not installed.
"""

from __future__ import annotations

import ast

from gradcheck.internal.worker.definition_choice import (
    Builder,
    class_name,
    stub_methods,
)
from gradcheck.internal.worker.definition_filter import Collected, Stmt
from gradcheck.internal.worker.source_model import counted, places

# Left-out categories: (singular, plural), in the order the note lists them.
_LEFT_OUT = {
    "loop": ("loop", "loops"),
    "plot": ("plot or drawing", "plots or drawings"),
    "print": ("print", "prints"),
    "backward": ("backward() call", "backward() calls"),
    "expr": ("other expression", "other expressions"),
    "call": ("assignment from a call", "assignments from calls"),
    "compute": ("computation on earlier results", "computations on earlier results"),
    "with": ("with-block", "with-blocks"),
    "main": ('if __name__ == "__main__" block', 'if __name__ == "__main__" blocks'),
    "other": ("other statement", "other statements"),
}


def _label(stmt: Stmt) -> str:
    if stmt.attach is not None:
        return ".".join(stmt.attach)
    kind = {"class": "class ", "def": "function "}.get(stmt.kind, "")
    return kind + ", ".join(sorted(stmt.binds)) if stmt.binds else kind.strip()


def left_out_note(
    found: Collected, builder: Builder, notes: list[str], place: str
) -> None:
    total = sum(len(v) for v in found.left_out.values())
    if total:
        parts = [
            counted(len(found.left_out[key]), *words)
            for key, words in _LEFT_OUT.items()
            if key in found.left_out
        ]
        where = [w for v in found.left_out.values() for w in v]
        notes.append(
            f"left out {counted(total, 'statement', 'statements')} that run things: "
            f"{', '.join(parts)} ({places(place, where)})"
        )
    unbound = []
    for stmt, need, module in builder.removed:
        label = f"{_label(stmt)} ({place} {stmt.where})"
        rebinder = builder.shadowed.get(stmt)
        if rebinder is not None:
            notes.append(
                f"left out {label}: it needs {need}, which {place} "
                f"{rebinder.where} rebinds in a statement that was left out"
            )
        elif module:
            notes.append(
                f"left out {label}: it needs {need}, and module {module} "
                "is not installed"
            )
        else:
            unbound.append(f"{label} needs {need}")
    if unbound:
        shown = "; ".join(unbound[:6]) + ("; ..." if len(unbound) > 6 else "")
        notes.append(
            f"left out {counted(len(unbound), 'definition', 'definitions')} "
            f"using results of left-out statements: {shown}"
        )


def class_notes(
    found: Collected,
    builder: Builder,
    order: list[Stmt],
    notes: list[str],
    place: str,
    name: str | None,
    picked: Stmt | None,
) -> None:
    kept = {class_name(s): s for s in order if s.kind == "class"}
    every: dict[str, list[Stmt]] = {}
    for stmt in found.stmts:
        if stmt.kind == "class":
            every.setdefault(class_name(stmt), []).append(stmt)
    for cls, defs in sorted(every.items()):
        if len(defs) > 1 and cls in kept:
            how = ", as picked" if kept[cls] is picked else ""
            where = places(place, [s.where for s in defs])
            notes.append(
                f"{cls} from {place} {kept[cls].where}{how} "
                f"(of {len(defs)} definitions: {where})"
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
    stubs = stub_methods(chosen, attached)
    if not stubs:
        return
    earlier = [
        s
        for s in every.get(target, [])
        if s.index < chosen.index and s in builder.candidates
    ]
    real = [s for s in earlier if not stub_methods(s, set())]
    hint = f", e.g. :{target}@{real[-1].where}" if real and place == "cell" else ""
    shown = ", ".join(stubs[:4]) + (", ..." if len(stubs) > 4 else "")
    notes.append(
        f"{target} in {place} {chosen.where} looks like an exercise stub "
        f"({shown} only pass or raise NotImplementedError); "
        f"pick another with :{target}@N{hint}"
    )


def import_notes(order: list[Stmt], notes: list[str], place: str) -> None:
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


_ENGINE_METHODS = frozenset(
    {"__add__", "__mul__", "backward", "backwards", "backprop", "backward_pass"}
)


# Methods that every check needs: a missing module used in one stops it all.
# One used only by tanh or a drawing method is that op's failure, or none.
_CORE = _ENGINE_METHODS | {"__init__", "__radd__", "__rmul__", "data", "grad"}


def _engine_shaped(stmt: Stmt) -> bool:
    """A class defining arithmetic or backward: a missing module there is fatal."""
    if not isinstance(stmt.node, ast.ClassDef):
        return False
    names = {
        m.name
        for m in stmt.node.body
        if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    return bool(names & _ENGINE_METHODS)


def engine_needs(
    builder: Builder, order: list[Stmt], place: str, target: str = "Value"
) -> dict[str, list[str]]:
    """Module not installed -> engine classes that need it, with where they are.

    The engine class itself imported from it (`target`), a class left out
    because a definition-time name comes from the module, or a kept class
    whose constructor, `+`, `*` or backward use such a name when they run.
    """
    needs: dict[str, list[str]] = {}
    binders = [s for s in order if target in s.binds]
    if binders and target in binders[-1].missing:  # the engine itself
        last = binders[-1]
        needs[last.missing[target]] = [f"{target} ({place} {last.where})"]
    for stmt, _, module in builder.removed:
        if module and _engine_shaped(stmt):
            label = f"{_label(stmt)} ({place} {stmt.where})"
            needs.setdefault(module, []).append(label)
    missing: dict[str, str] = {}
    for stmt in order:
        missing.update(stmt.missing)
    if not missing:
        return needs
    for stmt in order:
        if not _engine_shaped(stmt):
            continue
        assert isinstance(stmt.node, ast.ClassDef)
        core = [
            m
            for m in stmt.node.body
            if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
            and m.name in _CORE
        ]
        used = {
            n.id
            for m in core
            for n in ast.walk(m)
            if isinstance(n, ast.Name) and n.id in missing
        }
        for name in sorted(used):
            label = f"{_label(stmt)} ({place} {stmt.where})"
            if label not in needs.setdefault(missing[name], []):
                needs[missing[name]].append(label)
    return needs
