"""CPU cost of the checker against floors measured beside it, in one run.

The machine these run on is shared, so every figure here is CPU time (user
plus system, of the process and its children: `resource.getrusage`), never
wall time, and each is the median of rounds that alternate between the
measured command and its floor:

- **fixed cost**: `gradcheck engine` on the built-in engine, default
  settings, against the bare `import sympy, mpmath, hypothesis` (target:
  at most 2.5 times);
- **random graphs**: CPU per random graph of the default size (max_nodes
  30), the engine in its worker as in real use (a run of N graphs, in the
  blocks of 50 with a seed each that every engine run uses, minus a run
  that only loads the engine), against a bare in-process float64
  finite-difference check of the same graphs (targets: 600 graphs/s or
  more, at most 15 times the bare check).

`--before DIR` runs every measured command a second time on another tree
of the project (`git archive REV | tar -x -C DIR`: its `DIR` goes first on
PYTHONPATH, for the worker too), in the same alternating rounds, so that a
before/after pair is measured side by side under the same load.

`benchmarks/checker.py` runs these as the `fixed_cost` and `graph_cost`
steps; alone::

    python benchmarks/cost.py [--quick] [--before DIR]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "import sympy, mpmath, hypothesis"
FIXED_TARGET = 2.5
GRAPHS_PER_S_TARGET = 600.0
BARE_RATIO_TARGET = 15.0
SEED = 2026

# Run in a child: load the built-in engine, run N random graphs (N = 0: load
# only) as every engine run does: in blocks of `BLOCK` graphs with a seed each
# (`random_graph_check`), since one Hypothesis run of 400 costs more per graph.
_GRAPHS = """
import sys
from gradcheck.internal.checking.engine_client import load_engine
from gradcheck.internal.checking.random_graphs import random_graph_check
n, seed, max_nodes = map(int, sys.argv[1:4])
with load_engine(None) as engine:
    if n:
        check = random_graph_check(
            engine, None, seed=seed, examples=n, max_nodes=max_nodes
        )
        assert check.status == "pass", check.message
"""


Command = Sequence[str] | tuple[Sequence[str], dict[str, str]]


def on_tree(command: Sequence[str], tree: str) -> tuple[Sequence[str], dict[str, str]]:
    """`command` run on the project tree at `tree` (first on PYTHONPATH).

    PYTHONSAFEPATH keeps `python -m` from putting the working directory (a
    checkout of the other tree, as a rule) ahead of PYTHONPATH.
    """
    path = os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p)
    return command, {**os.environ, "PYTHONPATH": path, "PYTHONSAFEPATH": "1"}


def byte_compile(tree: str) -> None:
    """Write the tree's .pyc files first, as `pip install` does.

    A checkout run from PYTHONPATH under PYTHONDONTWRITEBYTECODE (set on
    some machines, this one included) would otherwise compile every module
    on every run, in the checker and again in each worker, while the floor's
    libraries come compiled: the ratio would count the compiler.
    """
    for package in ("gradcheck", "micrograd"):
        compileall.compile_dir(
            os.path.join(tree, package), quiet=1, workers=1, force=False
        )


def cpu_seconds(command: Command) -> float:
    """CPU time (user + system) of `command` and everything it starts."""
    argv, env = command if isinstance(command, tuple) else (command, None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        list(argv),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def alternating(commands: dict[str, Command], rounds: int) -> dict[str, float]:
    """Median CPU seconds of each command over `rounds` alternating rounds."""
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            runs[name].append(cpu_seconds(command))
    return {name: statistics.median(times) for name, times in runs.items()}


def fixed_cost(
    rounds: int = 5, seed: int = SEED, before: str | None = None
) -> dict[str, Any]:
    """`gradcheck engine` (built-in, defaults) against the import floor."""
    engine = [sys.executable, "-m", "gradcheck", "engine", "--seed", str(seed)]
    commands: dict[str, Command] = {
        "floor": [sys.executable, "-c", FLOOR],
        "engine": engine,
    }
    if before:
        commands["engine_before"] = on_tree(engine, before)
    medians = alternating(commands, rounds)
    result = {
        "rounds": rounds,
        "floor_cpu_s": medians["floor"],
        "engine_cpu_s": medians["engine"],
        "ratio": medians["engine"] / medians["floor"],
        "target_ratio": FIXED_TARGET,
    }
    if before:
        result["before_engine_cpu_s"] = medians["engine_before"]
        result["before_ratio"] = medians["engine_before"] / medians["floor"]
    return result


def bare_check_seconds(examples: int, seed: int, max_nodes: int) -> dict[str, Any]:
    """CPU per graph of a float64 finite-difference check of the same graphs.

    The graphs are those the random phase judges (the same seeded
    generator, blocks and seeds); each gets a float64 forward pass and a
    central difference per variable, in this process: no engine, no worker.
    """
    from gradcheck.errors import PointError
    from gradcheck.internal.checking.engine_client import load_engine
    from gradcheck.internal.checking.random_graphs import BLOCK
    from gradcheck.internal.expr.graph import CONST, VAR
    from gradcheck.internal.expr.ops import OPS
    from gradcheck.internal.refs.graph_choices import seeded_graphs
    from gradcheck.internal.refs.references import clear_cache, float_value, reference

    with load_engine(None) as engine:  # the built-in engine's ops, as there
        ops, constants = engine.supported, engine.op_constants
    drawn: list[Any] = []
    # Drawing alone is timed too: a floor under any run that draws this way.
    draw_start = time.process_time()
    for k in range((examples + BLOCK - 1) // BLOCK):  # the blocks, as there
        share = min(BLOCK, examples - k * BLOCK)
        drawn += seeded_graphs(seed * 1000 + k, share, ops, max_nodes, constants)
    drawing = time.process_time() - draw_start

    def evaluate(graph: Any, point: dict[str, float]) -> float:
        values: list[float] = []
        for node in graph.nodes:
            if node.op == VAR:
                values.append(point[node.name])
            elif node.op == CONST:
                values.append(float(node.constant))
            else:
                # as the decoder computes it (mpmath where a float formula
                # overflows on the way to a finite result)
                args = [values[a] for a in node.args]
                values.append(float_value(OPS[node.op], args, node.constant))
        return values[-1]

    def bare_pass() -> float:
        start = time.process_time()
        for graph, point in drawn:
            evaluate(graph, point)
            for name in graph.variables:
                h = 1e-6 * max(1.0, abs(point[name]))
                up = evaluate(graph, dict(point, **{name: point[name] + h}))
                down = evaluate(graph, dict(point, **{name: point[name] - h}))
                _ = (up - down) / (2 * h)
        return time.process_time() - start

    # The median of five passes: one pass is a few tens of milliseconds,
    # short enough for the machine's other load to move it by half.
    seconds = statistics.median(bare_pass() for _ in range(5))
    # Both references of every graph, computed afresh, and nothing else:
    # the run needs them for every distinct graph it judges.
    clear_cache()
    references_start = time.process_time()
    for graph, point in drawn:
        with contextlib.suppress(PointError):
            reference(graph, point)
    references = time.process_time() - references_start
    count = max(1, len(drawn))
    return {
        "graphs": len(drawn),
        "per_graph_s": seconds / count,
        "draw_per_graph_s": drawing / count,
        "references_per_graph_s": references / count,
    }


def graph_cost(
    examples: int = 400,
    rounds: int = 3,
    seed: int = SEED,
    max_nodes: int = 30,
    before: str | None = None,
) -> dict[str, Any]:
    """CPU per random graph (worker included) against the bare float64 check."""
    command = [sys.executable, "-c", _GRAPHS]
    load = [*command, "0", str(seed), str(max_nodes)]
    graphs = [*command, str(examples), str(seed), str(max_nodes)]
    commands: dict[str, Command] = {"load": load, "graphs": graphs}
    if before:
        commands["load_before"] = on_tree(load, before)
        commands["graphs_before"] = on_tree(graphs, before)
    medians = alternating(commands, rounds)
    per_graph = max(medians["graphs"] - medians["load"], 1e-9) / examples
    bare = bare_check_seconds(examples, seed, max_nodes)
    extra: dict[str, Any] = {}
    if before:
        was = max(medians["graphs_before"] - medians["load_before"], 1e-9) / examples
        extra = {
            "before_per_graph_cpu_s": was,
            "before_graphs_per_cpu_s": 1.0 / was,
            "before_bare_ratio": was / bare["per_graph_s"],
        }
    return {
        "examples": examples,
        "max_nodes": max_nodes,
        "rounds": rounds,
        "load_cpu_s": medians["load"],
        "graphs_cpu_s": medians["graphs"],
        "per_graph_cpu_s": per_graph,
        "graphs_per_cpu_s": 1.0 / per_graph,
        "bare_per_graph_s": bare["per_graph_s"],
        "bare_ratio": per_graph / bare["per_graph_s"],
        # Drawing the same graphs, with nothing else: a floor under the run.
        "draw_per_graph_s": bare["draw_per_graph_s"],
        "draw_bare_ratio": bare["draw_per_graph_s"] / bare["per_graph_s"],
        # Their two references alone: another floor, above the 15x target.
        "references_per_graph_s": bare["references_per_graph_s"],
        "references_bare_ratio": bare["references_per_graph_s"] / bare["per_graph_s"],
        "target_graphs_per_s": GRAPHS_PER_S_TARGET,
        "target_bare_ratio": BARE_RATIO_TARGET,
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, 50 graphs")
    parser.add_argument(
        "--before", metavar="DIR", help="also run each command on the tree in DIR"
    )
    parser.add_argument("--only", choices=("fixed", "graphs"), help="one measurement")
    args = parser.parse_args(argv)
    rounds, examples = (1, 50) if args.quick else (5, 400)
    for tree in (str(ROOT), args.before):
        if tree:
            byte_compile(tree)
    result: dict[str, Any] = {}
    if args.only in (None, "fixed"):
        result["fixed_cost"] = fixed_cost(rounds, before=args.before)
    if args.only in (None, "graphs"):
        result["graph_cost"] = graph_cost(
            examples, max(1, rounds - 2), before=args.before
        )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
