"""Benchmark the checker: throughput, references, --jobs, start-up, detection.

Run from the repository root::

    python benchmarks/checker.py            # full sizes (a few minutes)
    python benchmarks/checker.py --quick    # CI-sized (seconds)

`benchmarks/run.py` runs this together with `benchmarks/engine.py` and
prints one table. Every measurement is a function returning a plain dict
(JSON-ready), so the smoke test can call each one at tiny sizes. Times are
wall-clock on a shared machine: compare numbers measured in the same run;
the first two steps (`benchmarks/cost.py`) measure CPU time instead.

0. CPU cost: `gradcheck engine` against the import floor, and a random
   graph against a bare float64 finite-difference check (`cost.py`);
1. random-graph phase: graphs/s by `max_nodes`, and `check_engine` end to end;
   `gradcheck engine` isolated (the default) against in-process, side by side;
2. symbolic reference against naive `sympy.diff` of the expanded expression,
   on a 100-node graph with heavy reuse (the naive run is a subprocess,
   killed at a time limit);
3. numeric reference cost against chain length (should be linear);
4. `jobs=2` against `jobs=1`;
5. start-up of the `gradcheck` command, and what `import gradcheck` imports;
6. detection threshold: tanh derivative scaled by (1 + eps);
7. the mutant gallery.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gradcheck.internal.expr.graph import Graph, GraphBuilder  # noqa: E402

SEED = 2026
# The point for the hand-built graphs (reuse graph and chains).
POINT = {"x": 0.5, "y": -0.3, "z": 0.8}
TANH_LINE = "self.grad += (1 - t**2) * out.grad"
# torch.autograd.gradcheck's documented defaults (eps is its finite-difference step).
TORCH_ATOL, TORCH_RTOL, TORCH_EPS = 1e-5, 1e-3, 1e-6
# Relative errors of the tanh derivative down to this one must be caught.
MUST_CATCH = 1e-11
# Isolated `gradcheck engine` may take at most this times the in-process run.
ISOLATION_TARGET = 1.3
# Random graphs of up to 30 ops per second (isolated), at least.
THROUGHPUT_TARGET = 150.0


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark run."""

    throughput: tuple[tuple[int, int], ...]  # (max_nodes, examples)
    end_to_end_examples: int
    # None: the tensor check's own default number of random programs.
    tensor_examples: int | None
    reuse_nodes: int
    naive_timeout: float
    naive_small: tuple[int, ...]  # naive sympy.diff also at these sizes
    chains: tuple[int, ...]
    repeats: int
    jobs_examples: int
    startup_repeats: int
    epsilons: tuple[float, ...]
    detection_examples: int
    mutant_examples: int
    mutants: int | None  # None: every mutant
    isolation_examples: int = 200  # gradcheck engine's default
    isolation_repeats: int = 3
    cost_rounds: int = 5  # alternating rounds of the CPU-time benchmarks (cost.py)
    cost_examples: int = 400


FULL = Config(
    throughput=((5, 200), (30, 200), (100, 100), (300, 50)),
    end_to_end_examples=200,
    tensor_examples=None,
    reuse_nodes=100,
    naive_timeout=60.0,
    naive_small=(10, 20, 30),
    chains=(100, 200, 400, 800),
    repeats=3,
    jobs_examples=400,
    startup_repeats=5,
    epsilons=(1e-3, 1e-5, 1e-7, 1e-9, 1e-11, 1e-13, 1e-14, 1e-15),
    detection_examples=50,
    mutant_examples=25,
    mutants=None,
)
QUICK = Config(
    throughput=((5, 20), (30, 20), (100, 10), (300, 5)),
    end_to_end_examples=20,
    tensor_examples=5,
    reuse_nodes=100,
    naive_timeout=5.0,
    naive_small=(10,),
    chains=(100, 200),
    repeats=1,
    jobs_examples=20,
    startup_repeats=1,
    epsilons=(1e-3, 1e-11),
    detection_examples=5,
    mutant_examples=5,
    mutants=6,
    isolation_examples=20,
    isolation_repeats=1,
    cost_rounds=1,
    cost_examples=50,
)


def _timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


# -- 1. random-graph throughput -------------------------------------------------


@contextmanager
def _recording_sizes() -> Iterator[list[int]]:
    """Record len(graph) of every graph the random phase judges.

    Passing graphs are judged in batches (`judged_in_order`); a failure's
    search and shrinking judge one graph at a time (`judge`).
    """
    import gradcheck.internal.checking.random_graphs as rg

    sizes: list[int] = []
    real = rg.judge  # type: ignore[attr-defined]
    real_batches = rg.judged_in_order  # type: ignore[attr-defined]

    def recording(engine: Any, graph: Graph, point: Any, **kw: Any) -> Any:
        sizes.append(len(graph))
        return real(engine, graph, point, **kw)

    def recording_batches(engine: Any, examples: Any, *args: Any, **kw: Any) -> Any:
        examples = list(examples)
        sizes.extend(len(e.graph) for e in examples)
        return real_batches(engine, examples, *args, **kw)

    rg.judge = recording  # type: ignore[attr-defined]
    rg.judged_in_order = recording_batches  # type: ignore[attr-defined]
    try:
        yield sizes
    finally:
        rg.judge = real  # type: ignore[attr-defined]
        rg.judged_in_order = real_batches  # type: ignore[attr-defined]


def random_graph_throughput(
    sizes: Sequence[tuple[int, int]], seed: int = SEED
) -> list[dict[str, Any]]:
    """Graphs/s of `run_random_graphs` on the built-in engine, per max_nodes."""
    from gradcheck.internal.checking.engine_client import load_engine
    from gradcheck.internal.checking.random_graphs import run_random_graphs

    engine = load_engine()
    run_random_graphs(engine, seed=seed, examples=3, max_nodes=5)  # warm caches
    rows = []
    for max_nodes, examples in sizes:
        with _recording_sizes() as seen:
            elapsed = _timer()
            check = run_random_graphs(
                engine, seed=seed, examples=examples, max_nodes=max_nodes
            )
            seconds = elapsed()
        rows.append(
            {
                "max_nodes": max_nodes,
                "examples": check.examples,
                "status": check.status,
                "inconclusive": check.inconclusive,
                "seconds": seconds,
                "graphs_per_s": check.examples / seconds,
                "median_nodes": statistics.median(seen) if seen else 0,
                "max_seen_nodes": max(seen, default=0),
            }
        )
    return rows


def end_to_end(examples: int, seed: int = SEED) -> dict[str, Any]:
    """`check_engine(examples=...)` on default settings: every probe included."""
    from gradcheck.internal.checking.check import check_engine

    elapsed = _timer()
    report = check_engine(examples=examples, seed=seed)
    seconds = elapsed()
    random_phase = next(c for c in report.checks if c.name == "random-graphs")
    return {
        "examples": examples,
        "status": report.status,
        "seconds": seconds,
        "graphs_per_s": examples / seconds,
        "random_phase_s": random_phase.seconds,
        "probes_s": seconds - random_phase.seconds,
        "target_graphs_per_s": 20,
    }


# A correct tensor engine's default check must take at most this long.
TENSOR_TARGET_S = 15.0


def tensor_end_to_end(examples: int | None = None, seed: int = SEED) -> dict[str, Any]:
    """`check_tensor_engine` on the gallery's correct tensor engine, defaults.

    `examples=None` is the default check (its 30 random programs). Reported
    beside the scalar end-to-end run of the same benchmark run.
    """
    from gradcheck.internal.checking.engine_client import load_source
    from gradcheck.internal.tensor import check_tensor_engine
    from gradcheck.mutants.tensor import TENSOR_BASE_ENGINE

    target = load_source("tensor_base", TENSOR_BASE_ENGINE)
    elapsed = _timer()
    if examples is None:
        report = check_tensor_engine(target, seed=seed)
    else:
        report = check_tensor_engine(target, examples=examples, seed=seed)
    seconds = elapsed()
    return {
        "examples": "default" if examples is None else examples,
        "status": report.status,
        "seconds": seconds,
        "target_s": TENSOR_TARGET_S,
    }


def _check_in_process(examples: int, seed: int) -> tuple[float, Any]:
    """load_engine(isolate=False) + check_engine on it: no worker process."""
    from gradcheck.internal.checking.check import check_engine
    from gradcheck.internal.checking.engine_client import load_engine

    elapsed = _timer()
    engine = load_engine(None, isolate=False)
    try:
        report = check_engine(engine, examples=examples, seed=seed)
    finally:
        engine.close()
    return elapsed(), report


def _check_isolated(examples: int, seed: int) -> tuple[float, Any]:
    """check_engine(None): the default, the engine in its own worker process."""
    from gradcheck.internal.checking.check import check_engine

    elapsed = _timer()
    report = check_engine(None, examples=examples, seed=seed)
    return elapsed(), report


def isolation_overhead(
    examples: int, repeats: int = 1, seed: int = SEED
) -> dict[str, Any]:
    """`gradcheck engine` end to end, in-process against isolated, alternated.

    Both sides load the built-in engine and run every probe and `examples`
    random graphs with default settings; best of `repeats` each.
    """
    _check_in_process(2, seed)  # imports and caches outside the timing
    _check_isolated(2, seed)
    inside: list[float] = []
    isolated: list[float] = []
    statuses = set()
    phases: dict[str, list[float]] = {"in_process": [], "isolated": []}
    for _ in range(repeats):
        for run, times, key in (
            (_check_in_process, inside, "in_process"),
            (_check_isolated, isolated, "isolated"),
        ):
            seconds, report = run(examples, seed)
            times.append(seconds)
            statuses.add(report.status)
            random_phase = next(
                (c for c in report.checks if c.name == "random-graphs"), None
            )
            phases[key].append(random_phase.seconds if random_phase else 0.0)
    best_in, best_iso = min(inside), min(isolated)
    return {
        "examples": examples,
        "in_process_s": best_in,
        "isolated_s": best_iso,
        "ratio": best_iso / best_in,
        "random_phase_in_process_s": min(phases["in_process"]),
        "random_phase_isolated_s": min(phases["isolated"]),
        "all_runs": {"in_process": inside, "isolated": isolated},
        "statuses": sorted(statuses),
        "target_ratio": ISOLATION_TARGET,
    }


# -- 2. symbolic reference against naive sympy.diff -----------------------------


def reuse_graph(nodes: int = 100, seed: int = SEED, window: int = 4) -> Graph:
    """`nodes` nodes, each op using the last node and one of the few before it.

    Binary ops (add, mul) alternate with sigmoid or tanh, which keep values
    near 0.5-1, so every gradient is far from zero. Every shared node is
    copied into each use when the graph is written out as one expression,
    so the expanded tree grows exponentially with the depth.
    """
    rng = random.Random(seed)
    b = GraphBuilder()
    x, y, z = (b.var(v) for v in POINT)
    chain = [x, y, z, b.op("mul", x, y)]
    chain.append(b.op("add", chain[-1], z))
    while len(b) < nodes:
        other = chain[-rng.randint(2, min(window, len(chain)))]
        chain.append(b.op(rng.choice(("add", "mul")), chain[-1], other))
        if len(b) < nodes:
            chain.append(b.op(rng.choice(("sigmoid", "sigmoid", "tanh")), chain[-1]))
    return b.build()


def _naive_stages(nodes: int, seed: int) -> Iterator[dict[str, Any]]:
    """Naive symbolic differentiation, stage by stage (runs in a subprocess)."""
    import sympy

    elapsed = _timer()
    graph = reuse_graph(nodes, seed)
    symbols = {v: sympy.Symbol(v, real=True) for v in graph.variables}
    expr = graph.to_sympy(symbols)
    yield {"stage": "to_sympy", "seconds": elapsed()}
    at = {symbols[v]: sympy.Float(POINT[v], 60) for v in graph.variables}
    for name, sym in symbols.items():
        derivative = sympy.diff(expr, sym)
        yield {"stage": f"diff {name}", "seconds": elapsed()}
        value = derivative.evalf(50, subs=at)
        yield {"stage": f"evalf {name}", "seconds": elapsed(), "value": str(value)}
    yield {"stage": "done", "seconds": elapsed()}


def naive_symbolic(nodes: int, timeout: float, seed: int = SEED) -> dict[str, Any]:
    """Run the naive differentiation in a subprocess, killed after `timeout` s."""
    command = [sys.executable, str(Path(__file__).resolve()), "--naive", str(nodes)]
    command += ["--seed", str(seed)]
    elapsed = _timer()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        finished = proc.returncode == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        finished = False
    seconds = elapsed()
    stages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    done = bool(stages) and stages[-1]["stage"] == "done"
    return {
        "nodes": nodes,
        "finished": finished and done,
        "timeout_s": timeout,
        "seconds": stages[-1]["seconds"] if done else None,
        "wall_s": seconds,
        "last_stage": stages[-1]["stage"] if stages else None,
        "stages": stages,
    }


def _cold_symbolic(nodes: int, seed: int) -> float:
    """First symbolic_reference in a fresh process: SymPy import and rules included."""
    command = [sys.executable, str(Path(__file__).resolve()), "--cold", str(nodes)]
    done = subprocess.run(
        [*command, "--seed", str(seed)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def symbolic_vs_naive(
    nodes: int, timeout: float, small: Sequence[int] = (), seed: int = SEED
) -> dict[str, Any]:
    """Our chain-rule symbolic reference against sympy.diff of the whole tree."""
    import mpmath

    from gradcheck.internal.refs.symbolic import expanded_size, symbolic_reference

    graph = reuse_graph(nodes, seed)
    point = {v: POINT[v] for v in graph.variables}
    first = symbolic_reference(graph, point)
    warm = []
    for _ in range(5):
        elapsed = _timer()
        symbolic_reference(graph, point)
        warm.append(elapsed())
    naive = naive_symbolic(nodes, timeout, seed)
    smaller = []
    for n in small:
        g = reuse_graph(n, seed)
        result = naive_symbolic(n, timeout, seed)
        ours = _timer()
        symbolic_reference(g, {v: POINT[v] for v in g.variables})
        result["ours_s"] = ours()
        result["expanded_size"] = expanded_size(g, cap=10**60)
        smaller.append(result)
    return {
        "nodes": len(graph),
        "ops": graph.op_count,
        "depth": graph.depth(),
        "variables": list(graph.variables),
        "expanded_size": expanded_size(graph, cap=10**60),
        "ours_cold_s": _cold_symbolic(nodes, seed),
        "ours_warm_s": statistics.median(warm),
        "gradients": {k: mpmath.nstr(v, 15) for k, v in first.gradients.items()},
        "naive": naive,
        "naive_smaller": smaller,
        "target_ours_s": 1.0,
    }


# -- 3. numeric reference cost against chain length -----------------------------


def chain(length: int) -> Graph:
    """x*y followed by tanh and *1.5 alternately: `length` nodes in all."""
    b = GraphBuilder()
    node = b.op("mul", b.var("x"), b.var("y"))
    while len(b) < length:
        if len(b) % 2:
            node = b.op("tanh", node)
        else:
            node = b.op("mul_const", node, constant=1.5)
    return b.build()


def numeric_scaling(lengths: Sequence[int], repeats: int = 3) -> list[dict[str, Any]]:
    """Time of numeric_reference (and symbolic_reference) per chain length."""
    from gradcheck.internal.refs.numeric import numeric_reference
    from gradcheck.internal.refs.symbolic import symbolic_reference

    rows = []
    for length in lengths:
        graph = chain(length)
        point = {v: POINT[v] for v in graph.variables}
        symbolic_reference(graph, point)  # SymPy rules compiled outside the timing
        numeric, symbolic = [], []
        for _ in range(repeats):
            elapsed = _timer()
            numeric_reference(graph, point)
            numeric.append(elapsed())
            elapsed = _timer()
            symbolic_reference(graph, point)
            symbolic.append(elapsed())
        per_variable = min(numeric) / len(graph.variables)
        rows.append(
            {
                "nodes": len(graph),
                "variables": len(graph.variables),
                "numeric_s": min(numeric),
                "numeric_per_variable_s": per_variable,
                "numeric_per_variable_per_node_us": per_variable / len(graph) * 1e6,
                "symbolic_s": min(symbolic),
            }
        )
    base = rows[0]["numeric_per_variable_per_node_us"]
    for row in rows:
        row["growth"] = row["numeric_per_variable_per_node_us"] / base
    return rows


# -- 4. --jobs speed-up ----------------------------------------------------------


def jobs_speedup(examples: int, repeats: int = 1, seed: int = SEED) -> dict[str, Any]:
    """check_engine with jobs=1 against jobs=2 (alternated, best of `repeats`)."""
    from gradcheck.internal.checking.check import check_engine

    one: list[float] = []
    two: list[float] = []
    statuses = set()
    for _ in range(repeats):
        for jobs, times in ((1, one), (2, two)):
            elapsed = _timer()
            report = check_engine(examples=examples, seed=seed, jobs=jobs)
            times.append(elapsed())
            statuses.add(report.status)
    return {
        "examples": examples,
        "cpus": os.cpu_count(),
        "jobs1_s": min(one),
        "jobs2_s": min(two),
        "speedup": min(one) / min(two),
        "all_runs": {"jobs1": one, "jobs2": two},
        "statuses": sorted(statuses),
    }


# -- 5. start-up ----------------------------------------------------------------


def _command() -> list[str]:
    script = Path(sys.executable).parent / "gradcheck"
    if script.exists():
        return [str(script)]
    found = shutil.which("gradcheck")
    return [found] if found else [sys.executable, "-m", "gradcheck"]


EXPRESSION_ARGS = ["tanh(w*x + b)", "--at", "w=0.5", "--at", "x=-1", "--at", "b=0.1"]


def _run_timed(command: list[str]) -> tuple[float, int]:
    elapsed = _timer()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return elapsed(), done.returncode


def startup(repeats: int = 5) -> dict[str, Any]:
    """Median wall time of `gradcheck --help` and of one expression check."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "gradcheck --help": [*_command(), "--help"],
        "gradcheck EXPR --at ...": [*_command(), *EXPRESSION_ARGS],
    }
    result: dict[str, Any] = {"command": " ".join(_command())}
    for name, command in commands.items():
        runs = [_run_timed(command) for _ in range(repeats)]
        result[name] = {
            "median_s": statistics.median(t for t, _ in runs),
            "exit_codes": sorted({code for _, code in runs}),
        }
    result["imports"] = {
        statement: import_report(statement)
        for statement in (
            "import gradcheck",
            "import gradcheck.cli",
            "from gradcheck import check_engine",
        )
    }
    return result


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def parse_importtime(text: str) -> list[tuple[str, int, int, int]]:
    """(module, level, self us, cumulative us) for each `-X importtime` line."""
    rows = []
    for line in text.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            rows.append((name, len(indent) // 2, int(own), int(cumulative)))
    return rows


def import_chain(rows: list[tuple[str, int, int, int]], module: str) -> list[str]:
    """The import chain from the top level down to `module`, or [] if absent.

    `-X importtime` prints a module after everything it imports, one level
    deeper per nesting: the importer is the next line one level up.
    """
    for index, (name, level, _, _) in enumerate(rows):
        if name != module:
            continue
        chain = [name]
        for parent, parent_level, _, _ in rows[index + 1 :]:
            if parent_level < level:
                chain.append(parent)
                level = parent_level
            if level == 0:
                break
        return chain[::-1]
    return []


def import_report(statement: str) -> dict[str, Any]:
    """What `statement` imports: time, whether sympy/hypothesis come along, why."""
    probe = (
        f"{statement}; import sys; "
        "print([m for m in ('hypothesis', 'mpmath', 'sympy') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = parse_importtime(done.stderr)
    heavy = json.loads(done.stdout.strip().replace("'", '"') or "[]")
    top = sorted((r for r in rows if r[1] == 0), key=lambda r: -r[3])[:6]
    return {
        "total_s": sum(r[3] for r in rows if r[1] == 0) / 1e6,
        "heavy_modules": heavy,
        "chains": {m: import_chain(rows, m) for m in heavy},
        "top_level": [{"module": r[0], "cumulative_s": r[3] / 1e6} for r in top],
    }


# -- 6. detection threshold ------------------------------------------------------


def perturbed_tanh_source(eps: float) -> str:
    """BASE_ENGINE with the tanh derivative multiplied by (1 + eps)."""
    from gradcheck.mutants import BASE_ENGINE

    if BASE_ENGINE.count(TANH_LINE) != 1:
        raise RuntimeError(f"BASE_ENGINE no longer has exactly one {TANH_LINE!r}")
    new = f"self.grad += (1 - t**2) * (1 + {eps!r}) * out.grad"
    return BASE_ENGINE.replace(TANH_LINE, new)


def detection_threshold(
    epsilons: Sequence[float], examples: int = 50, seed: int = SEED
) -> list[dict[str, Any]]:
    """Which perturbed-tanh engines check_engine catches, and by which check."""
    from gradcheck.internal.checking.check import check_engine
    from gradcheck.internal.checking.engine_client import load_source

    rows = []
    for eps in (0.0, *epsilons):
        module = load_source(f"tanh_eps_{eps:g}", perturbed_tanh_source(eps))
        elapsed = _timer()
        report = check_engine(module, examples=examples, seed=seed)
        failures = report.failures
        rows.append(
            {
                "eps": eps,
                "caught": bool(failures),
                "first_check": failures[0].name if failures else None,
                "categories": sorted({c.category for c in failures}),
                "failed_checks": [c.name for c in failures],
                "seconds": elapsed(),
                "torch_accepts": torch_accepts(eps),
            }
        )
    return rows


TORCH_POINTS = (-3.0, -1.0, -0.1, 0.0, 0.5, 2.0)


def torch_accepts(eps: float, points: Sequence[float] = TORCH_POINTS) -> bool:
    """Whether torch.autograd.gradcheck's default tolerances accept the bug.

    No torch involved: its documented criterion
    |analytic - numeric| <= atol + rtol * |numeric| (atol=1e-5, rtol=1e-3)
    applied to analytic = (1 - tanh(x)**2) * (1 + eps) and numeric taken as
    both the exact derivative and a float64 central difference with torch's
    default step 1e-6. Accepted only if accepted at every point both ways.
    """
    for x in points:
        exact = 1 - math.tanh(x) ** 2
        analytic = exact * (1 + eps)
        h = TORCH_EPS
        central = (math.tanh(x + h) - math.tanh(x - h)) / (2 * h)
        for numeric in (exact, central):
            if abs(analytic - numeric) > TORCH_ATOL + TORCH_RTOL * abs(numeric):
                return False
    return True


def torch_threshold(points: Sequence[float] = TORCH_POINTS) -> float:
    """Smallest eps (power of ten) that torch's default tolerances reject."""
    for power in range(-12, 3):
        if not torch_accepts(10.0**power, points):
            return 10.0**power
    return math.inf


# -- 7. mutant gallery -----------------------------------------------------------


def mutant_gallery(
    examples: int = 25, limit: int | None = None, seed: int = SEED
) -> dict[str, Any]:
    """Check every mutant; caught = a failure in its category or `also` ones."""
    from gradcheck.internal.checking.check import check_engine
    from gradcheck.internal.checking.engine_client import load_source
    from gradcheck.mutants import MUTANTS

    mutants = MUTANTS if limit is None else MUTANTS[:limit]
    rows = []
    total = _timer()
    for mutant in mutants:
        expected = {mutant.category, *getattr(mutant, "also", ())}
        elapsed = _timer()
        try:
            module = load_source(mutant.module_name, mutant.source())
            report = check_engine(module, examples=examples, seed=seed)
            found = sorted({c.category for c in report.failures})
            error = None
        except Exception as err:  # a checker error counts as a miss
            found, error = [], f"{type(err).__name__}: {err}"
        rows.append(
            {
                "name": mutant.name,
                "expected": mutant.category,
                "found": found,
                "caught": bool(found),
                "caught_expected": bool(expected & set(found)),
                "seconds": elapsed(),
                "error": error,
            }
        )
    seconds = total()
    return {
        "examples": examples,
        "mutants": len(rows),
        "seconds": seconds,
        "seconds_per_mutant": seconds / max(1, len(rows)),
        "caught": sum(r["caught"] for r in rows),
        "caught_expected": sum(r["caught_expected"] for r in rows),
        "missed": [r["name"] for r in rows if not r["caught_expected"]],
        "rows": rows,
    }


# -- all of it -------------------------------------------------------------------


def run_all(
    config: Config,
    seed: int = SEED,
    log: Callable[[str], None] = print,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every checker benchmark (or those named in `only`) at `config`'s sizes."""
    results: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("fixed_cost", lambda: _cost().fixed_cost(config.cost_rounds, seed)),
        (
            "graph_cost",
            lambda: _cost().graph_cost(
                config.cost_examples, max(1, config.cost_rounds - 2), seed
            ),
        ),
        ("throughput", lambda: random_graph_throughput(config.throughput, seed)),
        ("end_to_end", lambda: end_to_end(config.end_to_end_examples, seed)),
        ("tensor", lambda: tensor_end_to_end(config.tensor_examples, seed)),
        (
            "isolation",
            lambda: isolation_overhead(
                config.isolation_examples, config.isolation_repeats, seed
            ),
        ),
        (
            "symbolic",
            lambda: symbolic_vs_naive(
                config.reuse_nodes, config.naive_timeout, config.naive_small, seed
            ),
        ),
        ("numeric", lambda: numeric_scaling(config.chains, config.repeats)),
        ("jobs", lambda: jobs_speedup(config.jobs_examples, config.repeats, seed)),
        ("startup", lambda: startup(config.startup_repeats)),
        (
            "detection",
            lambda: detection_threshold(
                config.epsilons, config.detection_examples, seed
            ),
        ),
        (
            "mutants",
            lambda: mutant_gallery(config.mutant_examples, config.mutants, seed),
        ),
    ]
    known = [name for name, _ in steps]
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {known}")
    for name, step in steps:
        if only and name not in only:
            continue
        log(f"checker: {name} ...")
        elapsed = _timer()
        results[name] = step()
        log(f"checker: {name} done in {elapsed():.1f} s")
    results["torch_threshold_eps"] = torch_threshold()
    return results


def _cost() -> Any:
    """benchmarks/cost.py (benchmarks/ is not a package)."""
    import importlib.util

    name = "_benchmarks_cost"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "benchmarks" / "cost.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(name, value, unit, target, ok) for the one table run.py prints."""
    rows: list[tuple[str, str, str, str, str]] = []

    def add(
        name: str, value: str, unit: str, target: str = "", ok: bool | None = None
    ) -> None:
        rows.append(
            (name, value, unit, target, "" if ok is None else ("yes" if ok else "NO"))
        )

    if "fixed_cost" in results:
        f = results["fixed_cost"]
        add(
            "gradcheck engine (built-in) / import sympy, mpmath, hypothesis",
            f"{f['ratio']:.2f}x",
            f"CPU {f['engine_cpu_s']:.2f} s vs {f['floor_cpu_s']:.2f} s",
            f"<= {f['target_ratio']:g}x",
            f["ratio"] <= f["target_ratio"],
        )
    if "graph_cost" in results:
        g = results["graph_cost"]
        add(
            f"random graphs, max_nodes={g['max_nodes']}, CPU incl. worker",
            f"{g['graphs_per_cpu_s']:.0f}",
            "graphs/CPU s",
            f">= {g['target_graphs_per_s']:g}",
            g["graphs_per_cpu_s"] >= g["target_graphs_per_s"],
        )
        add(
            "random graph / bare float64 finite-difference check",
            f"{g['bare_ratio']:.1f}x",
            f"{_fmt(g['per_graph_cpu_s'])} vs {_fmt(g['bare_per_graph_s'])}",
            f"<= {g['target_bare_ratio']:g}x",
            g["bare_ratio"] <= g["target_bare_ratio"],
        )
    for r in results.get("throughput", []):
        targeted = r["max_nodes"] == 30
        add(
            f"random graphs, max_nodes={r['max_nodes']} "
            f"(median {r['median_nodes']:g} nodes)",
            f"{r['graphs_per_s']:.1f}",
            "graphs/s",
            f">= {THROUGHPUT_TARGET:g}" if targeted else "",
            r["graphs_per_s"] >= THROUGHPUT_TARGET if targeted else None,
        )
    if "end_to_end" in results:
        e = results["end_to_end"]
        add(
            f"check_engine(examples={e['examples']}) end to end",
            f"{e['graphs_per_s']:.1f}",
            "graphs/s",
            ">= 20",
            e["graphs_per_s"] >= 20 and e["status"] == "pass",
        )
    if "tensor" in results:
        t = results["tensor"]
        ratio = ""
        if "end_to_end" in results and results["end_to_end"]["seconds"]:
            ratio = f" ({t['seconds'] / results['end_to_end']['seconds']:.2f}x scalar)"
        add(
            f"check_tensor_engine(examples={t['examples']}), correct engine{ratio}",
            _fmt(t["seconds"]),
            "",
            f"<= {TENSOR_TARGET_S:g} s",
            t["seconds"] <= TENSOR_TARGET_S and t["status"] == "pass",
        )
    if "isolation" in results:
        i = results["isolation"]
        add(
            f"gradcheck engine, isolated / in-process (examples={i['examples']})",
            f"{i['ratio']:.2f}x",
            f"{_fmt(i['isolated_s'])} vs {_fmt(i['in_process_s'])}",
            f"<= {i['target_ratio']:g}x",
            i["ratio"] <= i["target_ratio"] and i["statuses"] == ["pass"],
        )
    if "symbolic" in results:
        s = results["symbolic"]
        add(
            "reuse graph: nodes / expanded tree",
            f"{s['nodes']} / {s['expanded_size']:.3g}",
            "nodes",
        )
        add(
            "symbolic_reference, warm",
            _fmt(s["ours_warm_s"]),
            "",
            "< 1 s",
            s["ours_warm_s"] < 1,
        )
        add(
            "symbolic_reference, cold (+ SymPy rules)",
            _fmt(s["ours_cold_s"]),
            "",
            "< 1 s",
            s["ours_cold_s"] < 1,
        )
        n = s["naive"]
        naive = _fmt(n["seconds"]) if n["finished"] else f"> {n['timeout_s']:g} s"
        add(
            f"naive sympy.diff + evalf, {s['nodes']} nodes",
            naive,
            "" if n["finished"] else f"done: {n['last_stage'] or 'nothing'}",
        )
        for small in s["naive_smaller"]:
            value = (
                _fmt(small["seconds"])
                if small["finished"]
                else f"> {small['timeout_s']:g} s"
            )
            add(
                f"naive vs ours, {small['nodes']} nodes "
                f"(tree {small['expanded_size']:,})",
                f"{value} vs {_fmt(small['ours_s'])}",
                "",
            )
    for r in results.get("numeric", []):
        add(
            f"numeric ref, chain of {r['nodes']}",
            f"{r['numeric_per_variable_per_node_us']:.1f}",
            "us/node/var",
            "linear",
            r["growth"] < 1.5,
        )
    if "jobs" in results:
        j = results["jobs"]
        add(
            f"--jobs 2 speed-up ({j['examples']} graphs)",
            f"{j['speedup']:.2f}x",
            f"{_fmt(j['jobs1_s'])} -> {_fmt(j['jobs2_s'])}",
            "> 1",
            j["speedup"] > 1,
        )
    if "startup" in results:
        st = results["startup"]
        for name in ("python -c pass", "gradcheck --help", "gradcheck EXPR --at ..."):
            add(f"start-up: {name}", _fmt(st[name]["median_s"]), "median")
        for statement, info in st["imports"].items():
            heavy = ", ".join(info["heavy_modules"]) or "nothing heavy"
            add(
                f"{statement} imports",
                heavy,
                "",
                "no sympy/hypothesis",
                not ({"sympy", "hypothesis"} & set(info["heavy_modules"])),
            )
    for r in results.get("detection", []):
        by = f"{r['first_check']}" if r["caught"] else "not caught"
        # Below MUST_CATCH the error nears float64 rounding: information only.
        target, ok = "caught", r["caught"]
        if r["eps"] == 0:
            target, ok = "pass", not r["caught"]
        elif r["eps"] < MUST_CATCH:
            target, ok = "info", None
        add(
            f"tanh' * (1 + {r['eps']:g})",
            by,
            "torch accepts" if r["torch_accepts"] else "torch rejects",
            target,
            ok,
        )
    if "mutants" in results:
        m = results["mutants"]
        add(
            f"mutants caught in expected category (examples={m['examples']})",
            f"{m['caught_expected']}/{m['mutants']}",
            f"in {_fmt(m['seconds'])}",
            "all",
            m["caught_expected"] == m["mutants"],
        )
    return rows


def print_table(rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    header = ("benchmark", "value", "unit", "target", "ok?")
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(5)]
    line = " | ".join(
        f"{{:{'<' if k in (0, 2) else '>'}{w}}}" for k, w in enumerate(widths)
    )
    print(line.format(*header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--only", default=None, help="comma-separated steps, e.g. isolation,throughput"
    )
    parser.add_argument("--naive", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cold", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "checker.json"
    )
    args = parser.parse_args(argv)
    if args.naive is not None:  # the subprocess of naive_symbolic
        for stage in _naive_stages(args.naive, args.seed):
            print(json.dumps(stage), flush=True)
        return 0
    if args.cold is not None:  # the subprocess of _cold_symbolic
        from gradcheck.internal.refs.symbolic import symbolic_reference

        graph = reuse_graph(args.cold, args.seed)
        elapsed = _timer()
        symbolic_reference(graph, {v: POINT[v] for v in graph.variables})
        print(elapsed())
        return 0
    only = args.only.split(",") if args.only else None
    results = run_all(QUICK if args.quick else FULL, args.seed, log=_log, only=only)
    print_table(table_rows(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
