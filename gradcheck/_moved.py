"""Old import paths of modules that moved into the layer subpackages.

Before 2026-12 every module sat at the top of `gradcheck` (`gradcheck.judge`,
`gradcheck.engines`, ...). Scripts written against those paths keep working:
this finder answers an old name with the module at its new home, the same
module object, so monkeypatching either name patches both.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

MOVED = {
    "ops": "expr.ops",
    "graph": "expr.graph",
    "parser": "expr.parser",
    "symbolic": "refs.symbolic",
    "numeric": "refs.numeric",
    "tolerance": "refs.tolerance",
    "points": "refs.points",
    "references": "refs.references",
    "engines": "checking.engines",
    "judge": "checking.judge",
    "probes": "checking.probes",
    "stateful": "checking.stateful",
    "random_graphs": "checking.random_graphs",
    "check": "checking.check",
    "render": "output.render",
    "junit": "output.junit",
    "dot": "output.dot",
}


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module at its new home, unchanged."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.original_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.target)
        self.original_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system set the alias spec on the real module: undo that.
        module.__spec__ = self.original_spec


class MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves `gradcheck.<old>` to `gradcheck.<layer>.<old>`."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != "gradcheck" or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(
            fullname, _Alias(f"gradcheck.{MOVED[name]}")
        )


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
