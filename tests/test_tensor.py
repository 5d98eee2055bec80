"""Tensor engines: programs, expansion, references, the checker and its gallery."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("numpy")

from gradcheck.errors import EngineError, ExpressionError
from gradcheck.internal.checking.engine_client import load_source
from gradcheck.internal.tensor.check import check_tensor_engine
from gradcheck.internal.tensor.diagnose import KINDS, untie
from gradcheck.internal.tensor.engine import load_tensor_engine
from gradcheck.internal.tensor.expand import expand
from gradcheck.internal.tensor.points import draw_projection, example
from gradcheck.internal.tensor.probes import probes
from gradcheck.internal.tensor.program import ProgramBuilder, broadcast, broadcast_axes
from gradcheck.internal.tensor.random_programs import random_program_check
from gradcheck.mutants.tensor import (
    TENSOR_BASE_ENGINE,
    TENSOR_MUTANTS,
    tensor_mutant_named,
)

HERE = Path(__file__).parent / "tensor"
# The closure-style engine is the tensor gallery's correct base engine.
CLOSURE = load_source("closure_engine", TENSOR_BASE_ENGINE)
TAPE = HERE / "tape_engine.py"


def _program(build):  # type: ignore[no-untyped-def]
    b = ProgramBuilder()
    build(b)
    return b.build()


def test_broadcast_shapes_and_axes() -> None:
    assert broadcast((2, 3), (3,)) == (2, 3)
    assert broadcast((3, 1), (3,)) == (3, 3)
    assert broadcast((), (2, 1)) == (2, 1)
    with pytest.raises(ExpressionError):
        broadcast((2, 3), (2,))
    assert broadcast_axes((3,), (2, 3)) == ((0,), ())
    assert broadcast_axes((2, 1), (2, 3)) == ((), (1,))
    assert broadcast_axes((), (2, 3)) == ((0, 1), ())


def test_shapes_are_inferred_and_bad_programs_refused() -> None:
    prog = _program(
        lambda b: b.reduce(
            "sum", b.op("matmul", b.leaf("a", (3,)), b.leaf("w", (3, 2))), 0
        )
    )
    assert prog.shapes[-2] == (2,)
    assert prog.output_shape == ()
    with pytest.raises(ExpressionError):
        _program(lambda b: b.op("matmul", b.leaf("a", (2, 3)), b.leaf("w", (2, 3))))


def test_expansion_gives_the_broadcast_gradient_exactly() -> None:
    """d/db sum(R * (a * b)) with b (3,) broadcast over rows is sum over axis 0 of R * a."""
    prog = _program(lambda b: b.op("mul", b.leaf("a", (2, 3)), b.leaf("b", (3,))))
    a = [0.5, -1.0, 2.0, 1.5, -0.25, 3.0]
    r = [1.5, -0.5, 0.75, -1.25, 1.0, 0.5]
    ex = example(
        prog, random.Random(0), values={"a": a, "b": [0.3, 0.7, -1.1]}, projection=r
    )
    for j in range(3):
        want = r[j] * a[j] + r[3 + j] * a[3 + j]
        assert float(ex.reference.gradient(f"b_{j}")) == pytest.approx(want, rel=1e-15)
    assert ex.reference.conclusive


def test_max_refuses_a_near_tie() -> None:
    prog = _program(lambda b: b.reduce("max", b.leaf("a", (3,))))
    from gradcheck.errors import PointError

    with pytest.raises(PointError):
        expand(prog, {"a": [1.0, 1.001, -2.0]}, [1.5])


def test_projection_is_never_all_ones() -> None:
    rng = random.Random(1)
    for _ in range(50):
        assert any(abs(r) != 1.0 for r in draw_projection(rng, 1))


def test_untie_makes_each_use_its_own_leaf() -> None:
    prog = _program(lambda b: b.op("mul", b.leaf("a", (2, 3)), b.leaf("a", (2, 3))))
    untied, values = untie(prog, {"a": [1.0] * 6})
    assert not untied.has_reuse
    assert sorted(values) == ["a", "a2"]


def test_probes_run_smallest_first_and_cover_every_op() -> None:
    used = set().union(*(p.program.ops_used() for p in probes()))
    assert {
        "add",
        "matmul",
        "sum",
        "mean",
        "max",
        "reshape",
        "transpose",
        "rsub_k",
        "sigmoid",
    } <= used


def test_gallery_kinds_are_diagnosis_kinds() -> None:
    assert {m.category for m in TENSOR_MUTANTS} <= set(KINDS)
    with pytest.raises(KeyError):
        tensor_mutant_named("nope")


@pytest.mark.heavy
def test_detection_reports_what_was_mapped() -> None:
    with load_tensor_engine(str(TAPE)) as engine:
        assert engine.api["data"] == ".value"
        assert engine.api["op tanh"] == "tanh(t)"
        assert engine.api["op sum"] == ".sum(dim=, keepdim=)"
        assert engine.api["op reshape"] == ".reshape(*shape)"
        assert engine.api["op transpose"] == ".transpose()"
    with load_tensor_engine(CLOSURE) as engine:
        assert engine.api["op sum"] == ".sum(axis=, keepdims=)"
        assert engine.api["constructor"] == "ndarray, requires_grad=True"


@pytest.mark.heavy
def test_a_module_without_a_tensor_class_is_refused() -> None:
    with pytest.raises(EngineError, match="no class Tensor"):
        load_tensor_engine(load_source("empty", "import numpy as np\nX = 1\n"))


@pytest.mark.heavy
@pytest.mark.parametrize("target", [CLOSURE, str(TAPE)], ids=["closure", "tape"])
def test_correct_engines_pass(target: object) -> None:
    report = check_tensor_engine(target, examples=15, seed=11)
    assert report.ok, [c.message for c in report.failures]
    assert "limit" not in report.info


@pytest.mark.heavy
def test_float32_engine_is_judged_at_float32_and_says_so() -> None:
    source = TAPE.read_text(encoding="utf-8").replace(
        "DTYPE = np.float64", "DTYPE = np.float32"
    )
    report = check_tensor_engine(load_source("tape32", source), examples=10, seed=3)
    assert report.ok, [c.message for c in report.failures]
    assert any("float32" in limit.message for limit in report.limits)


@pytest.mark.heavy
@pytest.mark.parametrize("mutant", TENSOR_MUTANTS, ids=lambda m: m.name)
def test_every_tensor_mutant_is_caught_and_named(mutant) -> None:  # type: ignore[no-untyped-def]
    report = check_tensor_engine(
        load_source(mutant.module_name, mutant.source()), examples=0, seed=7
    )
    kinds = {c.kind for c in report.failures}
    assert mutant.category in kinds, [c.message for c in report.failures]
    first = next(c for c in report.failures if c.kind == mutant.category)
    assert first.program and first.hint
    assert first.to_dict()["kind"] == mutant.category


@pytest.mark.heavy
def test_float32_mutant_is_still_caught() -> None:
    source = (
        tensor_mutant_named("mean-axis-not-divided")
        .source()
        .replace("np.float64", "np.float32")
    )
    report = check_tensor_engine(load_source("mean32", source), examples=0, seed=7)
    assert "reduction-scaling" in {c.kind for c in report.failures}


@pytest.mark.heavy
def test_random_programs_alone_find_and_shrink_a_broadcasting_bug() -> None:
    mutant = tensor_mutant_named("no-unbroadcast")
    with load_tensor_engine(load_source(mutant.module_name, mutant.source())) as engine:
        check = random_program_check(engine, 30, seed=2)
    assert check.status == "fail"
    assert check.kind == "broadcasting"
    assert check.program.count("=") <= 3  # shrunk to a couple of ops


@pytest.mark.heavy
def test_named_findings_say_which_elements_are_wrong() -> None:
    mutant = tensor_mutant_named("mean-axis-not-divided")
    report = check_tensor_engine(
        load_source(mutant.module_name, mutant.source()), examples=0, seed=7
    )
    finding = next(c for c in report.failures if c.kind == "reduction-scaling")
    assert "2 times the truth" in finding.message
    assert finding.program.startswith("y = a.mean(axis=0)")
    assert finding.wrong and finding.wrong[0]["where"] == "a"
