"""The 80-digit references of two trees, compared number for number.

A change that makes the references cheaper must not change a single number
they produce (verdicts, tolerances and printed digits all come from them).
This script collects two sets of cases:

- **probes**: every (graph, point, unit roundoff, margins) for which a
  `gradcheck engine --seed 7` run on the built-in engine computed a
  reference (the probe families and the random graphs, cache misses only);
- **random**: graphs drawn by `gradcheck.strategies.graphs_with_points`
  (Hypothesis, derandomized), each at its drawn point,

then computes every reference with each tree in a fresh process (the tree
first on PYTHONPATH) and compares the dumps exactly: every mpf as its
binary number (sign, mantissa, exponent), every float by `float.hex`, the
disagreement text word for word, and a `PointError` by its message::

    python benchmarks/refs_same.py --before /tmp/before-main [--random 400]

`refs_cost.py` times the same cases.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# One case: graph, point, unit roundoff, margins.
Case = tuple[Any, dict[str, float], float, bool]


def probe_cases(seed: int = 7) -> list[Case]:
    """Every reference a `gradcheck engine` run computes (its cache misses)."""
    import contextlib
    import io

    import gradcheck.internal.refs.references as refs
    from gradcheck.cli import main

    seen: list[Case] = []
    inner = refs._reference

    def record(graph: Any, point: Any, unit_roundoff: float, margins: bool) -> Any:
        seen.append((graph, dict(point), unit_roundoff, margins))
        return inner(graph, point, unit_roundoff, margins)

    refs._reference = record
    refs.clear_cache()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main(["engine", "--seed", str(seed), "--json"])
    finally:
        refs._reference = inner
        refs.clear_cache()
    return seen


def random_cases(count: int, max_nodes: int = 30) -> list[Case]:
    """`count` Hypothesis random graphs of the default size, at their points."""
    from hypothesis import HealthCheck, Phase, given, settings

    from gradcheck.internal.refs.tolerance import UNIT
    from gradcheck.strategies import graphs_with_points

    drawn: list[Case] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(graphs_with_points(max_nodes=max_nodes))
    def draw(example: Any) -> None:
        graph, point = example
        drawn.append((graph, dict(point), UNIT, True))

    draw()
    return drawn


def cases(random_count: int) -> dict[str, list[Case]]:
    return {"probes": probe_cases(), "random": random_cases(random_count)}


def _mp(x: Any) -> str:
    return repr(x._mpf_)  # exact (sign, mantissa, exponent, bits)


def _fl(x: float) -> str:
    return float.hex(float(x))


def dump(case: Case) -> str:
    """Every number of the reference of `case`, as exact text."""
    from gradcheck.errors import PointError
    from gradcheck.internal.refs.references import reference

    graph, point, unit, margins = case
    try:
        ref = reference(graph, point, unit, margins=margins)
    except PointError as err:
        return f"PointError {err}"
    sym, num, bounds = ref.symbolic, ref.numeric, ref.bounds
    parts = [
        "values " + " ".join(map(_mp, sym.values)),
        "partials " + " ".join(_mp(p) for row in sym.partials for p in row),
        "seconds "
        + " ".join(_mp(s) for node in sym.seconds for row in node for s in row),
        "adjoints " + " ".join(map(_mp, sym.adjoints)),
        "gradients " + " ".join(f"{k}={_mp(v)}" for k, v in sym.gradients.items()),
        "numeric " + _mp(num.value),
        "ngradients " + " ".join(f"{k}={_mp(v)}" for k, v in num.gradients.items()),
        "bounds.value " + " ".join(map(_fl, bounds.value)),
        "bounds.grad " + " ".join(map(_fl, bounds.grad)),
        f"bounds.unit {_fl(bounds.unit_roundoff)} floor {_fl(bounds.floor)}",
        "magnitudes " + " ".join(map(_fl, ref.magnitudes)),
        "floats " + " ".join(map(_fl, ref.floats)),
        "point " + " ".join(f"{k}={_fl(v)}" for k, v in ref.point.items()),
        f"disagreement {ref.disagreement!r}",
    ]
    return "\n".join(parts)


def _compute(case_file: str, out_file: str) -> None:
    """(In a child) dump the reference of every case, the cache cleared."""
    import gradcheck
    from gradcheck.internal.refs.references import clear_cache

    print(f"computing with {Path(gradcheck.__file__).parent}", file=sys.stderr)
    with open(case_file, "rb") as f:
        sets: dict[str, list[Case]] = pickle.load(f)
    with open(out_file, "w") as out:
        for name, found in sets.items():
            for k, case in enumerate(found):
                clear_cache()
                out.write(f"== {name} {k}\n{dump(case)}\n")


def _run_on(tree: str, case_file: str, out_file: str) -> None:
    """`_compute` in a fresh process with `tree` first on PYTHONPATH.

    PYTHONSAFEPATH keeps the script's own folder (and the working
    directory) off the path, so each tree is measured alone.
    """
    env = dict(os.environ)
    path = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    env.update(PYTHONPATH=path, PYTHONSAFEPATH="1")
    argv = [sys.executable, __file__, "--compute", case_file, out_file]
    subprocess.run(argv, env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", help="the other tree (required)")
    parser.add_argument("--random", type=int, default=400)
    parser.add_argument("--compute", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compute:
        _compute(*args.compute)
        return 0
    if not args.before:
        parser.error("--before DIR is required")
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        case_file = os.path.join(tmp, "cases.pickle")
        sets = cases(args.random)
        with open(case_file, "wb") as f:
            pickle.dump(sets, f)
        counts = ", ".join(f"{len(v)} {k}" for k, v in sets.items())
        print(f"cases: {counts}")
        before, after = os.path.join(tmp, "before"), os.path.join(tmp, "after")
        _run_on(args.before, case_file, before)
        _run_on(str(ROOT), case_file, after)
        old = Path(before).read_text().splitlines()
        new = Path(after).read_text().splitlines()
    differ = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
    if len(old) != len(new):
        differ.append((f"{len(old)} lines", f"{len(new)} lines"))
    errors = sum(1 for line in new if line.startswith("PointError"))
    print(f"{len(new)} lines compared, {errors} PointErrors, {len(differ)} differ")
    for a, b in differ[:10]:
        print(f"- {a[:300]}\n+ {b[:300]}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
