"""CPU cost of one 80-digit reference, against a float64 check in the same run.

The cases are those of `refs_same.py`: every reference a `gradcheck engine
--seed 7` run computes (tiny probe graphs, mostly) and Hypothesis random
graphs of the default size. Each is timed as a whole (`reference`, the
cache emptied at the start of each pass, as at the start of an engine run)
and in its two parts (`symbolic_reference`, `numeric_reference`); "rest" is
the whole minus the parts (domain screen, error bounds, float conversions,
magnitudes, the agreement test, and whatever is worked out per graph). The
baseline, measured in the same process between them, is a bare float64
central-difference check of the same graphs (a forward pass, and two
displaced passes per variable), so the figures are ratios that survive a
loaded machine; milliseconds are printed too.

`--before DIR` measures another tree of the project (first on PYTHONPATH)
in the same alternating rounds, so the before/after pair sees one load::

    python benchmarks/refs_cost.py --before /tmp/before-main [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("reference", "symbolic", "numeric", "rest")


def _bare(graph: Any, point: dict[str, float]) -> float:
    """A float64 central-difference check: what an engine-free check costs."""
    from gradcheck.internal.expr.ops import OPS

    def run(at: dict[str, float]) -> float:
        values: list[float] = []
        for node in graph.nodes:
            if node.op == "var":
                values.append(at[node.name])
            elif node.op == "const":
                values.append(node.constant)
            else:
                args = [values[a] for a in node.args]
                values.append(OPS[node.op].apply_float(args, node.constant))
        return values[-1]

    total = run(point)
    for name in point:
        h = 1e-6 * max(1.0, abs(point[name]))
        up = run({**point, name: point[name] + h})
        down = run({**point, name: point[name] - h})
        total += (up - down) / (2 * h)
    return total


def _timed(work: Callable[[], None], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        work()
    return (time.process_time() - start) / repeat


def _measure(case_file: str) -> None:
    """(In a child) seconds per case of each part, and of the baseline."""
    from gradcheck.errors import PointError
    from gradcheck.internal.refs.references import clear_cache, reference

    with open(case_file, "rb") as f:
        sets = pickle.load(f)
    result: dict[str, dict[str, float]] = {}
    for name, found in sets.items():
        usable = []
        for graph, point, unit, margins in found:
            try:
                reference(graph, point, unit, margins=margins)
                usable.append((graph, point, unit, margins))
            except PointError:
                pass  # a refused point: no reference, nothing to time
        clear_cache()
        result[name] = _time_set(usable)
    print(json.dumps(result))


def _time_set(usable: list[Any]) -> dict[str, float]:
    from gradcheck.internal.refs.numeric import numeric_reference
    from gradcheck.internal.refs.references import clear_cache, reference
    from gradcheck.internal.refs.symbolic import symbolic_reference

    points = [{v: float(p[v]) for v in g.variables} for g, p, _, _ in usable]
    graphs = [g for g, _, _, _ in usable]

    # The cache is emptied once per pass, as at the start of an engine run:
    # every case is a distinct reference (they were the run's cache misses),
    # and whatever a tree keeps per graph is shared by a graph's points as in
    # the run itself. The two parts are timed with that kept from the last
    # whole pass: what it costs to make (a graph's plan) counts in "rest".
    def whole() -> None:
        clear_cache()
        for graph, point, unit, margins in usable:
            reference(graph, point, unit, margins=margins)

    def symbolic() -> None:
        for graph, point in zip(graphs, points, strict=True):
            symbolic_reference(graph, point)

    def numeric() -> None:
        for graph, point in zip(graphs, points, strict=True):
            numeric_reference(graph, point)

    def bare() -> None:
        for graph, point in zip(graphs, points, strict=True):
            _bare(graph, point)

    whole()  # warm: rules loaded, caches of constants filled
    repeat = 3 if len(usable) < 1000 else 1
    times = {
        "bare": _timed(bare, repeat * 5),
        "reference": _timed(whole, repeat),
    }
    times["symbolic"] = _timed(symbolic, repeat)  # after `whole`: see above
    times["numeric"] = _timed(numeric, repeat)
    times["rest"] = times["reference"] - times["symbolic"] - times["numeric"]
    found = {k: v / max(1, len(usable)) for k, v in times.items()}
    found["cases"] = len(usable)
    found["nodes"] = statistics.mean(len(g) for g in graphs)
    return found


def _child(tree: str, case_file: str) -> dict[str, dict[str, float]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    env["PYTHONSAFEPATH"] = "1"  # the tree alone, never this script's checkout
    argv = [sys.executable, __file__, "--measure", case_file]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _median(runs: list[dict[str, dict[str, float]]], name: str, part: str) -> float:
    return statistics.median(r[name][part] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="another tree of the project, measured too")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--random", type=int, default=300)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        _measure(args.measure)
        return 0
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from refs_same import cases

    trees = {"after": str(ROOT)}
    if args.before:
        trees = {"before": args.before, **trees}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {t: [] for t in trees}
    with tempfile.TemporaryDirectory() as tmp:
        case_file = os.path.join(tmp, "cases.pickle")
        with open(case_file, "wb") as f:
            pickle.dump(cases(args.random), f)
        for _ in range(args.rounds):
            for tree, where in trees.items():
                runs[tree].append(_child(where, case_file))
    first = runs["after"][0]
    for name in first:
        cases_, nodes = int(first[name]["cases"]), first[name]["nodes"]
        print(f"\n{name}: {cases_} references, {nodes:.1f} nodes on average")
        print(f"{'':10}" + "".join(f"{p:>22}" for p in PARTS))
        for tree in trees:
            bare = _median(runs[tree], name, "bare")
            cells = []
            for part in PARTS:
                ms = _median(runs[tree], name, part) * 1e3
                cells.append(f"{ms:8.3f} ms {ms / 1e3 / bare:7.1f}x")
            print(f"{tree:10}" + "".join(f"{c:>22}" for c in cells))
        if len(trees) == 2:
            gains = []
            for part in PARTS:
                # each per its own run's baseline: a load change cancels
                before = _median(runs["before"], name, part) / _median(
                    runs["before"], name, "bare"
                )
                after = _median(runs["after"], name, part) / _median(
                    runs["after"], name, "bare"
                )
                gains.append(f"{before / after:.2f}x" if after > 0 else "-")
            print(f"{'cheaper':10}" + "".join(f"{g:>22}" for g in gains))
        bare_ms = _median(runs["after"], name, "bare") * 1e3
        print(f"(baseline: a bare float64 check, {bare_ms:.4f} ms; x = per baseline)")
    finite = all(math.isfinite(_median(runs["after"], n, "reference")) for n in first)
    return 0 if finite else 1


if __name__ == "__main__":
    raise SystemExit(main())
