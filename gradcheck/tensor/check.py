"""Check a tensor engine: targeted probes, then random programs; one report.

Probes run in one batch (one request to the worker), smallest first, so
the first failing probe of each kind is its minimal program. Each group of
probes is one check of the `EngineReport`; a group that fails in two ways
gives one check per kind.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from gradcheck.errors import PointError
from gradcheck.report import FAIL, PASS, SKIP, Check, EngineReport, Limit
from gradcheck.tensor.diagnose import TITLES, Finding, diagnose
from gradcheck.tensor.engine import TensorEngine, load_tensor_engine
from gradcheck.tensor.judge import Verdict, judge_run
from gradcheck.tensor.points import Example, example
from gradcheck.tensor.probes import Probe, probes

DEFAULT_EXAMPLES = 30


@dataclass
class TensorCheck(Check):
    """A check on a tensor engine, with the tensor finding's details."""

    kind: str | None = None
    program: str | None = None
    hint: str = ""
    wrong: list[dict[str, Any]] = field(default_factory=list)
    also: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["tensor"] = {
            "kind": self.kind,
            "program": self.program,
            "hint": self.hint,
            "wrong": self.wrong,
            "also_failing": self.also,
        }
        return out


def _finding_check(
    name: str, finding: Finding, program: str, also: list[str], examples: int
) -> TensorCheck:
    return TensorCheck(
        name=name,
        category=finding.category,
        status=FAIL,
        message=f"{TITLES[finding.kind]}: {finding.message}",
        examples=examples,
        kind=finding.kind,
        program=program,
        hint=finding.hint,
        wrong=finding.wrong,
        also=also,
    )


def run_examples(engine: TensorEngine, examples: list[Example]) -> list[Verdict]:
    results = engine.run_many([(e.program, e.values, e.projection) for e in examples])
    return [
        judge_run(e, r, engine.unit_roundoff)
        for e, r in zip(examples, results, strict=True)
    ]


def probe_checks(engine: TensorEngine, rng: random.Random) -> list[TensorCheck]:
    """One check per probe group (per kind when a group fails in several ways)."""
    chosen: list[tuple[Probe, Example]] = []
    skipped: dict[str, int] = {}
    for probe in probes():
        try:
            chosen.append((probe, example(probe.program, rng)))
        except PointError:
            skipped[probe.group] = skipped.get(probe.group, 0) + 1
    verdicts = run_examples(engine, [e for _, e in chosen])
    groups: dict[str, list[tuple[Probe, Example, Verdict]]] = {}
    for (probe, ex), verdict in zip(chosen, verdicts, strict=True):
        groups.setdefault(probe.group, []).append((probe, ex, verdict))
    checks = []
    for group, items in groups.items():
        start = time.perf_counter()
        by_kind: dict[str, tuple[Finding, str, list[str]]] = {}
        ran = [v for _, _, v in items if v.status != SKIP]
        for probe, ex, verdict in items:
            if verdict.status != FAIL:
                continue
            finding = diagnose(engine, ex, verdict, rng)
            if finding.kind in by_kind:
                by_kind[finding.kind][2].append(probe.name)
            else:
                by_kind[finding.kind] = (finding, ex.program.to_text(), [])
        name = f"tensor {group}"
        if by_kind:
            for finding, program, also in by_kind.values():
                checks.append(_finding_check(name, finding, program, also, len(ran)))
        elif not ran:
            reasons = sorted({v.detail for _, _, v in items})
            checks.append(TensorCheck(name, "unsupported", SKIP, "; ".join(reasons)))
        else:
            unsupported = len(items) - len(ran)
            note = (
                f" ({unsupported} not supported by the engine)" if unsupported else ""
            )
            checks.append(
                TensorCheck(
                    name,
                    "value",
                    PASS,
                    f"{len(ran)} programs right{note}",
                    examples=len(ran),
                )
            )
        checks[-1].seconds = time.perf_counter() - start
        checks[-1].inconclusive = skipped.get(group, 0)
    return checks


def check_tensor_engine(
    target: Any,
    *,
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    time_limit_s: float = 20.0,
    api: dict[str, str] | None = None,
) -> EngineReport:
    """Check a tensor engine (`file.py:Tensor`, a module, a class, a source).

    `examples` random programs run after the targeted probes (0: probes only).
    """
    seed = random.randrange(2**32) if seed is None else seed
    start = time.perf_counter()
    engine = (
        target
        if isinstance(target, TensorEngine)
        else load_tensor_engine(target, time_limit_s, api=api)
    )
    try:
        rng = random.Random(seed)
        checks = probe_checks(engine, rng)
        if examples > 0:
            from gradcheck.tensor.random_programs import random_program_check

            checks.append(
                random_program_check(
                    engine, examples, seed, skip_kinds={c.kind for c in checks}
                )
            )
    finally:
        if engine is not target:
            engine.close()
    info = {f"api {k}": v for k, v in engine.api.items()}
    limits = []
    if engine.unit_roundoff > 2.0**-53:
        limits.append(
            Limit(
                "precision",
                "value",
                f"values are stored as {engine.dtype} (unit roundoff "
                f"{engine.unit_roundoff:.3g}): gradients are judged at that "
                "precision, and errors smaller than it are not visible",
                engine.unit_roundoff,
                "store float64 arrays where the precision matters",
            )
        )
    report = EngineReport(
        engine=engine.target,
        seed=seed,
        supported=sorted(engine.supported),
        unsupported=dict(engine.unsupported),
        checks=list(checks),
        info=info,
        limits=limits,
        api=dict(engine.api),
    )
    report.seconds = time.perf_counter() - start
    return report
