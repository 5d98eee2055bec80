"""gradcheck: prove the gradients of a scalar autograd engine right or wrong.

Compares an engine's backprop with two independent references (SymPy
symbolic derivatives and 80-digit mpmath finite differences) on targeted
probes and on random expression graphs, and explains every failure.
"""

from gradcheck.check import check_engine, check_expression
from gradcheck.engines import Engine, load_engine
from gradcheck.errors import (
    EngineError,
    ExpressionError,
    GradcheckError,
    PointError,
    UsageError,
)
from gradcheck.graph import Graph, GraphBuilder, Node
from gradcheck.report import (
    CATEGORIES,
    Check,
    Counterexample,
    EngineReport,
    ExpressionReport,
    ExpressionResult,
    GradientRow,
)

__version__ = "0.1.0"

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
    "GradcheckError",
    "GradientRow",
    "Graph",
    "GraphBuilder",
    "Node",
    "PointError",
    "UsageError",
    "__version__",
    "check_engine",
    "check_expression",
    "load_engine",
]
