"""Trace a user's Python function once, on symbolic values, into a `Graph`.

`f` is written with the user's engine (`Value(2.0) * x + x.tanh()`). It is
rebuilt as a new function object over the same code with the engine's class
replaced by a constant factory (in its globals, closure cells, and the
helper functions of the same module it calls by name), then called on
`Traced` variables. So the engine's own code never runs here.

Not supported, each with a `FunctionError` naming `f`: values built outside
`f` (a global or closed-over `Value`: pass it as an input), the engine
reached through a module (`eng.Value`), and helpers from other modules
that build the engine's values themselves. A `Value` inside an object `f`
calls (a model's weights) cannot be seen before `f` runs: the engine's own
method then meets a traced value, and the error names that method.
"""

from __future__ import annotations

import inspect
import os
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gradcheck.errors import FunctionError
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.tracer import Traced, Tracing


@dataclass
class FunctionTrace:
    """What tracing `f` gave: the graph, its inputs' names, and notes."""

    graph: Graph
    names: tuple[str, ...]
    shown: str
    notes: list[str] = field(default_factory=list)


def input_names(f: Callable[..., Any], count: int) -> tuple[str, ...]:
    """The names of the first `count` positional parameters of `f`."""
    shown = _name(f)
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError) as err:
        raise FunctionError(f"cannot read the parameters of {shown}: {err}") from None
    names: list[str] = []
    for p in parameters:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if len(names) < count:
                names.append(p.name)
            elif p.default is p.empty:
                raise FunctionError(
                    f"{shown} takes more inputs than the {count} given "
                    f"({p.name} has no default)"
                )
        elif p.kind is p.VAR_POSITIONAL:
            while len(names) < count:
                names.append(f"{p.name}{len(names)}")
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise FunctionError(
                f"{shown} has a keyword-only parameter {p.name} without a default"
            )
    if len(names) < count:
        raise FunctionError(
            f"{shown} takes {len(names)} positional input(s), {count} given"
        )
    return tuple(names)


_OURS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _where(err: BaseException) -> str:
    """ " at file:line" of the innermost frame outside gradcheck: the user's line."""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not os.path.abspath(frame.filename).startswith(_OURS + os.sep):
            return f" at {frame.filename}:{frame.lineno}"
    return ""


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def trace(
    f: Callable[..., Any], count: int, engine_class: type | None
) -> FunctionTrace:
    """Call `f` once on `count` traced inputs; the graph of what it returned."""
    names = input_names(f, count)
    shown = f"{_name(f)}({', '.join(names)})"
    tracing = Tracing(shown, engine_class)
    rebuilt = _rebuild(f, engine_class, tracing)
    inputs = [tracing.variable(n) for n in names]
    try:
        result = rebuilt(*inputs)
    except FunctionError:
        raise
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else ""
        raise FunctionError(
            f"{shown} raised {type(err).__name__}"
            + (f": {detail}" if detail else "")
            + _where(err)
            + " while traced"
        ) from None
    if engine_class is not None and isinstance(result, engine_class):
        raise FunctionError(
            f"{shown} returns a {engine_class.__name__} made by the engine's own "
            "code: one not computed from f's inputs took part (a model's weight, "
            "made outside f or by the engine's own code such as "
            "Neuron.__init__), and tracing cannot follow the engine's code; "
            "pass such values as inputs"
        )
    if not isinstance(result, Traced) or result._tracing is not tracing:
        what = type(result).__name__
        raise FunctionError(
            f"{shown} returns a {what}, not a value computed from its inputs "
            "(it must return one scalar Value)"
        )
    graph = tracing.builder.build(result._index)
    notes = [
        f"{n} does not reach the output of {shown}: its gradient is not checked"
        for n in names
        if n not in graph.variables
    ]
    return FunctionTrace(graph, names, shown, notes)


# -- rebuilding f ---------------------------------------------------------------


def _rebuild(
    f: Callable[..., Any], engine_class: type | None, tracing: Tracing
) -> Callable[..., Any]:
    """`f` over the same code, with the engine's class bound to constants."""
    bound_to = None
    if isinstance(f, types.MethodType):
        bound_to, f = f.__self__, f.__func__
    if not isinstance(f, types.FunctionType):
        raise FunctionError(
            f"expected a Python function (def or lambda), got {type(f).__name__}"
        )
    shown = tracing.shown
    base = f.__globals__
    patched = dict(base)
    maker = None
    if engine_class is not None:
        maker = tracing.constant_class(engine_class.__name__)
        for key, value in base.items():
            if value is engine_class:
                patched[key] = maker
    done: dict[int, types.FunctionType] = {}
    todo = [f]
    while todo:  # f and the helpers of its module it calls, by name
        function = todo.pop()
        if id(function) in done:
            continue
        copy = types.FunctionType(
            function.__code__,
            patched,
            function.__name__,
            function.__defaults__,
            _closure(function, engine_class, maker, tracing.shown),
        )
        copy.__kwdefaults__ = function.__kwdefaults__
        done[id(function)] = copy
        _guard_defaults(function, engine_class, shown)
        for name in _names(function.__code__):
            value = base.get(name)
            if value is None:
                continue
            _guard_global(name, value, engine_class, shown)
            if isinstance(value, types.FunctionType) and value is not function:
                if value.__globals__ is base:
                    todo.append(value)
                    patched[name] = value  # replaced below once rebuilt
                else:
                    _guard_foreign(name, value, engine_class, shown)
    for key, value in list(patched.items()):
        if isinstance(value, types.FunctionType) and id(value) in done:
            patched[key] = done[id(value)]
    rebuilt: Callable[..., Any] = done[id(f)]
    if bound_to is not None:
        rebuilt = types.MethodType(rebuilt, bound_to)
    return rebuilt


def _names(code: types.CodeType) -> Iterator[str]:
    """Global names read by `code` and the code nested in it (no recursion)."""
    stack = [code]
    while stack:
        current = stack.pop()
        yield from current.co_names
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))


def _closure(
    function: types.FunctionType,
    engine_class: type | None,
    maker: type | None,
    shown: str,
) -> tuple[Any, ...] | None:
    cells = function.__closure__
    if cells is None:
        return None
    fresh = []
    for name, cell in zip(function.__code__.co_freevars, cells, strict=True):
        try:
            content = cell.cell_contents
        except ValueError:  # not yet assigned
            fresh.append(cell)
            continue
        if engine_class is not None and content is engine_class:
            fresh.append(types.CellType(maker))
            continue
        _guard_global(name, content, engine_class, shown)
        fresh.append(cell)
    return tuple(fresh)


def _is_value(value: Any, engine_class: type | None) -> bool:
    return engine_class is not None and isinstance(value, engine_class)


def _guard_global(name: str, value: Any, engine_class: type | None, shown: str) -> None:
    """Refuse what would run the engine here: its values, its class via a module."""
    if _is_value(value, engine_class):
        raise FunctionError(
            f"{shown} uses {name}, a {type(value).__name__} built outside it: "
            "tracing cannot follow it; pass it as an input"
        )
    if (
        engine_class is not None
        and isinstance(value, types.ModuleType)
        and any(v is engine_class for v in vars(value).values())
    ):
        raise FunctionError(
            f"{shown} may reach the engine through the module {name} "
            f"({name}.{engine_class.__name__}), which tracing cannot rebuild: "
            f"import {engine_class.__name__} by name"
        )


def _guard_defaults(
    function: types.FunctionType, engine_class: type | None, shown: str
) -> None:
    defaults: Sequence[Any] = [
        *(function.__defaults__ or ()),
        *(function.__kwdefaults__ or {}).values(),
    ]
    for value in defaults:
        if _is_value(value, engine_class):
            raise FunctionError(
                f"{shown} has a default argument that is a {type(value).__name__} "
                "built outside it: tracing cannot follow it; pass it as an input"
            )


def _guard_foreign(
    name: str, value: types.FunctionType, engine_class: type | None, shown: str
) -> None:
    """A helper from another module that builds the engine's values itself."""
    if engine_class is None:
        return
    own = value.__globals__
    if any(own.get(n) is engine_class for n in _names(value.__code__)):
        raise FunctionError(
            f"{shown} calls {name}() from {own.get('__name__', 'another module')}, "
            f"which builds {engine_class.__name__} values itself: tracing "
            "rebuilds the functions of f's own module only"
        )
