"""Random tensor programs from Hypothesis, shrunk to a minimal failing one.

Shapes and broadcast patterns are drawn (every leaf broadcasts to (2, 3)),
reuse of a leaf is forced, and Hypothesis's `find` shrinks a failing
program to the smallest one that still fails, which is then diagnosed
like a probe's.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from gradcheck.errors import PointError
from gradcheck.internal.checking.local_constants import no_local_constants
from gradcheck.internal.tensor.checks import TensorCheck, finding_check
from gradcheck.internal.tensor.diagnose import KINDS, TITLES, diagnose
from gradcheck.internal.tensor.engine import TensorEngine
from gradcheck.internal.tensor.judge import SKIP, Verdict, judge_run
from gradcheck.internal.tensor.points import Example, example
from gradcheck.internal.tensor.program import ProgramBuilder, TensorProgram
from gradcheck.report import FAIL, PASS

LEAF_SHAPES = ((2, 3), (3,), (2, 1), (1, 3), ())
UNARY = ("neg", "tanh", "exp", "relu", "sigmoid")
CONSTANT = (("add_k", 2.0), ("sub_k", 0.5), ("mul_k", 3.0), ("div_k", 2.0), ("pow_k", 2.0),
            ("radd_k", 1.5), ("rsub_k", 2.0), ("rmul_k", -2.0), ("rdiv_k", 3.0))  # fmt: skip
# Seconds the search and the shrinking may take together.
BUDGET = 8.0


@st.composite
def tensor_programs(draw: Any, max_steps: int = 4) -> TensorProgram:
    """A small tensor program over leaves that broadcast to (2, 3), with reuse."""
    b = ProgramBuilder()
    shapes = [
        (2, 3),
        *draw(st.lists(st.sampled_from(LEAF_SHAPES), min_size=1, max_size=2)),
    ]
    leaves = [b.leaf(name, shape) for name, shape in zip("abc", shapes, strict=False)]
    current = leaves[0]
    used = {leaf: 0 for leaf in leaves}
    used[current] = 1
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(("unary", "binary", "binary", "constant")))
        if kind == "unary":
            current = b.op(draw(st.sampled_from(UNARY)), current)
        elif kind == "constant":
            op, k = draw(st.sampled_from(CONSTANT))
            current = b.op(op, current, constant=k)
        else:
            other = draw(st.sampled_from(leaves))
            used[other] += 1
            op = draw(st.sampled_from(("add", "sub", "mul", "div")))
            if op != "div" and draw(st.booleans()):
                current = b.op(op, other, current)
            else:
                current = b.op(op, current, other)
    if all(n < 2 for n in used.values()):  # force reuse
        current = b.op(
            draw(st.sampled_from(("add", "mul"))),
            current,
            draw(st.sampled_from(leaves)),
        )
    ending = draw(st.sampled_from(("none", "sum", "mean", "max", "matmul")))
    if ending in ("sum", "mean", "max"):
        axis = draw(st.sampled_from((None, 0, 1)))
        b.reduce(
            ending, current, axis, draw(st.booleans()) if axis is not None else False
        )
    elif ending == "matmul":
        b.op(
            "matmul",
            current,
            b.leaf("w", draw(st.sampled_from(((3,), (3, 2), (3, 1))))),
        )
    return b.build()


def random_program_check(
    engine: TensorEngine,
    examples: int,
    seed: int,
    skip_kinds: set[str | None] | None = None,
) -> Any:
    """One check: `examples` random programs, the first failure shrunk and named."""

    start = time.perf_counter()
    seen: dict[str, tuple[Example, Verdict] | None] = {}
    counts = {"ran": 0, "inconclusive": 0, "over budget": 0}

    def fails(program: TensorProgram) -> bool:
        key = program.to_text()
        if key not in seen:
            if time.perf_counter() - start > BUDGET:
                counts["over budget"] = 1
                return False
            rng = random.Random(zlib.crc32(f"{seed}:{key}".encode()))
            try:
                ex = example(program, rng)
            except PointError:
                counts["inconclusive"] += 1
                seen[key] = None
                return False
            result = engine.run_many([(program, ex.values, ex.projection)])[0]
            verdict = judge_run(ex, result, engine.unit_roundoff)
            counts["ran"] += verdict.status != SKIP
            seen[key] = (ex, verdict)
        entry = seen[key]
        return entry is not None and entry[1].status == FAIL

    config = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
    )
    name = "tensor random programs"
    try:
        with no_local_constants():
            minimal = find(
                tensor_programs(), fails, settings=config, random=random.Random(seed)
            )
    except NoSuchExample:
        stopped = ""
        if counts["over budget"] and counts["ran"] < examples:
            stopped = f" (of {examples} asked: stopped at the {BUDGET:g} s budget)"
        return TensorCheck(
            name, "value", PASS, f"{counts['ran']} random programs right{stopped}",
            examples=counts["ran"], inconclusive=counts["inconclusive"],
            seconds=time.perf_counter() - start,
        )  # fmt: skip
    entry = seen[minimal.to_text()]
    assert entry is not None
    ex, verdict = entry
    finding = diagnose(engine, ex, verdict, random.Random(seed))
    check = finding_check(name, finding, minimal.to_text(), [], counts["ran"])
    if skip_kinds and finding.kind in skip_kinds:
        check.same_as = f"the probes' {TITLES[finding.kind]} finding"
    check.category = KINDS[finding.kind]
    check.status = FAIL
    check.inconclusive = counts["inconclusive"]
    check.seconds = time.perf_counter() - start
    return check
