"""A failing example as a few lines of Python in the engine's own API.

A learner pastes the snippet where their engine lives: it builds the
minimal graph with their class, constructor keywords and method names, runs
their backward and prints each input's gradient next to the true one. It
is written from the `Graph` one line per node (temporaries `t1`, `t2`...),
so a deep graph never recurses; graphs above `MAX_NODES` get none. Also
the command that reruns one check of `gradcheck engine`, as an argv list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gradcheck.internal.checking.engine_client import Engine
from gradcheck.internal.expr.graph import CONST, VAR, Graph
from gradcheck.internal.worker.op_calls import SPELLING, WRAPPABLE, method_name
from gradcheck.report import FAIL, Check, Counterexample

# Longest graph written out; a 2,500-deep chain is no snippet to paste.
MAX_NODES = 100
# Families whose failure one forward and one backward pass reproduce.
# The stateful ones (repeated backward, zero_grad, training) need more.
ONE_PASS = frozenset(
    {
        "defined",
        "value",
        "local-derivative",
        "accumulation",
        "propagation",
        "depth",
        "deep-chain",
        "range",
        "random-graphs",
    }
)
# How an operator dunder is written: {0} the value, {1} the other operand.
_OPERATORS = {
    "__add__": "{0} + {1}",
    "__sub__": "{0} - {1}",
    "__mul__": "{0} * {1}",
    "__truediv__": "{0} / {1}",
    "__pow__": "{0} ** {1}",
    "__neg__": "-{0}",
    "__abs__": "abs({0})",
    "__radd__": "{1} + {0}",
    "__rsub__": "{1} - {0}",
    "__rmul__": "{1} * {0}",
    "__rtruediv__": "{1} / {0}",
    "__rpow__": "{1} ** {0}",
}


def attach(engine: Engine, checks: Sequence[Check]) -> None:
    """Give each failing one-pass check's counterexample its snippet."""
    for check in checks:
        example = check.counterexample
        if check.status != FAIL or example is None:
            continue
        if check.name.partition("[")[0] not in ONE_PASS:
            continue
        example.reproduce = example_snippet(engine, example, check.category)


def example_snippet(
    engine: Engine, example: Counterexample, category: str | None = None
) -> str | None:
    """The snippet for one counterexample, or None when it cannot be written."""
    graph = example.graph
    adjoints = example.reference_adjoints
    if len(graph) > MAX_NODES or adjoints is None or len(adjoints) != len(graph):
        return None
    expected = {
        node.name: float(adjoints[i])
        for i, node in enumerate(graph.nodes)
        if node.op == VAR
    }
    value = None
    if category == "value":
        value = float(graph.evaluate(example.point)[-1])
    code = snippet(
        graph,
        example.point,
        expected,
        engine.spelling,
        class_name=engine.class_name,
        target=dict(engine.load_request.get("target") or {}),
        op_names=dict(engine.load_request.get("op_names") or {}),
        wrap=bool(engine.load_request.get("wrap_constants")),
        value=value,
    )
    if example.varies:
        head = example.varies.partition(":")[0]  # "fails in 14 of 21 rebuilds"
        first, _, rest = code.partition("\n")
        note = f"# the result changes from run to run ({head}): run it a few times"
        code = f"{first}\n{note}\n{rest}"
    return code


def snippet(
    graph: Graph,
    point: Mapping[str, float],
    expected: Mapping[str, float],
    spelling: Mapping[str, Any],
    *,
    class_name: str = "Value",
    target: Mapping[str, Any] | None = None,
    op_names: Mapping[str, str] | None = None,
    wrap: bool = False,
    value: float | None = None,
) -> str:
    """Python that builds `graph` at `point`, backpropagates and prints."""
    cls = class_name
    keywords = "".join(
        f", {k}={v}" for k, v in dict(spelling.get("constructor") or {}).items()
    )
    backward = str(spelling.get("backward") or "backward")
    function = bool(spelling.get("backward_function"))
    lines = [_import_line(cls, backward if function else None, spelling, target)]
    taken = {*graph.variables, cls, backward, "print", "abs"}
    names: list[str] = []
    counters = {"c": 0, "t": 0}

    def fresh(prefix: str) -> str:
        while True:
            counters[prefix] += 1
            name = f"{prefix}{counters[prefix]}"
            if name not in taken:
                taken.add(name)
                return name

    last = len(graph) - 1
    out = next((n for n in ("out", "result", "root") if n not in taken), "")
    taken.add(out)
    out = out or fresh("t")
    for i, node in enumerate(graph.nodes):
        if node.op == VAR:
            if node.name not in names:
                lines.append(
                    f"{node.name} = {cls}({float(point[node.name])!r}{keywords})"
                )
            names.append(node.name)
            continue
        name = out if i == last else fresh("c" if node.op == CONST else "t")
        if node.op == CONST:
            text = f"{cls}({_number(node.constant)}{keywords})"
        else:
            operands = [names[a] for a in node.args]
            text = _apply(node.op, operands, node.constant, op_names or {}, wrap, cls)
            text = text.replace("{kw}", keywords)
        lines.append(f"{name} = {text}")
        names.append(name)
    root = names[-1]
    lines.append(f"{backward}({root})" if function else f"{root}.{backward}()")
    data = _attribute(spelling, "data")
    grad = _attribute(spelling, "grad")
    if value is not None:
        lines.append(f'print("value", {root}.{data}, "expected", {value!r})')
    for variable in graph.variables:
        wanted = expected.get(variable)
        if wanted is not None:
            lines.append(
                f'print("{variable}.{grad}", {variable}.{grad}, "expected", {wanted!r})'
            )
    return "\n".join(lines)


def _attribute(spelling: Mapping[str, Any], role: str) -> str:
    """`data`, or `data()` when the engine reads it through a method."""
    name = str(spelling.get(role) or role)
    return name + ("()" if spelling.get(f"{role}_call") else "")


def _apply(
    op: str,
    operands: list[str],
    constant: float | None,
    op_names: Mapping[str, str],
    wrap: bool,
    cls: str,
) -> str:
    """One op on named operands, as the worker applies it (`worker.op_calls`)."""
    _, takes_constant, spelled = SPELLING[op]
    method = method_name(op, dict(op_names))
    if method is not None:
        argument = _number(constant) if takes_constant else ""
        return f"{operands[0]}.{method}({argument})"
    other = operands[1] if len(operands) > 1 else ""
    if takes_constant:
        other = _number(constant)
        if wrap and op in WRAPPABLE:
            other = f"{cls}({other}{{kw}})"
        elif other.startswith("-") and spelled.startswith("__r"):
            other = f"({other})"  # -2 ** x is -(2 ** x)
    return _OPERATORS[spelled].format(operands[0], other)


def _number(value: float | None) -> str:
    """A constant as the engine got it: integral ones as ints (`engine_client`)."""
    if value is None:
        return "None"
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _import_line(
    cls: str,
    backward: str | None,
    spelling: Mapping[str, Any],
    target: Mapping[str, Any] | None,
) -> str:
    """How the snippet gets the engine's class: an import, or where to run it."""
    names = cls if backward is None else f"{cls}, {backward}"
    spec = dict(target or {})
    kind = spec.get("kind")
    module = spelling.get("module")
    if kind == "file":
        path = Path(str(spec.get("path", "")))
        if path.stem.isidentifier():
            return f"from {path.stem} import {names}  # run next to {path.name}"
        return f"# run where {path} is loaded, which defines {names}"
    if kind == "module":
        return f"from {spec.get('module')} import {names}"
    if kind == "notebook":
        return f"# run in the notebook that defines {names}"
    if kind == "source":
        return f"# run with the engine source {spec.get('name')}, which defines {names}"
    if module and module != "__main__" and "." not in cls:
        return f"from {module} import {names}"
    return f"# run in the notebook or script that defines {names}"


def rerun_argv(
    target: Any,
    seed: int,
    name: str,
    options: Mapping[str, Any],
) -> list[str] | None:
    """`gradcheck engine TARGET --only NAME --seed S` and the options that matter.

    None when the target is not something the command line can name (a
    class object handed over in a notebook).
    """
    if target is not None and not isinstance(target, str):
        return None
    argv = ["gradcheck", "engine"]
    if target is not None:
        argv.append(target)
    argv += ["--only", name, "--seed", str(seed)]
    for option, value in options.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            if value:
                pairs = ",".join(f"{k}={v}" for k, v in value.items())
                argv += [option, pairs]
        elif isinstance(value, (list, tuple)):
            argv += [option, ",".join(str(v) for v in value)]
        else:
            argv += [option, str(value)]
    return argv
