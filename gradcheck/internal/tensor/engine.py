"""A tensor engine as the checker sees it: a proxy to its isolated worker.

Same worker and supervisor as scalar engines; only the requests differ
(`tensor_load`, `tensor_run`, handled by `gradcheck.internal.worker.tensor`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcheck.errors import EngineError
from gradcheck.internal.checking.answers import EngineFault, WorkerCrash
from gradcheck.internal.checking.supervisor import (
    DEFAULT_MEMORY_LIMIT,
    Worker,
    WorkerFailure,
    fork_available,
)
from gradcheck.internal.checking.targets import resolve
from gradcheck.internal.checking.worker_client import (
    DEFAULT_IMPORT_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    WorkerProxy,
    load_answer,
    open_worker,
)
from gradcheck.internal.tensor.program import Shape, TensorProgram


@dataclass
class Array:
    shape: Shape
    values: list[float]


@dataclass
class TensorRun:
    """One program on the engine: per-node data, per-leaf gradients (None: none kept)."""

    data: list[Array]
    grads: dict[str, Array | None]
    unit_roundoff: float = 2.0**-53  # of the least precise array read
    low_precision: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Unsupported:
    """The program needs an op form the engine lacks."""

    reason: str


@dataclass
class CheckerFailure:
    """The checker's own part (its loss) failed: nothing is known of the engine."""

    reason: str


Result = TensorRun | EngineFault | WorkerCrash | Unsupported | CheckerFailure


@dataclass
class TensorEngine(WorkerProxy):
    """A loaded tensor engine: its API mapping and the channel to its worker."""

    target: str
    class_name: str
    api: dict[str, str]
    supported: list[str]
    unsupported: dict[str, str]
    dtype: str
    unit_roundoff: float
    channel: Any = field(repr=False)
    load_request: dict[str, Any] = field(repr=False)
    time_limit: float = DEFAULT_TIME_LIMIT
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT
    notes: list[str] = field(default_factory=list)
    file: str | None = None
    # when no loss could be built: the engine's failure on the loss program
    loss_fault: dict[str, Any] | None = None

    def run_many(
        self,
        items: Sequence[
            tuple[TensorProgram, Mapping[str, Sequence[float]], Sequence[float]]
        ],
    ) -> list[Result]:
        """Several programs in one request; a crash costs only its own item."""
        batch = [
            {
                "nodes": p.to_plain(),
                "values": {k: list(v) for k, v in values.items()},
                "R": list(r),
            }
            for p, values, r in items
        ]
        return self._run_batches("tensor_run", batch, self.time_limit, _as_result)

    def __enter__(self) -> TensorEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _array(plain: Mapping[str, Any]) -> Array:
    return Array(tuple(plain["shape"]), [float(v) for v in plain["values"]])


def _as_result(answer: Mapping[str, Any]) -> Result:
    if "unsupported" in answer:
        return Unsupported(str(answer["unsupported"]))
    if "checker" in answer:
        return CheckerFailure(str(answer["checker"]))
    if "error" in answer:
        return EngineFault(answer["error"])
    return TensorRun(
        [_array(d) for d in answer["data"]],
        {k: None if g is None else _array(g) for k, g in answer["grads"].items()},
        float(answer.get("unit_roundoff", 2.0**-53)),
        list(answer.get("low_precision", [])),
    )


def load_tensor_engine(
    target: Any,
    time_limit_s: float = DEFAULT_TIME_LIMIT,
    *,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    api: Mapping[str, str] | None = None,
    isolate: bool = True,
    op_names: Mapping[str, str] | None = None,
) -> TensorEngine:
    """Load a tensor engine (`file.py[:Tensor]`, a module, a class, a source) in a worker.

    Raises `EngineError` with a one-line reason when it cannot be loaded or
    its tensors cannot be built and read.
    """
    if isinstance(target, TensorEngine):
        return target
    resolved, request, channel, _ = open_worker(
        target, "tensor_load", memory_limit, api, op_names, isolate
    )
    try:
        answer, notes = load_answer(
            channel,
            request,
            resolved,
            import_timeout,
            definitions_only_on_timeout=False,
        )
    except BaseException:
        channel.close()
        raise
    return TensorEngine(
        target=resolved.shown,
        class_name=str(answer.get("class", "Tensor")),
        api=dict(answer["api"]),
        supported=list(answer["supported"]),
        unsupported=dict(answer["unsupported"]),
        dtype=str(answer["dtype"]),
        unit_roundoff=float(answer["unit_roundoff"]),
        channel=channel,
        load_request=request,
        time_limit=time_limit_s,
        import_timeout=import_timeout,
        notes=[*notes, *answer.get("notes", [])],
        file=answer.get("file"),
        loss_fault=answer.get("loss_fault"),
    )


# Words every array-backed engine's source uses somewhere.
ARRAY_WORDS = re.compile(r"\b(numpy|ndarray|shape|array|realize|tolist)\b")


def _mentions_arrays(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(2_000_000)
    except OSError:
        return True  # let the worker say
    return ARRAY_WORDS.search(text) is not None


def why_tensor(
    target: Any, *, import_timeout: float = DEFAULT_IMPORT_TIMEOUT
) -> str | None:
    """Why `target` is checked as a tensor engine, or None: the one rule that
    the command line, `check_engine` and the pytest plugin share.

    A class named `Tensor...` (`file.py:Tensor`, `nb.ipynb:TensorX@3`), or a
    class whose data is an array whatever it is called (`tensor_reason`).
    """
    if isinstance(target, str):
        name = target.rpartition(":")[2].partition("@")[0] if ":" in target else ""
        if name.startswith("Tensor"):
            return f"its class is named {name}"
    return tensor_reason(target, import_timeout=import_timeout)


def tensor_reason(
    target: Any,
    *,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> str | None:
    """Why the target's class is a tensor engine (its data is an array), or None.

    Loads the engine in a throwaway worker and builds one tensor from a
    (2, 3) ndarray: a class whose data keeps that shape, with a gradient of
    that shape or tensor members (`shape`, `T`, `reshape`, `@`), is a
    tensor class whatever it is called. Any failure answers None.
    """
    try:
        resolved = resolve(target)
    except EngineError:
        return None
    if resolved.spec.get("kind") == "builtin":
        return None
    path = resolved.spec.get("path")
    if path and not _mentions_arrays(str(path)):
        return None  # a file that never speaks of arrays: no worker needed
    source = resolved.spec.get("source")
    if isinstance(source, str) and ARRAY_WORDS.search(source) is None:
        return None  # the same for source text (the mutant gallery)
    if resolved.obj is not None and not fork_available():
        return None
    worker = Worker(memory_limit=memory_limit, obj=resolved.obj)
    try:
        answers = list(
            worker.request(
                {
                    "op": "tensor_recognise",
                    "target": resolved.spec,
                    "class_name": resolved.class_name,
                },
                import_timeout,
            )
        )
    except (WorkerFailure, EngineError, OSError):
        return None
    finally:
        worker.close()
    why = answers[-1].get("tensor") if answers else None
    return str(why) if why else None
