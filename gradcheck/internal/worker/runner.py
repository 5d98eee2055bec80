"""Build graph programs on the engine, backpropagate, read every number.

A program is plain data from the parent: nodes in topological order, each
`[op, operand indices, constant, variable name]`, and the point; or, for the
depth search's long chains, a compact `chain` (one period of `[op, constant]`
links, repeated up to `length` links after the leaf `x`), which the worker
expands itself: 100,000 links would otherwise be 3 MB of JSON to encode,
send and decode for what is a few bytes of spec. The answer
is plain data too: per-node values (read from inside a Value that an op
left in `.data`) and gradients (None where the engine keeps no gradient),
or the engine's exception and where it was raised.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gradcheck.internal.worker.api import Api
from gradcheck.internal.worker.faults import describe_error
from gradcheck.internal.worker.op_calls import apply_op
from gradcheck.internal.worker.reading import read_data

# Phases, written to the status page so a crash can say where it happened.
BUILD, BACKWARD, READ = 2, 3, 4
PHASE_NAMES = {
    BUILD: "while building the graph",
    BACKWARD: "in backward()",
    READ: "while reading gradients",
}


# A program this large (a deep chain) runs with the cyclic garbage collector
# paused, then collects once: a micrograd node and its `_backward` closure
# form a cycle, and the collector passes over a growing heap of 100,000 of
# them would take twice as long as building and backpropagating the chain.
LARGE_PROGRAM = 1000


def program_size(program: dict[str, Any]) -> int:
    """How many nodes the program builds."""
    if "chain" in program:
        return 1 + int(program["length"])
    return len(program["nodes"])


def program_nodes(program: dict[str, Any]) -> Iterator[Sequence[Any]]:
    """The program's nodes in order, a compact chain expanded as it is built."""
    if "chain" not in program:
        yield from program["nodes"]
        return
    period = [(str(op), constant) for op, constant in program["chain"]]
    yield ("var", (), None, "x")
    for i in range(int(program["length"])):
        op, constant = period[i % len(period)]
        yield (op, (i,), constant, "")


def run_program(
    cls: type, api: Api, program: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
    """One graph on the engine: values and gradients, or the exception."""
    if program_size(program) < LARGE_PROGRAM:
        return _run_program(cls, api, program, mark)
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_program(cls, api, program, mark)
    finally:
        if enabled:
            gc.enable()
        gc.collect()


def _run_program(
    cls: type, api: Api, program: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
    point = program["point"]
    wrap = (lambda c: api.make(cls, c)) if api.wrap_constants else None
    handles: list[Any] = []
    leaves: list[Any] = []  # the variables' handles, for `ends_only`
    phase = BUILD
    mark(BUILD)
    try:
        for op, args, constant, name in program_nodes(program):
            if op == "var":
                handles.append(api.make(cls, point[name]))
                leaves.append(handles[-1])
            elif op == "const":
                handles.append(api.make(cls, constant))
            else:
                operands = [handles[a] for a in args]
                handles.append(apply_op(op, operands, constant, api.op_names, wrap))
        data = (
            [read_data(api, h) for h in handles[-1:]]
            if program.get("ends_only")
            else [read_data(api, h) for h in handles]
        )
        if program.get("backward", True):
            phase = BACKWARD
            mark(BACKWARD)
            api.backward(handles[-1])
        phase = READ
        mark(READ)
        if program.get("ends_only"):  # deep chains: the output and the leaves
            return {"data": [data[-1]], "grads": [api.read_grad(h) for h in leaves]}
        grads = [api.read_grad(h) for h in handles]
    except BaseException as err:
        error = describe_error(err)
        error["phase"] = PHASE_NAMES[phase]
        return {"error": error}
    return {"data": data, "grads": grads}
