"""The families of checks, in the order `check_engine` runs them, and how
many random examples a run tries when it is not told.

A module of its own, importing nothing, so that the pytest plugin can name
one item per family at collection time without importing the checker (and
SymPy with it). `check_engine(checks=...)` picks among these names.
"""

from __future__ import annotations

# Random graphs of a scalar engine run, random programs of a tensor one.
DEFAULT_EXAMPLES = 200
TENSOR_EXAMPLES = 30

CHECK_FAMILIES = (
    "defined",
    "value",
    "local-derivative",
    "accumulation",
    "propagation",
    "complexity",
    "depth",
    "deep-chain",
    "range",
    "repeated-backward",
    "zero-grad",
    "parameters",
    "training-loop",
    "random-graphs",
)
