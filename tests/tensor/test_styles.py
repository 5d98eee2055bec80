"""Tensor engines in the styles learners publish: right ones get no finding,
wrong ones get their bug's kind, and the checker's own loss is never the
engine's fault.

The fixtures: `nodespkg` (a package: class `Nodes`, no `*`, reductions and
activations as functions of `nodespkg.ops` and `nodespkg.functional`,
`sum(t, dims)` only), `lazy_engine` (class `Array`, nested lists only, lazy
`realize()`, `backprop()`, `keepdims=True` by default, `transpose(dim0,
dim1)`), `atom_engine` (class `Atom`, `requires_grad` off by default,
`sum(dim)` with float32 results, `log(x + 1e-12)` on purpose, `backward()`
seeding ones on any shape). Buggy variants are one edit of these.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("numpy")

from gradcheck.internal.checking.engine_client import load_source
from gradcheck.internal.output.json_doc import engine_document, schema
from gradcheck.internal.tensor.check import check_tensor_engine
from gradcheck.internal.tensor.engine import load_tensor_engine, tensor_reason

HERE = Path(__file__).parent
LAZY = HERE / "lazy_engine.py"
ATOM = HERE / "atom_engine.py"
NODES = HERE / "nodespkg" / "core.py"


def _edited(path: Path, old: str, new: str, name: str) -> Any:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must appear once in {path.name}"
    return load_source(name, text.replace(old, new))


def _failing_kinds(report: Any) -> set[str]:
    return {c.kind for c in report.failures}


@pytest.mark.heavy
@pytest.mark.parametrize(
    "target",
    [f"{NODES}:Nodes", f"{LAZY}:Array", f"{ATOM}:Atom"],
    ids=["package-functions", "lazy", "atom-sum-dim"],
)
def test_correct_engines_in_every_style_get_no_finding(target: str) -> None:
    report = check_tensor_engine(target, examples=10, seed=5)
    assert report.ok, [c.message for c in report.failures]
    assert not any(c.kind for c in report.checks)
    ran = sum(c.examples for c in report.checks)
    assert ran >= 40, "the style must be understood, not skipped"


@pytest.mark.heavy
def test_the_api_is_found_by_signature_and_package() -> None:
    with load_tensor_engine(f"{NODES}:Nodes") as engine:
        assert engine.api["op mul"] == "nodespkg.ops.mul(t)"
        assert engine.api["op relu"] == "nodespkg.functional.relu(t)"
        assert engine.api["op sum"] == "nodespkg.ops.sum(t, dims=, keep=)"
    with load_tensor_engine(f"{LAZY}:Array") as engine:
        assert engine.api["data"] == ".realize()"
        assert engine.api["grad"] == ".gradient"
        assert "backprop()" in engine.api["backward"]
        assert engine.api["constructor"] == "nested list, requires_grad=True"
        assert engine.api["op transpose"] == ".transpose(1, 0)"
        assert engine.api["op tanh"] == "tanh(t)"
    with load_tensor_engine(f"{ATOM}:Atom") as engine:
        assert engine.api["op sum"] == ".sum(dim=)"


@pytest.mark.heavy
def test_a_backward_that_takes_the_gradient_is_seeded_directly() -> None:
    source = (
        ATOM.read_text(encoding="utf-8")
        .replace("    def backward(self):", "    def backward(self, gradient=None):")
        .replace(
            "        self.grad = np.ones_like(self.data)\n",
            "        self.grad = np.ones_like(self.data)"
            " if gradient is None else gradient\n",
        )
    )
    with load_tensor_engine(load_source("seeded", source)) as engine:
        assert engine.api["backward"].startswith("y.backward(R)")


@pytest.mark.heavy
def test_float32_results_and_a_log_guard_are_limits_and_notes_not_findings() -> None:
    report = check_tensor_engine(f"{ATOM}:Atom", examples=0, seed=2)
    assert report.ok, [c.message for c in report.failures]
    assert any(
        "sum" in lim.message and "float32" in lim.message for lim in report.limits
    )
    assert any("log(x + 1e-12)" in note for note in report.notes)


@pytest.mark.heavy
def test_a_log_that_is_off_by_more_than_a_guard_is_a_wrong_value() -> None:
    engine = _edited(ATOM, "GUARD = 1e-12", "GUARD = 1e-3", "big_guard")
    report = check_tensor_engine(engine, examples=0, seed=2)
    assert "value" in _failing_kinds(report)
    assert not any("guard" in note for note in report.notes)


@pytest.mark.heavy
def test_op_def_declares_what_a_tensor_op_computes() -> None:
    engine = _edited(ATOM, "GUARD = 1e-12", "GUARD = 1e-3", "declared_guard")
    report = check_tensor_engine(
        engine, examples=0, seed=2, op_defs={"log": "log(x + 0.001)"}
    )
    assert report.ok, [c.message for c in report.failures]
    assert report.api["op log"] == "declared log(x + 0.001)"


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("path", "old", "new", "kind"),
    [
        (
            ATOM,
            "            self._add_grad(out.grad * slope)\n",
            "            self.grad = out.grad * slope\n",
            "accumulation",
        ),
        (
            ATOM,
            "        return self._unary(s, s * (1 - s))\n",
            "        d = 1 / (1 + np.exp(-s))\n"
            "        return self._unary(s, d * (1 - d))\n",
            "derivative-at-output",
        ),
        (
            LAZY,
            "        return self._wrap(other) + (-self)\n",
            "        return self - other\n",
            "reflected-op",
        ),
        (
            LAZY,
            "            return (np.broadcast_to(g, a.shape) / n,)",
            "            return (np.broadcast_to(g, a.shape)"
            " / (n if keepdims else 1),)",
            "reduction-scaling",
        ),
        (
            LAZY,
            "    return g.sum(axis=axes, keepdims=True).reshape(shape)"
            " if axes else g\n",
            "    return g\n",
            "broadcasting",
        ),
    ],
    ids=["atom-log-sets", "atom-sigmoid-at-output", "lazy-rsub", "lazy-mean",
         "lazy-unbroadcast"],
)  # fmt: skip
def test_each_bug_is_named_by_its_kind(
    path: Path, old: str, new: str, kind: str
) -> None:
    engine = _edited(path, old, new, f"buggy_{kind.replace('-', '_')}")
    report = check_tensor_engine(engine, examples=0, seed=4)
    assert kind in _failing_kinds(report), [c.message for c in report.failures]
    finding = next(c for c in report.failures if c.kind == kind)
    assert finding.program and finding.hint
    assert "crash" not in _failing_kinds(report)


@pytest.mark.heavy
def test_no_unbroadcast_in_a_package_engine_is_broadcasting(tmp_path: Path) -> None:
    package = tmp_path / "nodespkg"
    shutil.copytree(HERE / "nodespkg", package)
    core = package / "core.py"
    text = core.read_text(encoding="utf-8")
    core.write_text(
        text.replace("    while grad.ndim", "    return grad\n    while grad.ndim")
    )
    report = check_tensor_engine(f"{core}:Nodes", examples=0, seed=4)
    assert "broadcasting" in _failing_kinds(report), [
        c.message for c in report.failures
    ]


@pytest.mark.heavy
def test_wrong_elements_have_every_digit_and_a_relative_error() -> None:
    engine = _edited(
        LAZY,
        "            return (np.broadcast_to(g, a.shape) / n,)",
        "            return (np.broadcast_to(g, a.shape) / (n if keepdims else 1),)",
        "digits",
    )
    report = check_tensor_engine(engine, examples=0, seed=4)
    finding = next(c for c in report.failures if c.kind == "reduction-scaling")
    row = finding.wrong[0]
    assert repr(row["got"]) in finding.message
    assert row["relative_error"] == pytest.approx(
        abs(row["got"] - row["want"]) / abs(row["want"])
    )


@pytest.mark.heavy
def test_json_names_the_kind_and_validates() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    engine = _edited(
        LAZY,
        "        return self._wrap(other) + (-self)\n",
        "        return self - other\n",
        "json_kind",
    )
    report = check_tensor_engine(engine, examples=0, seed=4)
    doc = json.loads(json.dumps(engine_document(report)))
    jsonschema.validate(doc, schema("gradcheck-engine-report"))
    failing = [c for c in doc["checks"] if c["status"] == "fail"]
    assert failing and all(c["kind"] for c in failing)
    assert all(c["tensor"]["program"] for c in failing)


@pytest.mark.heavy
def test_a_loss_that_cannot_be_built_is_one_note_not_a_crash() -> None:
    source = (
        ATOM.read_text(encoding="utf-8")
        .replace(
            "        self.grad = np.ones_like(self.data)\n",
            "        self.grad = np.ones_like(self.data)\n"
            "        if self.data.size != 1:\n"
            "            raise ValueError('backward() needs a scalar')\n",
        )
        .replace("    def sum(self, dim):", "    def total(self, dim):")
    )
    report = check_tensor_engine(load_source("no_loss", source), examples=5, seed=1)
    assert any(note.startswith("cannot build a loss") for note in report.notes)
    assert not report.failures
    assert "crash" not in {c.kind for c in report.checks}
    assert report.exit_code() == 3  # nothing was verified


@pytest.mark.heavy
def test_tensor_engines_are_recognised_by_their_data() -> None:
    assert tensor_reason(f"{ATOM}:Atom")
    assert tensor_reason(f"{LAZY}:Array")
    assert tensor_reason(f"{NODES}:Nodes")
    scalar = load_source(
        "scalar_value",
        "class Value:\n"
        "    def __init__(self, data):\n"
        "        self.data, self.grad = data, 0.0\n"
        "    def __add__(self, other):\n"
        "        return Value(self.data + other.data)\n"
        "    def backward(self):\n"
        "        self.grad = 1.0\n",
    )
    assert tensor_reason(scalar) is None


GRID = HERE / "grid_engine.py"


@pytest.mark.heavy
def test_an_engine_over_its_own_array_type_is_read_and_refusals_are_unsupported() -> (
    None
):
    assert tensor_reason(f"{GRID}:Value")
    report = check_tensor_engine(f"{GRID}:Value", examples=5, seed=3)
    assert report.ok, [c.message for c in report.failures]
    assert sum(c.examples for c in report.checks) >= 10
    broadcasting = next(c for c in report.checks if c.name == "tensor broadcasting")
    assert broadcasting.status == "skip"
    assert "refused on purpose" in broadcasting.message


@pytest.mark.heavy
def test_a_wrong_derivative_in_an_own_array_engine_is_named() -> None:
    engine = _edited(
        GRID,
        "g.zip(t, lambda u, y: u * (1 - y * y))",
        "g.zip(t, lambda u, y: u * (1 - math.tanh(y) ** 2))",
        "grid_tanh",
    )
    report = check_tensor_engine(engine, examples=0, seed=3)
    assert "derivative-at-output" in _failing_kinds(report)


@pytest.mark.heavy
def test_a_deliberate_1d_matmul_refusal_is_unsupported_not_a_crash() -> None:
    source = ATOM.read_text(encoding="utf-8").replace(
        "    def _unary(self, value, slope):",
        "    def __matmul__(self, other):\n"
        "        if self.data.ndim != 2 or other.data.ndim != 2:\n"
        "            raise ValueError('matmul needs two 2-D operands')\n"
        "        a, b = self.data, other.data\n"
        "        out = Atom(a @ b, _prev=(self, other))\n\n"
        "        def _backward():\n"
        "            self._add_grad(out.grad @ b.T)\n"
        "            other._add_grad(a.T @ out.grad)\n\n"
        "        out._backward = _backward\n"
        "        return out\n\n"
        "    def _unary(self, value, slope):",
    )
    report = check_tensor_engine(load_source("refuses_1d", source), examples=0, seed=3)
    assert report.ok, [c.message for c in report.failures]
    matmul = next(c for c in report.checks if c.name == "tensor matmul")
    assert matmul.status == "pass" and "not supported" in matmul.message


@pytest.mark.heavy
def test_an_engine_storing_every_tensor_as_3d_is_loaded_and_judged() -> None:
    engine = _edited(
        ATOM,
        "            self.data = self.data.astype(np.float64)\n",
        "            self.data = self.data.astype(np.float64)\n"
        "        while self.data.ndim < 3:\n"
        "            self.data = self.data[None]\n",
        "three_d",
    )
    report = check_tensor_engine(engine, examples=0, seed=3)
    assert any("(1, 2, 3)" in note for note in report.notes)
    elementwise = next(c for c in report.checks if c.name == "tensor elementwise")
    assert elementwise.status == "pass", elementwise.message
    # sum(dim=0) works on the added axis: only programs that reduce go wrong
    failing = {c.name for c in report.failures}
    assert "tensor reductions" in failing
    assert failing <= {"tensor reductions", "tensor reuse"}


@pytest.mark.heavy
def test_a_crash_is_not_blamed_on_broadcasting_unless_shown() -> None:
    """add's backward always raises: broadcast probes crash too, but not because
    of broadcasting (the same program without it crashes), so the kind is crash."""
    engine = _edited(
        ATOM,
        "            self._add_grad(unbroadcast(out.grad, self.data.shape))\n",
        "            raise KeyError('lost')\n",
        "add_crash",
    )
    report = check_tensor_engine(engine, examples=0, seed=4)
    broadcasting = [c for c in report.failures if c.name == "tensor broadcasting"]
    assert broadcasting, [c.message for c in report.failures]
    assert {c.kind for c in broadcasting} == {"crash"}
    assert not any("sum over axis" in c.message for c in report.failures)


@pytest.mark.heavy
def test_a_broken_mul_under_the_only_possible_loss_is_the_engines_finding() -> None:
    line = "self._add_grad(unbroadcast(out.grad * other.data, self.data.shape))"
    crash = "raise KeyError('lost')"
    engine = _edited(ATOM, f"{12 * ' '}{line}\n", f"{12 * ' '}{crash}\n", "mul_crash")
    report = check_tensor_engine(engine, examples=0, seed=4)
    (check,) = report.failures
    assert check.kind == "crash" and "KeyError" in check.message
    assert check.program and "a * R" in check.program


@pytest.mark.heavy
def test_a_seed_the_engine_cannot_use_is_the_checkers_not_a_crash() -> None:
    """backward(gradient) wants one of the engine's tensors: an ndarray passes
    calibration on a leaf (its `.data` is a memoryview) and breaks the first
    op's backward; the checker seeds a tensor instead and the engine is right."""
    source = (
        ATOM.read_text(encoding="utf-8")
        .replace("    def backward(self):", "    def backward(self, gradient=None):")
        .replace(
            "        self.grad = np.ones_like(self.data)\n",
            "        ones = np.ones_like(self.data)\n"
            "        self.grad = ones if gradient is None else gradient.data\n",
        )
    )
    report = check_tensor_engine(
        load_source("wants_tensor", source), examples=5, seed=2
    )
    assert report.ok, [c.message for c in report.failures]
    assert "crash" not in {c.kind for c in report.checks}


@pytest.mark.heavy
def test_a_sum_that_keeps_dims_without_a_keyword_is_not_a_bug() -> None:
    source = (
        ATOM.read_text(encoding="utf-8")
        .replace(
            "self.data.sum(axis=dim).astype(np.float32)",
            "self.data.sum(axis=dim, keepdims=True).astype(np.float32)",
        )
        .replace(
            "            g = np.expand_dims(out.grad, dim)\n",
            "            g = out.grad\n",
        )
    )
    report = check_tensor_engine(load_source("kept_sum", source), examples=5, seed=2)
    assert report.ok, [c.message for c in report.failures]
    reductions = next(c for c in report.checks if c.name == "tensor reductions")
    assert reductions.status == "pass" and reductions.examples >= 2


@pytest.mark.heavy
def test_op_modules_the_package_does_not_import_are_found(tmp_path: Path) -> None:
    package = tmp_path / "nodespkg"
    shutil.copytree(HERE / "nodespkg", package)
    (package / "__init__.py").write_text('"""Only the class."""\n', encoding="utf-8")
    with load_tensor_engine(f"{package / 'core.py'}:Nodes") as engine:
        assert engine.api["op relu"] == "nodespkg.functional.relu(t)"
        assert engine.api["op mul"] == "nodespkg.ops.mul(t)"


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("            self.grad += np.broadcast_to(g, self.data.shape)\n",
         "            self.grad = np.broadcast_to(g, self.data.shape) + 0\n"),
        ("                self.grad += g @ b.T\n",
         "                self.grad = g @ b.T\n"),
    ],
    ids=["sum-sets", "matmul-sets"],
)  # fmt: skip
def test_a_backward_that_sets_its_gradient_is_accumulation(old: str, new: str) -> None:
    from gradcheck.mutants.tensor import TENSOR_BASE_ENGINE

    assert TENSOR_BASE_ENGINE.count(old) == 1
    engine = load_source("sets_grad", TENSOR_BASE_ENGINE.replace(old, new))
    report = check_tensor_engine(engine, examples=0, seed=1)
    assert _failing_kinds(report) == {"accumulation"}, [
        c.message for c in report.failures
    ]
