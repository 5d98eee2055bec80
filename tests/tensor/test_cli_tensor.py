"""The command line on tensor engines: found by their data, options honoured
or noted, and the kind of every failing check in the JSON document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradcheck.internal.output.json_doc import target_view

pytest.importorskip("numpy")

from cli_runner import run_cli

HERE = Path(__file__).parent
ATOM = HERE / "atom_engine.py"
LAZY = HERE / "lazy_engine.py"


@pytest.mark.heavy
def test_an_atom_class_over_arrays_is_checked_as_a_tensor_engine() -> None:
    run = run_cli(
        "engine", f"{ATOM}:Atom", "--json", "--seed", "1", "--examples", "5",
        "--min-depth", "50",
    )  # fmt: skip
    assert run.code == 0, run.err
    doc = target_view(json.loads(run.out))
    assert any(n.startswith("checked as a tensor engine") for n in doc["notes"])
    assert any("--min-depth does not apply" in n for n in doc["notes"])
    assert all("kind" in c and "tensor" in c for c in doc["checks"])
    assert any(c["name"].startswith("tensor ") for c in doc["checks"])


@pytest.mark.heavy
def test_kind_scalar_keeps_the_scalar_checks() -> None:
    run = run_cli(
        "engine", f"{ATOM}:Atom", "--json", "--seed", "1", "--kind", "scalar",
        "--examples", "5",
    )  # fmt: skip
    doc = target_view(json.loads(run.out))
    assert not any(c["name"].startswith("tensor ") for c in doc["checks"])


@pytest.mark.heavy
def test_op_and_api_name_a_tensor_engine_spelling(tmp_path: Path) -> None:
    text = LAZY.read_text(encoding="utf-8")
    renamed = text.replace("    def relu(self):", "    def rectify(self):").replace(
        "def backprop(self):", "def run_backward(self):"
    )
    path = tmp_path / "renamed_engine.py"
    path.write_text(renamed, encoding="utf-8")
    run = run_cli(
        "engine", f"{path}:Array", "--json", "--seed", "1", "--examples", "5",
        "--op", "relu=rectify", "--api", "backward=run_backward",
    )  # fmt: skip
    assert run.code == 0, run.err + run.out[-2000:]
    doc = target_view(json.loads(run.out))
    assert doc["info"]["api op relu"] == ".rectify()"
    assert "run_backward" in doc["info"]["api backward"]


@pytest.mark.heavy
def test_a_failing_tensor_check_has_its_kind_in_json(tmp_path: Path) -> None:
    text = LAZY.read_text(encoding="utf-8")
    path = tmp_path / "rsub_engine.py"
    path.write_text(
        text.replace(
            "        return self._wrap(other) + (-self)\n",
            "        return self - other\n",
        ),
        encoding="utf-8",
    )
    run = run_cli("engine", f"{path}:Array", "--json", "--seed", "1", "--examples", "0")
    assert run.code == 1
    doc = target_view(json.loads(run.out))
    kinds = {c["kind"] for c in doc["checks"] if c["status"] == "fail"}
    assert "reflected-op" in kinds
    assert None not in kinds


@pytest.mark.heavy
def test_check_engine_checks_an_array_class_as_a_tensor_engine() -> None:
    """The Python API decides as the command line does, and says so."""
    from gradcheck import check_engine

    report = check_engine(f"{ATOM}:Atom", examples=3, seed=1)
    assert any(n.startswith("checked as a tensor engine") for n in report.notes)
    assert any(c.name.startswith("tensor ") for c in report.checks)
    scalar = check_engine(f"{ATOM}:Atom", examples=0, seed=1, kind="scalar")
    assert not any(c.name.startswith("tensor ") for c in scalar.checks)
