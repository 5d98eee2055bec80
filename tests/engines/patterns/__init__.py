"""The pattern engines: `base.py` plus, for each pattern, the edits that plant it.

A pattern is a way people write an engine that the checker must judge right:
a bug it must name (a set-ordered topological sort, a backward() that does
nothing), or an oddity of a correct engine it must not trip on (values that
are falsy at 0, nodes with no hash). Each one is `base.py` with a few
`(old, new)` text edits, applied by `gradcheck.mutants.apply_edits`, which
refuses an `old` text that does not occur exactly once: an edit to `base.py`
cannot silently turn a pattern into correct code or into another pattern.
The pattern's description replaces the base's docstring.

The checker loads engines from files, so the tests write each pattern out
with `write_all`. `leaf_only.py` stays a file of its own: it is a
minitorch-style `Scalar` (`.derivative`, `.parents`, a `chain` function per
node) with none of `Value`'s code, so as edits it would be a whole new file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gradcheck.mutants import apply_edits

__all__ = ["BASE", "FILES", "PATTERNS", "edits", "source", "write_all"]

HERE = Path(__file__).parent
BASE = (HERE / "base.py").read_text(encoding="utf-8")

# The engines that are real files here, loaded as they are.
FILES = {name: HERE / f"{name}.py" for name in ("base", "leaf_only")}

Edits = tuple[tuple[str, str], ...]


def _span(first: str, stop: str) -> str:
    """The text of `base.py` from `first` up to (not including) `stop`.

    For an edit that rewrites a whole block: the block is named by its ends
    rather than copied here line by line.
    """
    start = BASE.index(first)
    return BASE[start : BASE.index(stop, start)]


# backward() from its first line to its last.
_BACKWARD_BODY = _span("        topo, visited = [], set()\n", "\n    def __repr__")

_BUILD_TOPO_NOOP = """\
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

            self.grad = 1.0
            for node in reversed(topo):
                node._backward()
"""
_EVERY_PATH = """\
        # Each gradient is pushed down every path separately, as a share:
        # right values (the shares add up), but 2**n steps for y = y + y.
        start, total = {}, {}
        stack = [(self, 1.0)]
        while stack:
            node, share = stack.pop()
            for v in (node, *node._prev):
                if id(v) not in start:
                    start[id(v)] = (v, v.grad)
                    total[id(v)] = 0.0
            total[id(node)] += share
            if not node._prev:
                continue
            kids = list({id(child): child for child in node._prev}.values())
            for child in kids:
                child.grad = 0.0
            node.grad = share
            node._backward()
            for child in kids:
                uses = sum(1 for c in node._prev if c is child)
                for _ in range(uses):
                    stack.append((child, child.grad / uses))
        for v, before in start.values():
            v.grad = before + total[id(v)]
"""
_VISIT = """\
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev)
"""
_VISIT_ONCE_TOO_LATE = """\
                continue
            visited.add(node)
            stack.append((node, True))
            for child in node._prev:
                if child not in visited:
                    stack.append((child, False))
"""
_ID_SET = '''

class _IdSet:
    """A set of nodes by identity, since Value is unhashable."""

    def __init__(self):
        self._ids = set()

    def add(self, node):
        self._ids.add(id(node))

    def __contains__(self, node):
        return id(node) in self._ids


class Value:
'''
_EQ_BY_DATA = """\
    def __eq__(self, other):
        return isinstance(other, Value) and self.data == other.data

    def backward(self):
        topo, visited = [], _IdSet()
"""
_BOOL = """\
    def __bool__(self):
        return self.data != 0

    def __repr__(self):
"""

PATTERNS: dict[str, tuple[str, Edits]] = {
    "backward_noop": (
        "backward()'s loop is indented inside build_topo, which it never calls:\n"
        "backward() changes nothing, not even the output's gradient.",
        ((_BACKWARD_BODY, _BUILD_TOPO_NOOP),),
    ),
    "every_path": (
        "backward() pushes each gradient down every path, accumulating with `+=`:\n"
        "the gradients are right, but the time doubles with each y = y + y.",
        ((_BACKWARD_BODY, _EVERY_PATH),),
    ),
    "falsy_zero": (
        "A correct engine whose values are falsy at 0, as numbers are:\n"
        "the checker must never test a value's truth.",
        (("    def __repr__(self):\n", _BOOL),),
    ),
    "pow_overwrites_and_mul": (
        "Two bugs: `=` instead of `+=` in the backward of `**`, and a `*` whose\n"
        "backward forgets out.grad for its first operand. Both must be reported.",
        (
            ("self.grad += other.data * out.grad\n", "self.grad += other.data\n"),
            (
                "self.grad += n * self.data ** (n - 1) * out.grad\n",
                "self.grad = n * self.data ** (n - 1) * out.grad\n",
            ),
        ),
    ),
    "set_topo": (
        "The children are kept in a set, and the topological sort appends a node\n"
        "twice when two parents push it before its first visit. Whether that\n"
        "happens depends on the set's order, which changes from one build to the"
        " next.",
        (
            ("self._prev = tuple(_children)\n", "self._prev = set(_children)\n"),
            (_VISIT, _VISIT_ONCE_TOO_LATE),
        ),
    ),
    "unhashable": (
        "A correct engine whose `__eq__` compares data and so has no hash:\n"
        "its nodes cannot go into sets, and the checker must not need that.",
        (
            ("\n\nclass Value:\n", _ID_SET),
            (
                "    def backward(self):\n        topo, visited = [], set()\n",
                _EQ_BY_DATA,
            ),
        ),
    ),
}


def edits(name: str) -> Edits:
    """All the edits of pattern `name`, its docstring's first."""
    description, planted = PATTERNS[name]
    docstring = ast.get_docstring(ast.parse(BASE), clean=False)
    return ((f'"""{docstring}"""', f'"""{description}\n"""'), *planted)


def source(name: str) -> str:
    """The engine of pattern `name`: `base.py` with its edits applied."""
    return apply_edits(BASE, edits(name), f"pattern {name}")


def write_all(folder: Path) -> dict[str, Path]:
    """Write every pattern to `folder/<name>.py`; name -> file of every engine."""
    files = dict(FILES)
    for name in PATTERNS:
        files[name] = folder / f"{name}.py"
        files[name].write_text(source(name), encoding="utf-8")
    return files


def rebuild_counts(message: str) -> tuple[int, int]:
    """(failed, rebuilds) from the "fails in N of M rebuilds" in a message."""
    found = re.search(r"fails in (\d+) of (\d+) rebuilds", message)
    assert found, message
    return int(found[1]), int(found[2])
