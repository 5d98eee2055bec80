"""CPU of the checker's own judging per example, outside the worker and the references.

The mutant gallery and a teacher's class run the same probes on engine after
engine; the engine's time is the worker's, the references are cached after
the first engine, and what is left in the checker's process is its own work
per example: building the probes' graphs, choosing points, screening,
comparing the engine's numbers with the references. This measures that for
one engine of a batch: every op probe (values, local derivatives, reuse per
op and mixed, propagation) on a stand-in engine that answers at once with
the exact numbers, after a first engine has filled the caches.

The baseline, measured in the same run and alternating with it, is a bare
float64 evaluation of the same examples (each node once, through the op
table): the ratio is what judging an example costs over computing it once.
Run it with another tree's python to compare trees (it uses only names that
both have)::

    python benchmarks/judging.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if "gradcheck" not in sys.modules and str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: an installed tree wins

from gradcheck.internal.checking import probes  # noqa: E402
from gradcheck.internal.checking.answers import Run  # noqa: E402
from gradcheck.internal.checking.engine_client import Engine  # noqa: E402
from gradcheck.internal.expr.graph import Graph  # noqa: E402
from gradcheck.internal.expr.ops import OPS  # noqa: E402
from gradcheck.internal.refs.references import reference  # noqa: E402

# The ops of the built-in engine's kind: every op a lecture engine has.
SUPPORTED = (
    "add", "mul", "sub", "div", "neg", "pow", "tanh", "exp", "log", "relu",
    "sigmoid", "add_const", "mul_const", "sub_const", "rsub", "rdiv",
)  # fmt: skip
SEED = 1890349686


class _Answers:
    """Exact answers by (graph, point): a correct engine that costs nothing."""

    def __init__(self) -> None:
        self.seen: dict[tuple[Graph, tuple[tuple[str, float], ...]], Run] = {}
        self.examples: list[tuple[Graph, dict[str, float]]] = []

    def run_many(
        self, items: Sequence[tuple[Graph, Mapping[str, float], bool]], **_: Any
    ) -> list[Run]:
        runs = []
        for graph, point, _backward in items:
            key = (graph, tuple(point.items()))
            run = self.seen.get(key)
            if run is None:
                ref = reference(graph, point)
                n = len(graph.nodes)
                run = Run(
                    data=[ref.value(i) for i in range(n)],
                    grads=[ref.adjoint(i) for i in range(n)],
                    missing=[False] * n,
                )
                self.seen[key] = run
                self.examples.append((graph, dict(point)))
            runs.append(run)
        return runs


def _engine(answers: _Answers) -> Engine:
    supported = tuple(op for op in SUPPORTED if op in OPS)
    engine = Engine(target="stand-in", supported=supported, unsupported={})
    engine.run_many = answers.run_many  # type: ignore[method-assign,assignment]
    return engine


def one_engine(answers: _Answers) -> int:
    """Every op probe on a fresh stand-in engine; the number of examples judged."""
    engine = _engine(answers)
    rng = random.Random(SEED)
    checks = [probes.value_probe(engine, rng)]
    for op in engine.supported:
        checks.append(probes.local_derivative_probe(engine, rng, op))
    for op in engine.supported:
        checks.append(probes.op_accumulation_probe(engine, rng, op))
    checks.append(probes.accumulation_probe(engine, rng))
    checks.append(probes.propagation_probe(engine, rng))
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        raise SystemExit(f"the stand-in engine failed {failed}: not a correct engine")
    return sum(c.examples for c in checks)


def bare_float(examples: list[tuple[Graph, dict[str, float]]]) -> None:
    """Each example evaluated once in float64 through the op table."""
    for graph, point in examples:
        values: list[float] = []
        for node in graph.nodes:
            if node.op == "var":
                values.append(point[node.name])
            elif node.op == "const":
                values.append(node.constant or 0.0)
            else:
                args = [values[a] for a in node.args]
                values.append(OPS[node.op].apply_float(args, node.constant))


def _cpu(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def measure(rounds: int = 7) -> dict[str, float]:
    """Median CPU per example of judging and of the bare evaluation, and their ratio."""
    answers = _Answers()
    count = one_engine(answers)  # the first engine fills every cache
    judged, bare = [], []
    for _ in range(rounds):
        judged.append(_cpu(lambda: one_engine(answers)) / count)
        bare.append(_cpu(lambda: bare_float(answers.examples)) / count)
    judge_us = statistics.median(judged) * 1e6
    bare_us = statistics.median(bare) * 1e6
    return {
        "examples_per_engine": count,
        "judging_us_per_example": round(judge_us, 2),
        "bare_float_us_per_example": round(bare_us, 2),
        "ratio": round(judge_us / bare_us, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    import gradcheck

    tree = str(Path(gradcheck.__file__).parent.parent)
    result = {"tree": tree, **measure(args.rounds)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
