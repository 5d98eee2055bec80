"""Load a user's autograd engine and run expression graphs on it.

The contract is duck-typed, as micrograd-style engines vary: `V(float)`,
`.data`, `.grad` (0, 0.0 or None before backward), `.backward()`, Python
operators, and whichever of tanh/exp/log/relu/sigmoid exist. Nothing here
imports micrograd: the built-in engine is loaded by name like any other.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import signal
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from gradcheck.errors import EngineError
from gradcheck.expr.graph import CONST, VAR, Graph
from gradcheck.expr.ops import OPS

DEFAULT_ENGINE = "micrograd"
# Seconds one example may take on an engine before it counts as a hang.
DEFAULT_TIME_LIMIT = 20.0
# The limit once an engine has hung: enough for any sane graph of the probes.
HUNG_TIME_LIMIT = 2.0

_module_ids = count()


# What a user's engine may raise that the checker reports instead of dying
# from: any exception, and sys.exit() too. Ctrl-C still stops everything.
ENGINE_FAULTS = (Exception, SystemExit)


class EngineTimeout(Exception):
    """Raised inside an engine call that ran past its time limit."""


@dataclass
class Run:
    """One graph run on an engine: per-node values and gradients as floats."""

    data: list[float]
    grads: list[float]
    handles: list[Any] = field(repr=False)


@dataclass
class Engine:
    """A loaded engine: its Value class, what it supports, its MLP if any."""

    target: str
    value_class: type
    module: types.ModuleType | None
    supported: tuple[str, ...]
    unsupported: dict[str, str]
    mlp: Any = None
    time_limit: float = DEFAULT_TIME_LIMIT
    # Whether any op alone gets a correct gradient (found on demand by judge).
    propagates: bool | None = field(default=None, repr=False)
    # Set after the first time limit is hit: later runs get a short limit,
    # so one hanging op cannot stall every probe for the full time.
    hung: bool = field(default=False, repr=False)

    @property
    def limit(self) -> float:
        """Seconds one example may take now (short once the engine has hung)."""
        return min(self.time_limit, HUNG_TIME_LIMIT) if self.hung else self.time_limit

    def value(self, x: float) -> Any:
        return self.value_class(x)

    def build(self, graph: Graph, point: Mapping[str, float]) -> list[Any]:
        """The engine's value for every node of `graph` at `point`."""
        handles: list[Any] = []
        for node in graph.nodes:
            if node.op == VAR:
                handles.append(self.value_class(point[node.name]))
            elif node.op == CONST:
                handles.append(self.value_class(_plain(node.constant)))
            else:
                args = [handles[a] for a in node.args]
                handles.append(OPS[node.op].apply_engine(args, _plain(node.constant)))
        return handles

    def run(
        self, graph: Graph, point: Mapping[str, float], backward: bool = True
    ) -> Run:
        """Build `graph`, backpropagate from its output, read every gradient."""
        with time_limit(self.limit):
            handles = self.build(graph, point)
            if backward:
                handles[-1].backward()
        return Run(
            data=[read_float(h, "data") for h in handles],
            grads=[read_float(h, "grad") for h in handles],
            handles=handles,
        )


def _plain(constant: float | None) -> Any:
    """Integral constants go to the engine as ints, as a user would write them."""
    if constant is None:
        return None
    if float(constant).is_integer() and abs(constant) < 2**53:
        return int(constant)
    return constant


def read_float(handle: Any, attribute: str) -> float:
    """`handle.data` or `handle.grad` as a float; None counts as 0."""
    raw = getattr(handle, attribute)
    if raw is None:
        return 0.0
    return float(raw)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with `EngineTimeout` after `seconds` (main thread).

    Uses SIGALRM where it exists; elsewhere (Windows, worker threads) the
    block simply runs without a limit.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not seconds or not usable or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield  # no limit asked, no SIGALRM here, or an outer limit is running
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise EngineTimeout(f"no answer within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_engine(
    target: str | type | types.ModuleType | Engine | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT,
) -> Engine:
    """Load `path/to/file.py[:Class]`, `package.module[:Class]`, a class or module.

    The class defaults to `Value`. Raises `EngineError` with a one-line reason
    when the target cannot be imported or has no usable Value class.
    """
    if isinstance(target, Engine):
        return target
    if target is None:
        target = DEFAULT_ENGINE
    module: types.ModuleType | None
    if isinstance(target, type):
        value_class = target
        module = sys.modules.get(target.__module__)
        name = f"{target.__module__}:{target.__qualname__}"
    else:
        if isinstance(target, types.ModuleType):
            module, class_name, name = target, "Value", target.__name__
        else:
            module, class_name = _import_target(target)
            name = target
        found = getattr(module, class_name, None)
        if not isinstance(found, type):
            raise EngineError(f"engine {name!r} has no class {class_name!r}")
        value_class = found
    _check_contract(value_class, name)
    supported, unsupported = detect_ops(value_class, time_limit_s)
    mlp = getattr(module, "MLP", None) if module is not None else None
    return Engine(
        name,
        value_class,
        module,
        supported,
        unsupported,
        mlp if callable(mlp) else None,
        time_limit_s,
    )


def _import_target(target: str) -> tuple[types.ModuleType, str]:
    head, colon, tail = target.rpartition(":")
    # A trailing ":Name" picks the class; any other colon (C:\\) is the path's.
    spec, class_name = (head, tail) if colon and tail.isidentifier() else (target, "")
    if spec.startswith(("/", ".", "~")) or spec.endswith(".py") or "/" in spec:
        return _import_file(Path(spec).expanduser()), class_name or "Value"
    if not spec or not all(part.isidentifier() for part in spec.split(".")):
        raise EngineError(
            f"not an engine target: {target!r} "
            "(expected path/to/file.py[:Class] or package.module[:Class])"
        )
    try:
        module = importlib.import_module(spec)
    except BaseException as err:  # a module may even call sys.exit() on import
        if isinstance(err, KeyboardInterrupt):
            raise
        raise EngineError(f"cannot import engine {spec!r}: {_one_line(err)}") from err
    return module, class_name or "Value"


def _import_file(path: Path) -> types.ModuleType:
    if not path.is_file():
        raise EngineError(f"engine file not found: {path}")
    module_name = f"_gradcheck_engine_{next(_module_ids)}_{_safe(path.stem)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise EngineError(f"cannot load engine file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look here
    try:
        with time_limit(DEFAULT_TIME_LIMIT):
            spec.loader.exec_module(module)
    except BaseException as err:
        sys.modules.pop(module_name, None)
        if isinstance(err, KeyboardInterrupt):
            raise
        raise EngineError(f"cannot load engine file {path}: {_one_line(err)}") from err
    return module


def load_source(name: str, source: str) -> types.ModuleType:
    """Load an engine from source text (the mutant gallery uses this)."""
    module_name = f"_gradcheck_engine_{next(_module_ids)}_{_safe(name)}"
    module = types.ModuleType(module_name)
    module.__file__ = f"<{name}>"
    sys.modules[module_name] = module
    try:
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    except ENGINE_FAULTS as err:
        sys.modules.pop(module_name, None)
        raise EngineError(f"cannot load engine {name!r}: {_one_line(err)}") from err
    return module


def _safe(stem: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in stem)


def _one_line(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".splitlines()[0]
    if isinstance(err, SyntaxError) and err.lineno:
        text += f" (line {err.lineno})"
    return text


def _check_contract(value_class: type, name: str) -> None:
    try:
        with time_limit(DEFAULT_TIME_LIMIT):
            x = value_class(1.5)
            data = read_float(x, "data")
            read_float(x, "grad")
            (x * 2.0 if _has(x, "__mul__") else x).backward()
    except EngineTimeout:
        raise EngineError(f"engine {name!r}: Value(1.5) or backward() hangs") from None
    except ENGINE_FAULTS as err:
        raise EngineError(
            f"engine {name!r} does not follow the Value contract "
            f"(V(1.5), .data, .grad, .backward()): {_one_line(err)}"
        ) from err
    if not math.isclose(data, 1.5):
        raise EngineError(f"engine {name!r}: Value(1.5).data is {data!r}")


def _has(x: Any, attribute: str) -> bool:
    return hasattr(type(x), attribute)


_PROBE_ARGS = {1: (0.7,), 2: (0.7, 1.3)}
_PROBE_CONSTANT = {"pow": 2}


def detect_ops(
    value_class: type, limit: float = DEFAULT_TIME_LIMIT
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Which ops of the table the engine supports, and why the others fail.

    Only a missing method or operator (TypeError, AttributeError,
    NotImplementedError) counts as unsupported; any other exception means
    the op exists but misbehaves, which the probes report as a crash.
    """
    supported: list[str] = []
    unsupported: dict[str, str] = {}
    for name, op in OPS.items():
        args = [value_class(a) for a in _PROBE_ARGS[op.arity]]
        try:
            with time_limit(limit):
                result = op.apply_engine(args, _PROBE_CONSTANT.get(name, 3))
            if result is NotImplemented or not hasattr(result, "data"):
                raise TypeError("returns no Value")
        except (TypeError, AttributeError, NotImplementedError) as err:
            unsupported[name] = _one_line(err)
            continue
        except ENGINE_FAULTS:
            pass  # exists but raises: the probes will report it as a crash
        supported.append(name)
    return tuple(supported), unsupported
