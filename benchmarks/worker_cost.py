"""CPU per program run in the worker, against the engine alone, in one run.

What isolation and the worker's own bookkeeping cost per example: the same
programs go through `Engine.run_programs` to a worker process, through the
same request loop called in-process (no channel), and, as the floor, through
a bare loop that builds them on the engine class directly (no gradcheck
code at all). Each figure is CPU time (user plus system, of a child process
and its worker: `resource.getrusage`) of N programs minus the same child
with none (loading only), per program, the median of alternating rounds.

Two workloads: `small`, 12-node programs in batches of 64 and of 1 (the
probes and the shrinker), on the built-in engine; `chain`, compact chains
of 20,000 links on the lecture engine, whose closures make every node part
of a reference cycle (what the collector must free).

`--before DIR` measures the worker modes also on another tree of the
project (`git archive REV | tar -x -C DIR`), in the same rounds::

    python benchmarks/worker_cost.py [--quick] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "benchmarks") not in sys.path:  # loaded by file (the smoke tests)
    sys.path.insert(0, str(ROOT / "benchmarks"))
from cost import Command, alternating, on_tree  # noqa: E402

LECTURE = ROOT / "gradcheck" / "mutants" / "engines" / "lecture.py"
MICROGRAD = "micrograd.engine"  # imported with the project root on the path

# Run in a child: MODE ENGINE KIND COUNT BATCH; COUNT = 0 loads only.
_CHILD = r"""
import importlib, importlib.util, random, sys
mode, engine_file, kind, count, batch = sys.argv[1:6]
count, batch = int(count), int(batch)
OPS = ("add", "mul", "sub", "tanh", "add_const", "mul_const")

def small(seed):
    rng = random.Random(seed)
    nodes = [["var", [], None, "x"], ["var", [], None, "y"]]
    for _ in range(10):
        op = rng.choice(OPS)
        n = len(nodes)
        arity = 2 if op in ("add", "mul", "sub") else 1
        args = [rng.randrange(n) for _ in range(arity)]
        const = rng.choice((2, 0.5, -1.5)) if op.endswith("_const") else None
        nodes.append([op, args, const, ""])
    point = {"x": rng.uniform(-1, 1), "y": rng.uniform(-1, 1)}
    return {"nodes": nodes, "point": point, "backward": True}

def chain(length):
    return {"chain": [["mul_const", 2], ["mul_const", 0.5]], "length": length,
            "point": {"x": 0.5}, "backward": True, "ends_only": True}

programs = [small(i) for i in range(200)] if kind == "small" else [chain(20000)]
todo = [programs[i % len(programs)] for i in range(count)]

if mode == "bare":
    if engine_file.endswith(".py"):
        spec = importlib.util.spec_from_file_location("bare_engine", engine_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:  # a package on the path (the built-in micrograd)
        module = importlib.import_module(engine_file)
    Value = module.Value
    apply = {
        "add": lambda a, c: a[0] + a[1], "mul": lambda a, c: a[0] * a[1],
        "sub": lambda a, c: a[0] - a[1], "tanh": lambda a, c: a[0].tanh(),
        "add_const": lambda a, c: a[0] + c, "mul_const": lambda a, c: a[0] * c,
    }
    for p in todo:
        if "chain" in p:
            node = x = Value(p["point"]["x"])
            for i in range(p["length"]):
                node = apply[p["chain"][i % 2][0]]([node], p["chain"][i % 2][1])
            node.backward()
            out = [float(node.data), float(x.grad)]
            continue
        handles = []
        for op, args, const, name in p["nodes"]:
            if op == "var":
                handles.append(Value(p["point"][name]))
            else:
                handles.append(apply[op]([handles[a] for a in args], const))
        handles[-1].backward()
        out = [float(h.data) for h in handles] + [float(h.grad) for h in handles]
else:
    from gradcheck.internal.checking.engine_client import load_engine
    target = None if engine_file == "builtin" else engine_file
    with load_engine(target, isolate=mode == "worker") as engine:
        for start in range(0, len(todo), batch):
            results = engine.run_programs(todo[start : start + batch], 60.0)
            assert all(not isinstance(r, BaseException) for r in results), results
"""

WORKLOADS = {
    # name: (engine for the worker modes, engine file for bare, kind, count, batch)
    "small_batch64": ("builtin", MICROGRAD, "small", 20000, 64),
    "small_batch1": ("builtin", MICROGRAD, "small", 4000, 1),
    # Five chains, as a depth search runs a few: their garbage stays under
    # the worker's budget (`worker.runner.set_aside_garbage`).
    "chain_lecture": (str(LECTURE), LECTURE, "chain", 5, 1),
}


def _command(mode: str, workload: str, count: int) -> list[str]:
    engine, bare_file, kind, _, batch = WORKLOADS[workload]
    target = str(bare_file) if mode == "bare" else engine
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{_CHILD}"
        if mode == "bare"
        else _CHILD
    )
    return [sys.executable, "-c", code, mode, target, kind, str(count), str(batch)]


def measure(
    rounds: int, workloads: list[str], before: str | None, scale: float
) -> dict[str, Any]:
    """Per-program CPU of each mode, and its ratio to the bare engine."""
    commands: dict[str, Command] = {}
    modes = ["bare", "inprocess", "worker"] + (["worker_before"] if before else [])
    for workload in workloads:
        count = max(1, int(WORKLOADS[workload][3] * scale))
        for mode in modes:
            real = mode.removesuffix("_before")
            for n in (0, count):
                command = _command(real, workload, n)
                key = f"{workload}/{mode}/{n}"
                if mode == real:
                    commands[key] = command
                else:
                    assert before is not None  # the modes ending _before need a tree
                    commands[key] = on_tree(command, before)
    # `before` is only used for worker_before (the bare mode needs no tree).
    assert before or not any("_before" in k for k in commands)
    medians = alternating(commands, rounds)
    result: dict[str, Any] = {"rounds": rounds}
    for workload in workloads:
        count = max(1, int(WORKLOADS[workload][3] * scale))
        per = {
            mode: (
                medians[f"{workload}/{mode}/{count}"] - medians[f"{workload}/{mode}/0"]
            )
            / count
            for mode in modes
        }
        row: dict[str, float] = {f"{m}_us": per[m] * 1e6 for m in modes}
        for mode in modes[1:]:  # a tiny run may measure no bare cost at all
            row[f"{mode}_over_bare"] = per[mode] / max(per["bare"], 1e-9)
        if before:
            row["worker_speedup"] = per["worker_before"] / per["worker"]
        result[workload] = row
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round, fewer programs"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="another tree of the project, side by side")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    args = parser.parse_args(argv)
    rounds, scale = (1, 0.25) if args.quick else (args.rounds, 1.0)
    workloads = args.only or list(WORKLOADS)
    print(json.dumps(measure(rounds, workloads, args.before, scale), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
