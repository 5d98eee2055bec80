"""The package's layers point one way: no import cycle, no upward import.

Imports are read with `ast` (every `import` and `from ... import` in a
module, at any depth, functions included), except those under
`if TYPE_CHECKING:`, which never run. `docs/architecture.md` draws the same
layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gradcheck"

# Lowest first: a module may import its own layer and those below it only.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "basics",
        (
            "gradcheck.errors",
            "gradcheck.seeds",
            "gradcheck.internal.checking.family_names",
        ),
    ),
    (
        "expression model",
        ("gradcheck.internal.expr", "gradcheck.internal.tensor.program"),
    ),
    ("references", ("gradcheck.internal.refs", "gradcheck.strategies")),
    ("report data", ("gradcheck.report",)),
    ("engine boundary", ("gradcheck.internal.worker",)),
    (
        "engine client",
        (
            "gradcheck.internal.checking.answers",
            "gradcheck.internal.checking.targets",
            "gradcheck.internal.checking.supervisor",
            "gradcheck.internal.checking.engine_client",
            "gradcheck.internal.checking.worker_client",
            "gradcheck.internal.checking.method_forms",
            "gradcheck.internal.tensor.engine",
        ),
    ),
    (
        "checking",
        (
            "gradcheck.internal.checking",
            "gradcheck.internal.tensor",
            "gradcheck.mutants",
        ),
    ),
    ("output", ("gradcheck.internal.output",)),
    (
        "front ends",
        (
            "gradcheck.check",
            "gradcheck.cli",
            "gradcheck.pytest_plugin",
            "gradcheck.assertions",
            "gradcheck",
        ),
    ),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """The index of the most specific prefix in LAYERS that names `module`."""
    best, best_length = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            named = module == prefix or module.startswith(prefix + ".")
            if named and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def _type_checking_only(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> set[str]:
    """The package's modules that `module` imports at run time."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        stack.extend(ast.iter_child_nodes(node))
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        found.update(n for n in names if n in MODULES and n != module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) < 0] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_upward_import(module: str) -> None:
    own = layer_of(module)
    upward = sorted(
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for target in GRAPH[module]
        if layer_of(target) > own and target != "gradcheck"
    )
    assert upward == [], f"{module} ({LAYERS[own][0]}) imports upward"


def test_no_import_cycle() -> None:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert cycles == []


def test_the_checker_never_imports_the_engine_package() -> None:
    """Nothing that computes a reference or judges imports micrograd."""
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "micrograd" for n in names), module


# The public surface: what a user may import. Anything else is machinery and
# belongs under gradcheck/internal/, so that the top level reads at a glance.
PUBLIC_TOP_LEVEL = {
    "__init__.py",
    "__main__.py",
    "assertions.py",
    "cli",
    "errors.py",
    "internal",
    "mutants",
    "py.typed",
    "pytest_plugin.py",
    "report.py",
    "schemas",
    "seeds.py",
    "strategies.py",
}


def test_the_top_level_holds_the_public_surface_only():
    entries = {
        p.name
        for p in PACKAGE.iterdir()
        if p.name != "__pycache__" and not p.name.endswith(".pyc")
    }
    assert entries - PUBLIC_TOP_LEVEL == set(), "machinery goes under internal/"


def test_every_name_the_docs_show_imports():
    """Dotted `gradcheck....` names in docs/ and the README resolve."""
    import importlib
    import re

    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    names = set()
    for path in texts:
        if path.name == "changelog.md":  # history names what was, not what is
            continue
        names |= set(re.findall(r"`(gradcheck(?:\.[A-Za-z_]\w*)+)", path.read_text()))
    unresolved = []
    for name in sorted(names):
        if name.startswith("gradcheck.engine."):  # a JUnit class name, not a module
            continue
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attr in parts[cut:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                unresolved.append(name)
            break
        else:
            unresolved.append(name)
    assert unresolved == []


# The parsers (the expression grammar, the command line's options) and the
# mutant gallery are tables that read best whole.
LONG_ALLOWED = {
    "gradcheck.internal.expr.parser",
    "gradcheck.cli.parser",
    "gradcheck.mutants.catalogue",
}
MAX_LINES = 500


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_says_its_job_and_stays_short(module):
    path = MODULES[module]
    text = path.read_text()
    if module.startswith("gradcheck.mutants.engines"):
        return  # engine source read as data, not a module of the checker
    assert ast.get_docstring(ast.parse(text)), f"{module} has no docstring"
    if module not in LONG_ALLOWED:
        lines = text.count("\n")
        assert lines <= MAX_LINES, f"{module}: {lines} lines; split it by job"
