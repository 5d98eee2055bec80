"""Pattern engines whose hints were once false: each bug must be named for what it is.

Like `PATTERNS` in `__init__.py`, each engine is `base.py` plus `(old, new)`
text edits applied by `gradcheck.mutants.apply_edits`. Most of them first
give the base engine two more ops, a gelu (erf form) and `**` with a Value
exponent, written correctly (`_EXTRA`), and then plant one bug:

* `exp_self_backward`: exp sets `self._backward`, not `out._backward`;
* `pow_base_only`: `**` records only the base as a child and gives the
  exponent no gradient;
* `gelu_self_backward`: gelu overwrites its input's backward function;
* `mul_self_backward`: `*` does the same to its first operand;
* `visited_by_data`: the topological sort's visited set holds `.data`;
* `set_topo_and_tanh`: a set-ordered topological sort (as `set_topo`)
  beside a wrong tanh derivative, so no order of the set gets it right;
* `extended`: the extra ops and nothing wrong, for the tests that a correct
  engine gets no hint.
"""

from __future__ import annotations

import ast
from pathlib import Path

from engines.patterns import BASE
from gradcheck.mutants import apply_edits

__all__ = ["HINT_PATTERNS", "edits", "source", "write_all"]

Edits = tuple[tuple[str, str], ...]

_POW_NUMBER = """\
    def __pow__(self, n):
        assert isinstance(n, (int, float))
        out = Value(self.data**n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out
"""
_POW_EITHER = """\
    def __pow__(self, n):
        if isinstance(n, Value):
            out = Value(self.data**n.data, (self, n), "**")

            def _backward():
                self.grad += n.data * self.data ** (n.data - 1) * out.grad
                n.grad += out.data * math.log(self.data) * out.grad

            out._backward = _backward
            return out
        out = Value(self.data**n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def gelu(self):
        x = self.data
        out = Value(0.5 * x * (1 + math.erf(x / math.sqrt(2))), (self,), "gelu")

        def _backward():
            cdf = 0.5 * (1 + math.erf(x / math.sqrt(2)))
            pdf = math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            self.grad += (cdf + x * pdf) * out.grad

        out._backward = _backward
        return out
"""
# The extra ops, right: `**` with a Value exponent, and gelu.
_EXTRA: Edits = ((_POW_NUMBER, _POW_EITHER),)

_EXP_RIGHT = """\
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        out._backward = _backward
"""
_EXP_ON_SELF = """\
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad

        self._backward = _backward
"""
_POW_BOTH = """\
            out = Value(self.data**n.data, (self, n), "**")

            def _backward():
                self.grad += n.data * self.data ** (n.data - 1) * out.grad
                n.grad += out.data * math.log(self.data) * out.grad
"""
_POW_BASE_ONLY = """\
            out = Value(self.data**n.data, (self,), "**")

            def _backward():
                self.grad += n.data * self.data ** (n.data - 1) * out.grad
"""
_GELU_OUT = """\
            self.grad += (cdf + x * pdf) * out.grad

        out._backward = _backward
"""
_GELU_ON_SELF = """\
            self.grad += (cdf + x * pdf) * out.grad

        self._backward = _backward
"""
_VISIT_BY_IDENTITY = """\
            elif node not in visited:
                visited.add(node)
"""
_VISIT_BY_DATA = """\
            elif node.data not in visited:
                visited.add(node.data)
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
_MUL_OUT = """\
            other.grad += self.data * out.grad

        out._backward = _backward
"""
_MUL_ON_SELF = """\
            other.grad += self.data * out.grad

        self._backward = _backward
"""
_SET_TOPO: Edits = (
    ("self._prev = tuple(_children)\n", "self._prev = set(_children)\n"),
    (_VISIT, _VISIT_ONCE_TOO_LATE),
)

HINT_PATTERNS: dict[str, tuple[str, Edits]] = {
    "extended": (
        "A correct engine with gelu and `**` with a Value exponent: no hint at all.",
        _EXTRA,
    ),
    "exp_self_backward": (
        "exp() sets `self._backward` instead of `out._backward`: exp's own\n"
        "gradient is lost and its input's backward is replaced. Right by\n"
        "accident when the input is a leaf, wrong when it is computed.",
        (*_EXTRA, (_EXP_RIGHT, _EXP_ON_SELF)),
    ),
    "pow_base_only": (
        "`**` with a Value exponent records only the base as a child and gives\n"
        "the exponent no gradient at all: d/dy of x**y is exactly 0.",
        (*_EXTRA, (_POW_BOTH, _POW_BASE_ONLY)),
    ),
    "gelu_self_backward": (
        "gelu() assigns its backward to its input (`self._backward`), replacing\n"
        "the input's own: right on a leaf, wrong on a computed input.",
        (*_EXTRA, (_GELU_OUT, _GELU_ON_SELF)),
    ),
    "mul_self_backward": (
        "`*` assigns its backward to its first operand (`self._backward`): right\n"
        "when that operand is a leaf, and it replaces the backward of a computed\n"
        "one, as in (x + y) * z. `x * 2` goes through the same `__mul__`.",
        ((_MUL_OUT, _MUL_ON_SELF),),
    ),
    "visited_by_data": (
        "The topological sort's visited set holds each node's `.data`: two\n"
        "distinct nodes with equal values count as one, and the second is\n"
        "never visited.",
        (*_EXTRA, (_VISIT_BY_IDENTITY, _VISIT_BY_DATA)),
    ),
    "set_topo_and_tanh": (
        "A set-ordered topological sort that sometimes appends a node twice\n"
        "(as the `set_topo` pattern), and a tanh derivative of `1 - t`: no\n"
        "order of the set gets tanh right.",
        (
            *_SET_TOPO,
            (
                "self.grad += (1 - t * t) * out.grad\n",
                "self.grad += (1 - t) * out.grad\n",
            ),
        ),
    ),
}


def edits(name: str) -> Edits:
    """All the edits of pattern `name`, its docstring's first."""
    description, planted = HINT_PATTERNS[name]
    docstring = ast.get_docstring(ast.parse(BASE), clean=False)
    return ((f'"""{docstring}"""', f'"""{description}\n"""'), *planted)


def source(name: str) -> str:
    """The engine of pattern `name`: `base.py` with its edits applied."""
    return apply_edits(BASE, edits(name), f"pattern {name}")


def write_all(folder: Path) -> dict[str, Path]:
    """Write every pattern here to `folder/<name>.py`; name -> file."""
    files = {}
    for name in HINT_PATTERNS:
        files[name] = folder / f"{name}.py"
        files[name].write_text(source(name), encoding="utf-8")
    return files
