"""Check a tensor engine: targeted probes, then random programs; one report.

Probes run in one batch (one request to the worker), smallest first, so
the first failing probe of each kind is its minimal program. Each group of
probes is one check of the `EngineReport`; a group that fails in two ways
gives one check per kind.
"""

from __future__ import annotations

import random
import time
from typing import Any

from gradcheck.errors import PointError
from gradcheck.internal.checking.engine_client import EngineFault
from gradcheck.internal.checking.family_names import TENSOR_EXAMPLES
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.internal.tensor.checks import TensorCheck, finding_check
from gradcheck.internal.tensor.diagnose import Finding, diagnose, relative_error
from gradcheck.internal.tensor.engine import TensorEngine, load_tensor_engine
from gradcheck.internal.tensor.guards import find_guard
from gradcheck.internal.tensor.judge import Verdict, judge_run
from gradcheck.internal.tensor.points import Example, example
from gradcheck.internal.tensor.probes import Probe, probes
from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    SKIP,
    EngineReport,
    Limit,
)

DEFAULT_EXAMPLES = TENSOR_EXAMPLES
# Scalar-engine options that mean nothing for a tensor engine.
NOT_FOR_TENSORS = {
    "min_depth": "--min-depth",
    "range_limit": "--range",
    "ops": "--ops",
    "only": "--only",
}


def ignored_option_notes(options: dict[str, Any]) -> list[str]:
    """One line for each option given that does not apply to tensor engines."""
    return [
        f"{flag} does not apply to tensor engines; ignored"
        for key, flag in NOT_FOR_TENSORS.items()
        if options.get(key) not in (None, False, [], ())
    ]


def run_examples(engine: TensorEngine, examples: list[Example]) -> list[Verdict]:
    results = engine.run_many([(e.program, e.values, e.projection) for e in examples])
    return [
        judge_run(e, r, engine.unit_roundoff)
        for e, r in zip(examples, results, strict=True)
    ]


def _precision(check: TensorCheck, items: list[tuple[Example, Verdict]]) -> None:
    """Record the lowest precision seen in the runs, and the ops that gave it."""
    for ex, verdict in items:
        run = verdict.run
        if run is None:
            continue
        check.unit_roundoff = max(check.unit_roundoff, run.unit_roundoff)
        for low in run.low_precision:
            node = ex.program.nodes[int(low["node"])]
            if node.op != "leaf" and node.op not in check.low_ops:
                check.low_ops.append(node.op)


def _exponent_as_constant(ex: Example, verdict: Verdict) -> Verdict:
    """a ** b whose only fault is no gradient for b: the exponent is a constant.

    A design some engines document (the exponent tensor is not a variable);
    that is a missing capability, as a number-only `__pow__` is, not a
    wrong gradient. Any other fault stays.
    """
    prog = ex.program
    last = prog.nodes[-1]
    if verdict.status != FAIL or last.op != "pow" or verdict.others:
        return verdict
    exponent = prog.nodes[last.args[1]]
    if exponent.op != "leaf" or verdict.leaf != exponent.name:
        return verdict
    grad = verdict.run.grads.get(exponent.name) if verdict.run else None
    if verdict.reason == "no-grad" or (
        verdict.reason == "gradient"
        and grad is not None
        and all(v == 0 for v in grad.values)
    ):
        return Verdict(
            SKIP,
            "unsupported",
            detail="pow: the exponent tensor gets no gradient "
            "(the engine treats it as a constant)",
        )
    return verdict


def _skipped(name: str, verdicts: list[Verdict]) -> TensorCheck:
    checker = sorted({v.detail for v in verdicts if v.reason == "checker"})
    if checker:
        return TensorCheck(
            name,
            "unsupported",
            SKIP,
            "not checked: the checker's own loss failed, not the engine: "
            + "; ".join(checker),
        )
    reasons = sorted({v.detail for v in verdicts})
    return TensorCheck(name, "unsupported", SKIP, "; ".join(reasons))


def probe_checks(engine: TensorEngine, rng: random.Random) -> list[TensorCheck]:
    """One check per probe group (per kind when a group fails in several ways)."""
    chosen: list[tuple[Probe, Example]] = []
    skipped: dict[str, int] = {}
    for probe in probes():
        try:
            chosen.append((probe, example(probe.program, rng)))
        except PointError:
            skipped[probe.group] = skipped.get(probe.group, 0) + 1
    verdicts = [
        _exponent_as_constant(ex, v)
        for (_, ex), v in zip(
            chosen, run_examples(engine, [e for _, e in chosen]), strict=True
        )
    ]
    groups: dict[str, list[tuple[Probe, Example, Verdict]]] = {}
    for (probe, ex), verdict in zip(chosen, verdicts, strict=True):
        groups.setdefault(probe.group, []).append((probe, ex, verdict))
    checks: list[TensorCheck] = []
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
        first = len(checks)
        if by_kind:
            for finding, program, also in by_kind.values():
                checks.append(finding_check(name, finding, program, also, len(ran)))
        elif not ran:
            checks.append(_skipped(name, [v for _, _, v in items]))
        else:
            not_run = [v for _, _, v in items if v.status == SKIP]
            note = f" ({len(not_run)} not supported by the engine)" if not_run else ""
            if any(v.reason == "checker" for v in not_run):
                note = f" ({len(not_run)} not checked: the checker's own loss failed)"
            checks.append(
                TensorCheck(
                    name,
                    "value",
                    PASS,
                    f"{len(ran)} programs right{note}",
                    examples=len(ran),
                )
            )
        for check in checks[first:]:
            _precision(check, [(ex, v) for _, ex, v in items])
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
    op_names: dict[str, str] | None = None,
    op_defs: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> EngineReport:
    """Check a tensor engine (`file.py:Tensor`, a module, a class, a source).

    `examples` random programs run after the targeted probes (0: probes only).
    `api` and `op_names` name the engine's spellings (`data=`, `grad=`,
    `backward=`, `exp=expo`); `op_defs` declares what an op computes
    (`log=log(x + 1e-12)`), as for scalar engines.
    """
    seed = random.randrange(2**32) if seed is None else seed
    start = time.perf_counter()
    engine = (
        target
        if isinstance(target, TensorEngine)
        else load_tensor_engine(target, time_limit_s, api=api, op_names=op_names)
    )
    report_notes = list(notes or []) + list(engine.notes)
    declared = dict(op_defs or {})
    try:
        if "log" not in declared:
            guard = find_guard(engine, random.Random(seed))
            if guard is not None:
                declared["log"] = guard.definition
                report_notes.append(guard.note)
        with declared_ops(declared):
            checks = _checks(engine, examples, seed)
    finally:
        if engine is not target:
            engine.close()
    info = {f"api {k}": v for k, v in engine.api.items()}
    report = EngineReport(
        engine=engine.target,
        seed=seed,
        supported=sorted(engine.supported),
        unsupported=dict(engine.unsupported),
        checks=list(checks),
        info=info,
        limits=precision_limits(engine, checks),
        api=dict(engine.api),
        notes=report_notes,
        engine_file=engine.file,
    )
    for name, text in (op_defs or {}).items():
        report.api[f"op {name}"] = f"declared {text}"
    report.seconds = time.perf_counter() - start
    return report


def _checks(engine: TensorEngine, examples: int, seed: int) -> list[TensorCheck]:
    if engine.api.get("backward", "").startswith("none"):
        # The checker could not seed R on this engine: nothing can be judged,
        # unless the engine's own * (or sum) is what failed on the loss.
        if engine.loss_fault:
            return [loss_fault_check(engine.loss_fault)]
        return [
            TensorCheck(
                "tensor loss",
                "unsupported",
                INCONCLUSIVE,
                "not checked: the checker cannot build its loss on this engine "
                "(see the note); use --api backward=NAME if backward has another name",
            )
        ]
    rng = random.Random(seed)
    checks = probe_checks(engine, rng)
    if examples > 0:
        from gradcheck.internal.tensor.random_programs import random_program_check

        checks.append(
            random_program_check(
                engine, examples, seed, skip_kinds={c.kind for c in checks}
            )
        )
    return checks


def loss_fault_check(fault: dict[str, Any]) -> TensorCheck:
    """The engine's * (and sum) failing on the only loss the engine allows."""
    program = str(fault.get("program", ""))
    if "error" in fault:
        error = EngineFault({**fault["error"], "phase": "in backward()"})
        where = f" at {error.location}" if error.location else ""
        return TensorCheck(
            "tensor loss", "crash", FAIL,
            f"crash in `{program}`: backward() raised {error.text}{where}; "
            "the engine's * (and sum) are the only way to seed a gradient here, "
            "so nothing else could be checked",
            examples=1, kind="crash", program=program,
        )  # fmt: skip
    got, want = list(fault.get("got", [])), list(fault.get("want", []))
    wrong = [
        {"where": "a", "index": [i // 3, i % 3], "got": g, "want": w,
         "tolerance": 0.0, "relative_error": relative_error(g, w)}
        for i, (g, w) in enumerate(zip(got, want, strict=False))
        if abs(g - w) > 1e-6 * max(1.0, abs(w))
    ]  # fmt: skip
    shown = ", ".join(
        f"a[{r['index'][0]},{r['index'][1]}] = {r['got']!r} (want {r['want']!r})"
        for r in wrong[:3]
    )
    return TensorCheck(
        "tensor loss", "local-derivative", FAIL,
        f"wrong gradient in `{program}`: {shown}; the engine's * and sum are the "
        "only way to seed a gradient here, so nothing else could be checked",
        examples=1, kind="local-derivative", program=program, wrong=wrong,
    )  # fmt: skip


def precision_limits(engine: TensorEngine, checks: list[TensorCheck]) -> list[Limit]:
    """float32 storage, of the engine's tensors or of some ops' results."""
    unit = max([engine.unit_roundoff, *(c.unit_roundoff for c in checks)])
    if unit <= 2.0**-53:
        return []
    dtype = engine.dtype if engine.unit_roundoff >= unit else "float32"
    if engine.unit_roundoff < unit:
        ops = sorted({op for c in checks for op in c.low_ops})
        where = f"the results of {', '.join(ops) or 'some ops'} are stored as float32"
    else:
        where = f"values are stored as {dtype}"
    return [
        Limit(
            "precision",
            "value",
            f"{where} (unit roundoff {unit:.3g}): values and gradients are "
            "judged at that precision, and errors smaller than it are not visible",
            unit,
            "store float64 arrays where the precision matters",
        )
    ]
