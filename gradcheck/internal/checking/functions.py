"""`check_function(f, *inputs)`: a Python function's gradients on the user's engine.

As `torch.autograd.gradcheck(func, inputs)`: `f` is traced once on the
checker's symbolic values (`expr.trace_function`), and the graph it gives
is then built on the engine in its worker at the given inputs and judged
against the SymPy and mpmath references, as an expression is. The engine's
class comes from `engine=`, the type of a `Value` input, or the classes of
`f`'s module shaped like an engine; without one, the built-in engine.
"""

from __future__ import annotations

import numbers
import types
from collections.abc import Callable
from typing import Any

from gradcheck.errors import FunctionError, UsageError
from gradcheck.internal.checking import reproduce
from gradcheck.internal.checking.engine_client import (
    DEFAULT_TIME_LIMIT,
    Engine,
    load_engine,
)
from gradcheck.internal.checking.expressions import check_expression_on
from gradcheck.internal.expr.graph import Graph, Node
from gradcheck.internal.expr.trace_function import trace
from gradcheck.internal.worker.class_shape import DATA_NAMES, is_engine_shaped
from gradcheck.report import FAIL, ExpressionResult, FunctionReport

# Ops the engine may know under another form of the same method (`gelu`).
_SAME_METHOD = {"gelu_erf": "gelu_tanh", "gelu_tanh": "gelu_erf"}


def check_function(
    f: Callable[..., Any],
    *inputs: Any,
    engine: Any = None,
    seed: int | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> FunctionReport:
    """Check every input's gradient of `f` at `inputs` on the user's engine.

    `inputs` are numbers, or the engine's values (their number is read
    from their `.data` attribute without running the engine). Raises
    `FunctionError` for what `f` may not contain, `PointError` when the
    inputs lie outside the domain of an op `f` uses.
    """
    if not callable(f):
        raise UsageError(f"check_function needs a function, got {type(f).__name__}")
    if not inputs:
        raise UsageError("check_function needs at least one input: f's arguments")
    cls = engine_class(f, inputs, engine)
    values = [_number(value, i) for i, value in enumerate(inputs)]
    traced = trace(f, len(inputs), cls)
    graph = traced.graph
    if not graph.variables:
        raise FunctionError(
            f"{traced.shown} does not depend on its inputs: nothing to check"
        )
    point = {
        n: v for n, v in zip(traced.names, values, strict=True) if n in graph.variables
    }
    target = engine if engine is not None else cls
    loaded = load_engine(target, time_limit)
    try:
        graph = _engine_forms(graph, loaded)
        text = graph.to_text()
        checked = check_expression_on(loaded, graph, text, point, 1, seed)
        for result in checked.results:
            example = result.counterexample
            if result.status == FAIL and example is not None:
                example.reproduce = reproduce.example_snippet(
                    loaded, example, result.category
                )
                if example.graph != graph:
                    _own_rows(loaded, result)
    finally:
        if not isinstance(target, Engine):
            loaded.close()
    return FunctionReport(
        checked.engine,
        checked.seed,
        checked.results,
        function=traced.shown,
        notes=traced.notes,
    )


def _own_rows(engine: Engine, result: ExpressionResult) -> None:
    """f's own gradients, where the rows are those of a smaller failing graph.

    The judge reports the smallest graph that fails; a learner first wants
    the gradients of the function they wrote, so it is run once more.
    """
    from gradcheck.internal.checking.answers import EngineFault, WorkerCrash
    from gradcheck.internal.checking.verdict import gradient_rows
    from gradcheck.internal.refs.references import reference

    try:
        run = engine.run(result.graph, result.point)
    except (EngineFault, WorkerCrash):
        return  # the smaller graph's rows and its error say it already
    ref = reference(result.graph, result.point, unit_roundoff=engine.unit_roundoff)
    result.gradients = gradient_rows(result.graph, run, ref)


def engine_class(f: Any, inputs: tuple[Any, ...], engine: Any) -> type | None:
    """The class `Value(...)` means inside `f`; None when there is none."""
    if isinstance(engine, type):
        return engine
    if isinstance(engine, types.ModuleType):
        found = getattr(engine, "Value", None)
        if isinstance(found, type):
            return found
    for value in inputs:
        if not isinstance(value, numbers.Real) and _shaped(type(value)):
            return type(value)
    function = getattr(f, "__func__", f)
    namespace = dict(getattr(function, "__globals__", None) or {})
    for name, cell in zip(
        getattr(getattr(function, "__code__", None), "co_freevars", ()),
        getattr(function, "__closure__", None) or (),
        strict=False,
    ):
        try:
            namespace[name] = cell.cell_contents
        except ValueError:
            continue
    bound = {
        name: value
        for name, value in namespace.items()
        if isinstance(value, type) and _shaped(value)
    }
    used = set(_code_names(function))
    # The classes f names first: `Value(2.0)` inside f decides.
    chosen = {v for n, v in bound.items() if n in used} or set(bound.values())
    shaped = list(chosen)
    if len(shaped) > 1:
        names = ", ".join(sorted(n for n, v in bound.items() if v in chosen))
        raise UsageError(
            f"several engine classes are in reach of {_name(f)} ({names}): "
            "pass engine=TheClass"
        )
    return shaped[0] if shaped else None


def _shaped(cls: type) -> bool:
    try:
        return is_engine_shaped(cls, module_backward=False)
    except Exception:
        return False


def _code_names(function: Any) -> list[str]:
    code = getattr(function, "__code__", None)
    names: list[str] = []
    stack = [code] if code is not None else []
    while stack:
        current = stack.pop()
        names += current.co_names
        names += current.co_freevars
        stack += [c for c in current.co_consts if isinstance(c, types.CodeType)]
    return names


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def _number(value: Any, position: int) -> float:
    """An input as a float: a number, or the `.data` a Value keeps in its dict."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    stored = getattr(value, "__dict__", None) or {}
    for name in DATA_NAMES:
        number = stored.get(name)
        if isinstance(number, numbers.Real) and not isinstance(number, bool):
            return float(number)
    kind = type(value).__name__
    raise FunctionError(
        f"input {position + 1} is a {kind} with no number in a plain .data "
        "attribute: pass the inputs as numbers"
    )


def _engine_forms(graph: Graph, engine: Engine) -> Graph:
    """`x.gelu()` is the form of gelu the engine has (`method_forms`)."""
    swap = {
        op: other
        for op, other in _SAME_METHOD.items()
        if op in graph.ops_used()
        and op not in engine.supported
        and other in engine.supported
    }
    if not swap:
        return graph
    return Graph(
        tuple(
            Node(swap.get(n.op, n.op), n.args, n.constant, n.name) for n in graph.nodes
        )
    )
