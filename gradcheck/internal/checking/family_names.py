"""The families of checks, in the order `check_engine` runs them.

A module of its own, importing nothing, so that the pytest plugin can name
one item per family at collection time without importing the checker (and
SymPy with it). `check_engine(checks=...)` picks among these names.
"""

from __future__ import annotations

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
