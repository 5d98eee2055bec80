"""Benchmark our micrograd against micrograd 0.1.0 from the package index.

Run from the repository root::

    python benchmarks/engine.py            # sizes 10k, 100k, 200k, 1M
    python benchmarks/engine.py --quick    # sizes 10k, 100k only

micrograd 0.1.0 is installed with ``pip install --target <tmpdir>`` at the
start of every run (its code is never vendored here) and loaded under the
module name ``micrograd_0_1_0`` so that it cannot clash with ours.

Both engines replay the *same* random program: a list of ``(op, i, j)``
steps generated once per size with a fixed seed. micrograd 0.1.0 only has
``+``, ``*``, ``**`` and ``relu`` as single nodes (its ``-``, ``/`` and
``neg`` are built from several nodes and it has no ``tanh``/``exp``), so the
shared program uses exactly those four ops and both engines build graphs
with the same nodes and edges. A plain-float simulation picks the ops so that
every value stays in [-2, 2]: nothing overflows.

Every step's first operand is the previous node, so the root (the last node)
reaches every node and the graph is as deep as it is long. Its second operand
is any earlier node, so nodes have fan-out and the graph is a DAG, not a tree.

Before timing, each engine builds and backpropagates a small graph
``WARM_UP_ROUNDS`` times: timings are of the steady state a training loop
sees. (CPython 3.10 only specialises a function's attribute look-ups after
1,024 calls, and our ``backward()`` walks the graph in one call.)

A third class, ``Floor``, alternates with the two engines: the least any
engine of one object per node must do, so that 0.1.0's time over its time
is the best ratio an engine of this shape could get in the same run.

Linearity is measured apart, on our engine only: the same kind of program
but with the second operand among the last ``LOCAL_WINDOW`` nodes, so that
memory caches do not decide the result, with the garbage collector on and
off.

A second workload, up to ``MLP_MAX_OPS`` ops, is the lecture's own: one
training step of a small MLP (``mlp_program``), replayed the same way.

Prints three tables and writes ``benchmarks/results/engine.json``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import json
import math
import platform
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from micrograd.engine import Value  # noqa: E402

SIZES = [10_000, 100_000, 200_000, 1_000_000]
QUICK_SIZES = [10_000, 100_000]
MEMORY_MAX_SIZE = 200_000  # tracemalloc is slow; memory per node is flat
CHAIN_DEPTH = 1_000_000
LEAVES = 100
TARGET_RATIO = 3.0
WARM_UP_ROUNDS = 2_000
WARM_UP_OPS = 20
LOCAL_WINDOW = 64
MLP_LAYERS = (4, 16, 16, 1)  # inputs, two hidden relu layers, one output
MLP_OPS_PER_SAMPLE = 707
MLP_MAX_OPS = 100_000  # 0.1.0 spends seconds collecting garbage beyond

ADD, MUL, POW2, RELU = "+", "*", "**2", "relu"
Program = list[tuple[str, int, int]]


def make_program(
    n_ops: int, seed: int, window: int | None = None
) -> tuple[list[float], Program]:
    """Leaf values and `n_ops` steps whose values all stay within [-2, 2].

    The second operand of a step is any earlier node, or with `window` one
    of the last `window` nodes.
    """
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(LEAVES)]
    program: Program = []
    for _ in range(n_ops):
        i = len(values) - 1
        low = 0 if window is None else max(0, len(values) - window)
        j = rng.randrange(low, len(values))
        a, b = values[i], values[j]
        op = rng.choice((ADD, ADD, MUL, MUL, POW2, RELU))
        result = {ADD: a + b, MUL: a * b, POW2: a**2, RELU: max(a, 0.0)}[op]
        if abs(result) > 2.0:
            op, result = RELU, max(a, 0.0)
        program.append((op, i, j))
        values.append(result)
    return values[:LEAVES], program


def mlp_program(n_ops: int, seed: int) -> tuple[list[float], Program]:
    """One training step of an MLP (the lecture's workload) as a program.

    An MLP with `MLP_LAYERS` (relu hidden layers, linear output) over a
    batch of random samples, summed squared error as the loss: about
    `n_ops` ops. The leaves are the parameters, then each sample's inputs
    and its negated target; each neuron is bias + w1*x1 + w2*x2 + ..., in
    that order, as in micrograd's own `Neuron`.
    """
    rng = random.Random(seed)
    leaves: list[float] = []

    def leaf(value: float) -> int:
        leaves.append(value)
        return len(leaves) - 1

    layers = [
        [[leaf(rng.uniform(-1.0, 1.0)) for _ in range(n_in + 1)] for _ in range(n_out)]
        for n_in, n_out in itertools.pairwise(MLP_LAYERS)
    ]
    batch = [
        (
            [rng.uniform(-1.0, 1.0) for _ in range(MLP_LAYERS[0])],
            rng.uniform(-1.0, 1.0),
        )
        for _ in range(max(1, n_ops // MLP_OPS_PER_SAMPLE))
    ]
    # Leaves are numbered 0, 1, ... as they come; steps -1, -2, ... because
    # leaves keep coming (each sample's inputs). `build` puts all leaves
    # first, so step -k ends up as node len(leaves) + k - 1.
    steps: list[tuple[str, int, int]] = []

    def step(op: str, i: int, j: int) -> int:
        steps.append((op, i, j))
        return -len(steps)

    loss: int | None = None
    for inputs, target in batch:
        act = [leaf(x) for x in inputs]
        for depth, layer in enumerate(layers):
            out = []
            for neuron in layer:
                total = neuron[-1]  # the bias
                for w, a in zip(neuron[:-1], act, strict=True):
                    total = step(ADD, total, step(MUL, w, a))
                last = depth == len(layers) - 1
                out.append(total if last else step(RELU, total, total))
            act = out
        diff = step(ADD, act[0], leaf(-target))
        error = step(MUL, diff, diff)
        loss = error if loss is None else step(ADD, loss, error)

    def index(ref: int) -> int:
        return ref if ref >= 0 else len(leaves) + (-ref) - 1

    program = [(op, index(i), index(j)) for op, i, j in steps]
    return leaves, program


def build(
    value_cls: Callable[[float], Any], leaves: list[float], program: Program
) -> tuple[Any, list[Any]]:
    """Replay `program` with an engine's Value class; return (root, leaves)."""
    nodes = [value_cls(x) for x in leaves]
    append = nodes.append
    for op, i, j in program:
        a = nodes[i]
        if op == ADD:
            append(a + nodes[j])
        elif op == MUL:
            append(a * nodes[j])
        elif op == POW2:
            append(a**2)
        else:
            append(a.relu())
    return nodes[-1], nodes[: len(leaves)]


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def install_reference(target: Path) -> ModuleType:
    """pip-install micrograd 0.1.0 into `target` and import its engine."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(target),
            "micrograd==0.1.0",
        ],
        check=True,
    )
    spec = importlib.util.spec_from_file_location(
        "micrograd_0_1_0", target / "micrograd" / "engine.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def warm_up(value_cls: Any, seed: int) -> None:
    """Run a small graph many times, so that what is timed is steady state."""
    leaves, program = make_program(WARM_UP_OPS, seed)
    for _ in range(WARM_UP_ROUNDS):
        root, _ = build(value_cls, leaves, program)
        root.backward()


def time_run(
    value_cls: Any, leaves: list[float], program: Program, collector: bool = True
) -> dict[str, Any]:
    """Time forward (graph build) and backward once, the collector on or off."""
    gc.collect()
    if not collector:
        gc.disable()
    try:
        t0 = time.perf_counter()
        root, leaf_nodes = build(value_cls, leaves, program)
        t1 = time.perf_counter()
        root.backward()
        t2 = time.perf_counter()
    finally:
        gc.enable()
    grads = [float(v.grad) for v in leaf_nodes]
    del root, leaf_nodes
    gc.collect()
    return {
        "forward_s": t1 - t0,
        "backward_s": t2 - t1,
        "total_s": t2 - t0,
        "grads": grads,
    }


def best_of(
    repeats: int,
    value_cls: Any,
    leaves: list[float],
    program: Program,
    collector: bool = True,
) -> dict[str, Any]:
    results = [time_run(value_cls, leaves, program, collector) for _ in range(repeats)]
    return min(results, key=lambda r: r["total_s"])


def side_by_side(
    repeats: int, ref_cls: Any, leaves: list[float], program: Program
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Best runs of ours and of 0.1.0, alternating so that drift hits both."""
    ours, theirs = alternate(repeats, [Value, ref_cls], leaves, program)
    return ours, theirs


def alternate(
    repeats: int, classes: list[Any], leaves: list[float], program: Program
) -> list[dict[str, Any]]:
    """The best run of each class, the classes taking turns in every round."""
    runs: list[list[dict[str, Any]]] = [[] for _ in classes]
    for _ in range(repeats):
        for cls, results in zip(classes, runs, strict=True):
            # 0.1.0 recurses once per level of depth in backward().
            with recursion_limit(len(program) + LEAVES + 1000):
                results.append(time_run(cls, leaves, program))
    return [min(results, key=lambda r: r["total_s"]) for results in runs]


class Floor:
    """Not an engine: the least any engine of one object per node must do.

    Forward stores a value and two operand links in one slotted object per
    node (ours adds four more slots). Backward finds the reachable nodes
    with a stack and a visit mark, without ordering them, then makes one
    gradient update per node (ours orders the nodes and applies every
    edge's rule). Its gradients are wrong; its time is a lower bound, and
    0.1.0's time over it the best ratio an engine of this shape could get.
    """

    __slots__ = ("_a", "_b", "_mark", "data", "grad")
    _a: Floor | None
    _b: Floor | None
    _mark: object

    def __init__(
        self, data: float, a: Floor | None = None, b: Floor | None = None
    ) -> None:
        self.data = data
        self.grad = 0.0
        self._a = a
        self._b = b
        self._mark = None

    # Each op written out (ours does so for + and *): no helper call.
    def __add__(self, other: Floor) -> Floor:
        out = _new(Floor)
        out.data = self.data + other.data
        out.grad = 0.0
        out._a = self
        out._b = other
        out._mark = None
        return out

    def __mul__(self, other: Floor) -> Floor:
        out = _new(Floor)
        out.data = self.data * other.data
        out.grad = 0.0
        out._a = self
        out._b = other
        out._mark = None
        return out

    def __pow__(self, exponent: float) -> Floor:
        out = _new(Floor)
        out.data = self.data**exponent
        out.grad = 0.0
        out._a = self
        out._b = None
        out._mark = None
        return out

    def relu(self) -> Floor:
        out = _new(Floor)
        out.data = max(self.data, 0.0)
        out.grad = 0.0
        out._a = self
        out._b = None
        out._mark = None
        return out

    def backward(self) -> None:
        mark = object()
        self._mark = mark
        stack = [self]
        found: list[Floor] = []
        push, pop, emit = stack.append, stack.pop, found.append
        while stack:
            node = pop()
            emit(node)
            a, b = node._a, node._b
            if a is not None and a._mark is not mark:
                a._mark = mark
                push(a)
            if b is not None and b._mark is not mark:
                b._mark = mark
                push(b)
        self.grad = 1.0
        for node in found:
            if node._a is not None:
                node._a.grad += node.grad


_new = object.__new__


def repeats_for(n_ops: int, repeats: int) -> int:
    """More runs for small graphs (a run takes milliseconds), one at 1M."""
    if n_ops <= 30_000:
        return 3 * repeats
    return repeats if n_ops <= 200_000 else 1


def linearity_row(n_ops: int, seed: int, repeats: int) -> dict[str, Any]:
    """Our ns per op on a local-operand program, collector on and off."""
    leaves, program = make_program(n_ops, seed + n_ops, window=LOCAL_WINDOW)
    row: dict[str, Any] = {"ops": n_ops, "nodes": n_ops + LEAVES}
    for collector in (True, False):
        best = best_of(repeats_for(n_ops, repeats), Value, leaves, program, collector)
        row["gc_on" if collector else "gc_off"] = {
            "forward_ns_per_op": best["forward_s"] / n_ops * 1e9,
            "backward_ns_per_op": best["backward_s"] / n_ops * 1e9,
            "total_ns_per_op": best["total_s"] / n_ops * 1e9,
        }
    return row


def linearity(sizes: list[int], seed: int, repeats: int) -> list[dict[str, Any]]:
    """`linearity_row` for each size, with growth against the smallest."""
    return with_linear_growth([linearity_row(n, seed, repeats) for n in sizes])


def with_linear_growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ns per op over ns per op of the first row (1.00 is linear)."""
    for row in rows:
        for key in ("gc_on", "gc_off"):
            first = rows[0][key]["total_ns_per_op"]
            row[key]["growth"] = row[key]["total_ns_per_op"] / first
    return rows


def peak_bytes(value_cls: Any, leaves: list[float], program: Program) -> int:
    """Peak traced memory of building the graph and running backward."""
    gc.collect()
    tracemalloc.start()
    try:
        root, _ = build(value_cls, leaves, program)
        root.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del root
    gc.collect()
    return peak


def close(a: list[float], b: list[float]) -> bool:
    return all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(a, b, strict=True)
    )


def deep_chain(depth: int) -> dict[str, Any]:
    """Our backward over a `depth`-deep chain, at the default recursion limit."""
    gc.collect()
    x = leaf = Value(0.5)
    t0 = time.perf_counter()
    for k in range(depth):
        x = x.tanh() if k % 2 else x * 1.0001
    t1 = time.perf_counter()
    x.backward()
    t2 = time.perf_counter()
    expected_positive = leaf.grad > 0.0
    del x, leaf
    gc.collect()
    return {
        "depth": depth,
        "recursion_limit": sys.getrecursionlimit(),
        "forward_s": t1 - t0,
        "backward_s": t2 - t1,
        "ok": expected_positive,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10k and 100k")
    parser.add_argument("--sizes", type=int, nargs="+", help="override the sizes")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="best of N up to 200k ops (3N up to 30k, 1 above 200k)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--chain-depth", type=int, default=CHAIN_DEPTH)
    parser.add_argument(
        "--no-linearity", action="store_true", help="skip the linearity table"
    )
    parser.add_argument(
        "--no-mlp", action="store_true", help="skip the MLP training-step table"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "engine.json"
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    print(f"seed {args.seed}; Python {platform.python_version()}", file=sys.stderr)

    # Sizes go smallest first, each size measured side by side and then for
    # linearity, so that no small graph is timed in a heap left fragmented
    # by a bigger one (that made 10k ops 20-40% slower per op).
    rows: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    mlp: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="micrograd-0.1.0-") as tmp:
        ref = install_reference(Path(tmp))
        warm_up(Value, args.seed)
        warm_up(ref.Value, args.seed)
        for n in sorted(sizes):
            leaves, program = make_program(n, args.seed + n)
            repeats = repeats_for(n, args.repeats)
            ours, theirs, floor = alternate(
                repeats, [Value, ref.Value, Floor], leaves, program
            )
            with recursion_limit(n + LEAVES + 1000):
                mem_theirs = (
                    peak_bytes(ref.Value, leaves, program)
                    if n <= MEMORY_MAX_SIZE
                    else None
                )
            mem_ours = (
                peak_bytes(Value, leaves, program) if n <= MEMORY_MAX_SIZE else None
            )
            if not args.no_linearity:
                lines.append(linearity_row(n, args.seed, args.repeats))
            nodes = n + LEAVES
            row = compared(n, nodes, ours, theirs)
            # The best ratio any engine of one object per node could get here.
            row["floor"] = {k: v for k, v in floor.items() if k != "grads"}
            row["ratio_ceiling"] = theirs["total_s"] / floor["total_s"]
            row["ours_over_floor"] = ours["total_s"] / floor["total_s"]
            row["bytes_per_node_ours"] = mem_ours / nodes if mem_ours else None
            row["bytes_per_node_0_1_0"] = mem_theirs / nodes if mem_theirs else None
            rows.append(row)
            if n <= MLP_MAX_OPS and not args.no_mlp:
                leaves, program = mlp_program(n, args.seed + n)
                ours, theirs = side_by_side(repeats, ref.Value, leaves, program)
                mlp.append(
                    compared(len(program), len(leaves) + len(program), ours, theirs)
                )

    base = rows[0]
    for row in rows:
        scale = row["ops"] / base["ops"]
        row["growth_ours"] = row["ours"]["total_s"] / base["ours"]["total_s"] / scale
        row["growth_0_1_0"] = (
            row["micrograd_0_1_0"]["total_s"]
            / base["micrograd_0_1_0"]["total_s"]
            / scale
        )

    # Last, at the default recursion limit: the deep chain proves that
    # backward() never recurses over graph depth.
    chain = deep_chain(args.chain_depth)
    with_linear_growth(lines)
    print_table(rows, chain)
    if mlp:
        print()
        print_mlp(mlp)
    if lines:
        print()
        print_linearity(lines)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "seed": args.seed,
        "target_ratio": TARGET_RATIO,
        "warm_up_rounds": WARM_UP_ROUNDS,
        "sizes": rows,
        "deep_chain": chain,
        "local_window": LOCAL_WINDOW,
        "linearity": lines,
        "mlp_layers": list(MLP_LAYERS),
        "mlp": mlp,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    ok = all(r["same_leaf_grads"] for r in rows + mlp) and chain["ok"]
    return 0 if ok else 1


def compared(
    n_ops: int, nodes: int, ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, Any]:
    """One row of ratios, 0.1.0's time over ours."""
    return {
        "ops": n_ops,
        "nodes": nodes,
        "ours": {k: v for k, v in ours.items() if k != "grads"},
        "micrograd_0_1_0": {k: v for k, v in theirs.items() if k != "grads"},
        "ratio_total": theirs["total_s"] / ours["total_s"],
        "ratio_forward": theirs["forward_s"] / ours["forward_s"],
        "ratio_backward": theirs["backward_s"] / ours["backward_s"],
        "same_leaf_grads": close(ours["grads"], theirs["grads"]),
    }


RATIO_HEADER = (
    f"{'ops':>9} | {'ours s':>8} {'0.1.0 s':>8} {'ratio':>6} {'fwd x':>6} {'bwd x':>6}"
)


def ratio_cells(r: dict[str, Any]) -> str:
    """The columns both tables share, matching `RATIO_HEADER`."""
    return (
        f"{r['ops']:>9,} | {r['ours']['total_s']:8.3f} "
        f"{r['micrograd_0_1_0']['total_s']:8.3f} {r['ratio_total']:5.2f}x "
        f"{r['ratio_forward']:5.2f}x {r['ratio_backward']:5.2f}x"
    )


def same(r: dict[str, Any]) -> str:
    return "same" if r["same_leaf_grads"] else "DIFFER"


def print_mlp(rows: list[dict[str, Any]]) -> None:
    layers = "-".join(map(str, MLP_LAYERS))
    print(
        f"MLP {layers} training step (relu, squared error over a batch), "
        "same replay as above"
    )
    header = f"{RATIO_HEADER} | grads"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{ratio_cells(r)} | {same(r)}")


def print_table(rows: list[dict[str, Any]], chain: dict[str, Any]) -> None:
    def mem(x: float | None) -> str:
        return f"{x:8.0f}" if x is not None else "       -"

    header = (
        f"{RATIO_HEADER} | {'ceil':>6} {'ours/':>6} | {'growth':>6} {'growth':>6} | "
        f"{'B/node':>8} {'B/node':>8} | grads"
    )
    sub = (
        f"{'':>9} | {'':>8} {'':>8} {'':>6} {'':>6} {'':>6} | "
        f"{'x':>6} {'floor':>6} | "
        f"{'ours':>6} {'0.1.0':>6} | {'ours':>8} {'0.1.0':>8} |"
    )
    print(header)
    print(sub)
    print("-" * len(header))
    for r in rows:
        print(
            f"{ratio_cells(r)} | "
            f"{r['ratio_ceiling']:5.2f}x {r['ours_over_floor']:5.2f}x | "
            f"{r['growth_ours']:6.2f} {r['growth_0_1_0']:6.2f} | "
            f"{mem(r['bytes_per_node_ours'])} {mem(r['bytes_per_node_0_1_0'])} | "
            f"{same(r)}"
        )
    print(
        "ceil = 0.1.0's time over the floor's (`Floor`: one object per node, one "
        "update per node), the best ratio an engine could get; ours/floor = our "
        "time over the floor's."
    )
    print(
        "growth = (seconds per op at this size) / (seconds per op at the smallest "
        "size); 1.00 means linear."
    )
    print(
        f"deep chain: {chain['depth']:,} nodes, backward {chain['backward_s']:.3f} s "
        f"(forward {chain['forward_s']:.3f} s) at recursion limit "
        f"{chain['recursion_limit']}"
    )


def print_linearity(rows: list[dict[str, Any]]) -> None:
    print(
        f"linearity, ours only: second operand among the last {LOCAL_WINDOW} "
        "nodes (ns per op)"
    )
    header = (
        f"{'ops':>9} | {'fwd':>6} {'bwd':>6} {'total':>6} {'growth':>6} | "
        f"{'fwd':>6} {'bwd':>6} {'total':>6} {'growth':>6}"
    )
    print(header)
    print(f"{'':>9} | {'collector on':^27} | {'collector off':^27}")
    print("-" * len(header))
    for r in rows:
        cells = []
        for key in ("gc_on", "gc_off"):
            c = r[key]
            cells.append(
                f"{c['forward_ns_per_op']:6.0f} {c['backward_ns_per_op']:6.0f} "
                f"{c['total_ns_per_op']:6.0f} {c['growth']:6.2f}"
            )
        print(f"{r['ops']:>9,} | {cells[0]} | {cells[1]}")


if __name__ == "__main__":
    raise SystemExit(main())
