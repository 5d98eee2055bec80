"""Run every benchmark: the engine against micrograd 0.1.0, then the checker.

Run from the repository root::

    python benchmarks/run.py            # full run (a few minutes)
    python benchmarks/run.py --quick    # CI-sized run (well under a minute)

Prints one table (name, value, unit, target, ok?), writes
`benchmarks/results/results.json`, and, with matplotlib installed, plots the
engine's time against graph size for both engines on log-log axes
(`docs/_static/perf-engine.png` for a full run,
`benchmarks/results/perf-engine.png` for a quick one). The engine part runs
`benchmarks/engine.py`, which pip-installs micrograd 0.1.0; `--skip-engine`
leaves it out (no network needed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import json
import os
import platform
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
RESULTS = HERE / "results"
DOCS_PLOT = ROOT / "docs" / "_static" / "perf-engine.png"

# Engine sizes: more points than engine.py's default, for the plot.
ENGINE_SIZES = [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
QUICK_ENGINE_SIZES = [1_000, 10_000, 100_000]
QUICK_CHAIN_DEPTH = 100_000
ENGINE_TARGET_RATIO = 3.0

# A row of the printed table (as in checker.py): name, value, unit, target, ok?
Row = tuple[str, str, str, str, str]


def _load(name: str) -> ModuleType:
    """Import a sibling script (benchmarks/ is not a package)."""
    module_name = f"_benchmarks_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load benchmarks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def run_engine(quick: bool, seed: int, output: Path) -> dict[str, Any]:
    """benchmarks/engine.py with its own table silenced; returns its JSON."""
    engine = _load("engine")
    sizes = QUICK_ENGINE_SIZES if quick else ENGINE_SIZES
    argv = ["--sizes", *map(str, sizes), "--seed", str(seed), "--output", str(output)]
    if quick:
        argv += ["--repeats", "3", "--chain-depth", str(QUICK_CHAIN_DEPTH)]
    with contextlib.redirect_stdout(io.StringIO()):
        code = engine.main(argv)
    result: dict[str, Any] = json.loads(output.read_text())
    result["exit_code"] = code
    return result


def engine_rows(engine: dict[str, Any]) -> list[Row]:
    def compared(name: str, r: dict[str, Any], target: str, ok: str) -> Row:
        seconds = (
            f"{r['ours']['total_s']:.3f} s vs {r['micrograd_0_1_0']['total_s']:.3f} s"
        )
        return (name, f"{r['ratio_total']:.2f}x", seconds, target, ok)

    rows = []
    for r in engine["sizes"]:
        ok = r["ratio_total"] >= ENGINE_TARGET_RATIO and r["same_leaf_grads"]
        name = f"engine vs micrograd 0.1.0, {r['ops']:,} ops"
        target = f">= {ENGINE_TARGET_RATIO:g}x"
        rows.append(compared(name, r, target, "yes" if ok else "NO"))
    for r in engine.get("mlp") or []:
        # The lecture's workload, for information: the target is set on the
        # random graphs above.
        name = f"engine vs 0.1.0, MLP training step, {r['ops']:,} ops"
        rows.append(compared(name, r, "", "" if r["same_leaf_grads"] else "NO"))
    chain = engine["deep_chain"]
    rows.append(
        (
            f"engine deep chain, {chain['depth']:,} nodes, backward",
            f"{chain['backward_s']:.3f}",
            f"s (recursion limit {chain['recursion_limit']})",
            "no RecursionError",
            "yes" if chain["ok"] else "NO",
        )
    )
    return rows


def plot_engine(engine: dict[str, Any], path: Path) -> Path | None:
    """Log-log plot of forward + backward time against nodes, both engines."""
    try:
        import matplotlib
    except ImportError:
        print(
            "no plot: matplotlib is not installed "
            "(pip install 'gradcheck-toolkit[plot]')",
            file=sys.stderr,
        )
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = engine["sizes"]
    nodes = [r["nodes"] for r in sizes]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for key, label, style in (
        ("ours", "micrograd (this project)", "o-"),
        ("micrograd_0_1_0", "micrograd 0.1.0 (PyPI)", "s--"),
    ):
        ax.plot(nodes, [r[key]["total_s"] for r in sizes], style, label=label)
    # Ours on local-operand programs without the collector: what is left is
    # the algorithm, which should run parallel to the linear line.
    lines = engine.get("linearity") or []
    if lines:
        ax.plot(
            [r["nodes"] for r in lines],
            [r["gc_off"]["total_ns_per_op"] * r["ops"] * 1e-9 for r in lines],
            "^-",
            linewidth=1,
            markersize=4,
            label="ours, local operands, collector off",
        )
    first = sizes[0]["ours"]["total_s"]
    ax.plot(
        nodes,
        [first * n / nodes[0] for n in nodes],
        ":",
        color="grey",
        label="linear (from ours at the smallest size)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("graph size (nodes)")
    ax.set_ylabel("forward + backward (s)")
    ax.set_title(f"Engine time vs graph size (CPython {engine['python']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def run(
    checker_config: Any,
    *,
    quick: bool,
    seed: int,
    engine: bool,
    output: Path,
    plot: Path | None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run the benchmarks, print the table, write JSON (and the plot).

    `only`: the checker steps to run (all when None), as in `checker.py --only`.
    """
    checker = _load("checker")
    results: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "quick": quick,
        "seed": seed,
        "machine": machine(),
    }
    rows: list[Row] = []
    if engine:
        print("engine: micrograd against micrograd 0.1.0 ...", file=sys.stderr)
        try:
            results["engine"] = run_engine(quick, seed, RESULTS / "engine.json")
        except Exception as err:  # pip or the network may be unavailable
            message = f"{type(err).__name__}: {err}".splitlines()[0]
            results["engine"] = {"error": message}
            rows.append(("engine benchmark", "skipped", message[:60], "", "NO"))
        else:
            rows += engine_rows(results["engine"])
            if plot is not None:
                written = plot_engine(results["engine"], plot)
                results["plot"] = str(written) if written else None
    results["checker"] = checker.run_all(
        checker_config,
        seed,
        log=lambda m: print(m, file=sys.stderr, flush=True),
        only=only,
    )
    rows += checker.table_rows(results["checker"])
    results["table"] = [
        dict(zip(("name", "value", "unit", "target", "ok"), r, strict=True))
        for r in rows
    ]
    machine_line = results["machine"]
    print(
        f"{results['date']}, CPython {machine_line['python']}, "
        f"{machine_line['cpus']} cores, seed {seed}" + (", quick" if quick else "")
    )
    checker.print_table(rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {output}")
    if results.get("plot"):
        print(f"wrote {results['plot']}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument(
        "--skip-engine", action="store_true", help="leave out the engine benchmark"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--output", type=Path, default=RESULTS / "results.json")
    parser.add_argument(
        "--only", default=None, help="comma-separated checker steps, e.g. throughput"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="where to write the engine plot (default: docs/_static/perf-engine.png"
        ", or benchmarks/results/ with --quick)",
    )
    args = parser.parse_args(argv)
    checker = _load("checker")
    plot = args.plot or (RESULTS / "perf-engine.png" if args.quick else DOCS_PLOT)
    run(
        checker.QUICK if args.quick else checker.FULL,
        quick=args.quick,
        seed=args.seed,
        engine=not args.skip_engine,
        output=args.output,
        plot=plot,
        only=args.only.split(",") if args.only else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
