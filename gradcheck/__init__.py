"""gradcheck: prove the gradients of a scalar autograd engine right or wrong.

Compares an engine's backprop with two independent references (SymPy
symbolic derivatives and 80-digit mpmath finite differences) on targeted
probes and on random expression graphs, and explains every failure.

Names are imported on first use (PEP 562), so that `import gradcheck` (by
the pytest plugin, or `gradcheck --help`) costs almost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradcheck.assertions import assert_function_gradients, assert_gradients
    from gradcheck.errors import (
        EngineError,
        ExpressionError,
        FunctionError,
        GradcheckError,
        PointError,
        UsageError,
    )
    from gradcheck.internal.checking.check import check_engine, check_expression
    from gradcheck.internal.checking.engine_client import Engine, load_engine
    from gradcheck.internal.checking.functions import check_function
    from gradcheck.internal.expr.graph import Graph, GraphBuilder, Node
    from gradcheck.internal.expr.parser import parse
    from gradcheck.report import (
        CATEGORIES,
        Check,
        Counterexample,
        EngineReport,
        ExpressionReport,
        ExpressionResult,
        FunctionReport,
        GradientRow,
    )

__version__ = "0.1.0"

_HOMES = {
    "assert_function_gradients": "assertions",
    "assert_gradients": "assertions",
    "check_function": "internal.checking.functions",
    "check_engine": "internal.checking.check",
    "check_expression": "internal.checking.check",
    "Engine": "internal.checking.engine_client",
    "load_engine": "internal.checking.engine_client",
    "EngineError": "errors",
    "ExpressionError": "errors",
    "FunctionError": "errors",
    "GradcheckError": "errors",
    "PointError": "errors",
    "UsageError": "errors",
    "Graph": "internal.expr.graph",
    "GraphBuilder": "internal.expr.graph",
    "Node": "internal.expr.graph",
    "parse": "internal.expr.parser",
    "CATEGORIES": "report",
    "Check": "report",
    "Counterexample": "report",
    "EngineReport": "report",
    "ExpressionReport": "report",
    "ExpressionResult": "report",
    "FunctionReport": "report",
    "GradientRow": "report",
}

__all__ = [
    "CATEGORIES",
    "Check",
    "Counterexample",
    "Engine",
    "EngineError",
    "EngineReport",
    "ExpressionError",
    "ExpressionReport",
    "ExpressionResult",
    "FunctionError",
    "FunctionReport",
    "GradcheckError",
    "GradientRow",
    "Graph",
    "GraphBuilder",
    "Node",
    "PointError",
    "UsageError",
    "__version__",
    "assert_function_gradients",
    "assert_gradients",
    "check_engine",
    "check_expression",
    "check_function",
    "load_engine",
    "parse",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
    if home in ("internal.checking.check", "internal.checking.functions", "report"):
        # Reports are data; the front end registers how Jupyter shows them.
        importlib.import_module("gradcheck.internal.output.html")
        importlib.import_module("gradcheck.internal.output.function_text")
    value = getattr(importlib.import_module(f"gradcheck.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
