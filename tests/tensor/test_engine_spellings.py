"""Ops a tensor engine spells only as methods, and `--op` with tensor op names.

`methods_engine` has no `__neg__`, `__pow__`, `__rsub__` or `__rtruediv__`:
`a.neg()`, `a.pow(k)`, `a.rsub(k)` and `a.rdiv(k)` are called instead, found
by themselves or named with `--op`. A method that raises on a live tensor
leaves its op unsupported; a method found this way is judged like any op.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("numpy")

from cli_runner import run_cli
from methods_edits import METHODS, edited

from gradcheck.internal.output.json_doc import target_view
from gradcheck.internal.tensor.check import check_tensor_engine


@pytest.mark.heavy
def test_ops_spelled_as_methods_are_found_and_called() -> None:
    report = check_tensor_engine(f"{METHODS}:Tensor", examples=5, seed=0)
    assert report.ok, [c.message for c in report.failures]
    for op, method in (("neg", "neg"), ("pow_k", "pow"), ("rsub_k", "rsub")):
        assert op in report.supported
        assert report.api[f"op {op}"] == f".{method}()"
    mlp = next(c for c in report.checks if c.name == "tensor mlp")
    assert mlp.examples > 0, "the MLP probe needs a ** 2: it must run"


@pytest.mark.heavy
def test_declared_method_names_are_called_not_the_operator() -> None:
    """The scalar names (`pow`, `rsub`) mean x ** k and k - x here too."""
    names = {"neg": "neg", "pow": "pow", "rsub": "rsub", "rdiv": "rdiv"}
    report = check_tensor_engine(
        f"{METHODS}:Tensor", examples=5, seed=0, op_names=names
    )
    assert report.ok, [c.message for c in report.failures]
    assert report.api["op pow_k"] == ".pow()"
    assert report.api["op rdiv_k"] == ".rdiv()"


@pytest.mark.heavy
def test_a_method_that_raises_leaves_its_op_unsupported() -> None:
    engine = edited(
        "    def neg(self):\n",
        "    def neg(self):\n        raise RuntimeError('not yet')\n",
        "neg_raises",
    )
    report = check_tensor_engine(engine, examples=3, seed=0)
    assert report.ok, [c.message for c in report.failures]
    assert "neg" not in report.supported
    assert "not yet" in report.unsupported["neg"]


@pytest.mark.heavy
def test_a_method_found_by_name_is_still_judged() -> None:
    engine = edited("(g * k * x ** (k - 1),)", "(g * k * x**k,)", "pow_wrong")
    report = check_tensor_engine(engine, examples=0, seed=0)
    assert not report.ok
    assert any("a ** 2" in c.message for c in report.failures)


@pytest.mark.heavy
def test_op_takes_tensor_op_names() -> None:
    run = run_cli(
        "engine", f"{METHODS}:Tensor", "--json", "--seed", "0", "--examples", "0",
        "--op", "pow_k=pow,rsub_k=rsub",
    )  # fmt: skip
    assert run.code == 0, run.err + run.out[-2000:]
    doc = target_view(json.loads(run.out))
    assert doc["info"]["api op pow_k"] == ".pow()"


def test_op_names_an_unknown_op_with_the_tensor_ones() -> None:
    run = run_cli("engine", f"{METHODS}:Tensor", "--op", "power=pow")
    assert run.code == 2
    assert "unknown op power" in run.err
    assert "for tensor engines also: " in run.err and "pow_k" in run.err
