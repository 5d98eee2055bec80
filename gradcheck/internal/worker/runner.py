"""Build graph programs on the engine, backpropagate, read every number.

A program is plain data from the parent: nodes in topological order, each
`[op, operand indices, constant, variable name]`, and the point; or, for the
depth search's long chains, a compact `chain` (one period of `[op, constant]`
links, repeated up to `length` links after the leaf `x`), which the worker
expands itself: 100,000 links would otherwise be 3 MB of JSON to encode,
send and decode for what is a few bytes of spec. The answer
is plain data too: per-node values (read from inside a Value that an op
left in `.data`) and gradients, packed (`protocol.pack_floats`), with the
nodes where the engine keeps no gradient (None) listed in `missing`; or the
engine's exception and where it was raised.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

from gradcheck.internal.worker.api import Api
from gradcheck.internal.worker.faults import describe_error
from gradcheck.internal.worker.op_calls import OP_CALLS
from gradcheck.internal.worker.protocol import pack_floats
from gradcheck.internal.worker.reading import data_reader

# Phases, written to the status page so a crash can say where it happened.
BUILD, BACKWARD, READ = 2, 3, 4
PHASE_NAMES = {
    BUILD: "while building the graph",
    BACKWARD: "in backward()",
    READ: "while reading gradients",
}


# A program this large (a deep chain) runs with the cyclic garbage collector
# paused: a micrograd node and its `_backward` closure form a cycle, and the
# collector passes over a growing heap of 100,000 of them would take twice
# as long as building and backpropagating the chain. Its garbage is then
# set aside (`set_aside_garbage`).
LARGE_PROGRAM = 1000
# Garbage set aside, not freed, while the worker's memory has grown by less
# than this (and an eighth of its memory limit): see `set_aside_garbage`.
GARBAGE_BUDGET = 512 << 20
_page_size = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_open, _read, _close = os.open, os.read, os.close  # an engine may replace them
_froze = False  # whether `set_aside_garbage` has frozen anything


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
    cls: type,
    api: Api,
    program: dict[str, Any],
    mark: Callable[[int], None],
    garbage_ceiling: int = 0,
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
        set_aside_garbage(garbage_ceiling)


def set_aside_garbage(ceiling: int) -> None:
    """After a large program: free its garbage, or leave it where no pass looks.

    A cyclic engine's chain of 100,000 nodes is about a million objects, and
    freeing them costs as much as building and backpropagating the chain.
    The worker is killed at the end, never left to exit, so garbage never
    freed costs nothing: while the worker's resident memory stays below
    `ceiling` bytes (`garbage_ceiling`), everything is frozen (`gc.freeze`:
    the collector's passes skip it) instead. Past it, or with no ceiling
    (the loop run in the checker's own process), it is all collected, as
    before, unfrozen first only if garbage was frozen here: a worker forked
    from the checker inherits the checker's frozen heap, which a plain
    collection leaves alone.
    """
    global _froze
    resident = resident_bytes()
    if ceiling > 0 and resident is not None and resident < ceiling:
        gc.freeze()
        _froze = True
        return
    if _froze:
        gc.unfreeze()
        _froze = False
    gc.collect()


def garbage_ceiling(limit: int) -> int:
    """The resident memory below which garbage is set aside; 0: never.

    What the worker holds now plus `GARBAGE_BUDGET`, or an eighth of its
    memory limit if less: what is kept must never be what makes a later
    program run out of memory. 0 where the resident memory cannot be read.
    """
    resident = resident_bytes()
    if resident is None:
        return 0
    budget = min(GARBAGE_BUDGET, limit // 8) if limit > 0 else GARBAGE_BUDGET
    return resident + budget


def resident_bytes() -> int | None:
    """The process's resident memory (Linux); None where it cannot be read."""
    try:
        fd = _open("/proc/self/statm", os.O_RDONLY)
        try:
            fields = _read(fd, 256).split()
        finally:
            _close(fd)
        return int(fields[1]) * _page_size
    except (OSError, ValueError, IndexError):
        return None


def _run_program(
    cls: type, api: Api, program: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
    point = program["point"]
    wrap = (lambda c: api.make(cls, c)) if api.wrap_constants else None
    names, read, read_grad = api.op_names, data_reader(api), api.grad_reader()
    nodes = program_nodes(program) if "chain" in program else program["nodes"]
    handles: list[Any] = []
    leaves: list[Any] = []  # the variables' handles, for `ends_only`
    phase = BUILD
    mark(BUILD)
    try:
        for op, args, constant, name in nodes:
            if op == "var":
                handles.append(api.make(cls, point[name]))
                leaves.append(handles[-1])
            elif op == "const":
                handles.append(api.make(cls, constant))
            else:
                operands = [handles[a] for a in args]
                handles.append(OP_CALLS[op](operands, constant, names, wrap))
        ends_only = program.get("ends_only")
        data = [read(h) for h in (handles[-1:] if ends_only else handles)]
        if program.get("backward", True):
            phase = BACKWARD
            mark(BACKWARD)
            api.backward(handles[-1])
        phase = READ
        mark(READ)
        if ends_only:  # deep chains: the output and the leaves
            return _answer(data, [read_grad(h) for h in leaves])
        grads = [read_grad(h) for h in handles]
    except BaseException as err:
        error = describe_error(err)
        error["phase"] = PHASE_NAMES[phase]
        return {"error": error}
    return _answer(data, grads)


def _answer(data: list[float], grads: list[float | None]) -> dict[str, Any]:
    """The numbers packed; a gradient the engine does not keep goes as 0.0."""
    if None not in grads:
        return {
            "data": pack_floats(data),
            "grads": pack_floats(cast(list[float], grads)),
        }
    return {
        "data": pack_floats(data),
        "grads": pack_floats([0.0 if g is None else g for g in grads]),
        "missing": [i for i, g in enumerate(grads) if g is None],
    }
