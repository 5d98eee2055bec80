"""CORRECT engine that breaks math, SymPy and the recursion limit at import.

It keeps its own math (bound in hostile_base before this runs), then sets
every public math function to `lambda *a: 0`, hides SymPy from
sys.modules and lowers the recursion limit to 60. None of that may reach
the checker: the verdict must stay PASS.
"""

from __future__ import annotations

import math
import sys

from hostile_base import Value as _Base

for _name in dir(math):
    if not _name.startswith("_") and callable(getattr(math, _name)):
        setattr(math, _name, lambda *a: 0)
math.tanh = lambda x: 0
sys.modules["sympy"] = None  # type: ignore[assignment]
sys.modules["mpmath"] = None  # type: ignore[assignment]
sys.setrecursionlimit(60)


class Value(_Base):
    pass
