"""Tensor engines: programs over numpy-backed Tensors, checked per element.

`check_tensor_engine(target)` loads a tensor engine in a worker, runs the
targeted probes and random programs, and returns an `EngineReport` whose
checks are `TensorCheck`s (with the finding's kind, program and hint).
"""

from gradcheck.internal.tensor.check import check_tensor_engine
from gradcheck.internal.tensor.checks import TensorCheck
from gradcheck.internal.tensor.engine import TensorEngine, load_tensor_engine
from gradcheck.internal.tensor.program import ProgramBuilder, TensorProgram

__all__ = [
    "ProgramBuilder",
    "TensorCheck",
    "TensorEngine",
    "TensorProgram",
    "check_tensor_engine",
    "load_tensor_engine",
]
