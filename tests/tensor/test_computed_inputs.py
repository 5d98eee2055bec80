"""Each unary op on a computed input, and `--examples` for tensor engines.

A backward that reads another node than its own input (a relu mask taken
from the input's parent) is right on `relu(a)`, where the input is a leaf,
and on `a + relu(a)`. The probes `op(a * -2)` and `op(a * b + c)` catch it
on every seed, with no random program.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("numpy")

from cli_runner import run_cli
from methods_edits import METHODS, edited

from gradcheck import check_engine
from gradcheck.internal.checking.family_names import TENSOR_EXAMPLES
from gradcheck.internal.output.json_doc import target_view
from gradcheck.internal.tensor.check import DEFAULT_EXAMPLES, check_tensor_engine

# relu's mask, exp's value from the input's first parent when it has one
PARENT = "(self._parents[0] if self._parents else self)"
RELU_MASK_FROM_PARENT = (
    "    def relu(self):\n        x = self.data\n",
    f"    def relu(self):\n        x = {PARENT}.data\n",
)
EXP_FROM_PARENT = (
    "e = np.exp(self.data)\n        return Tensor(e, (self,), lambda g: (g * e,))",
    f"e = np.exp(self.data)\n        return Tensor(e, (self,), "
    f"lambda g: (g * np.exp({PARENT}.data),))",
)


@pytest.mark.heavy(seconds=6)
@pytest.mark.parametrize(
    "edit", [RELU_MASK_FROM_PARENT, EXP_FROM_PARENT], ids=["relu-mask", "exp"]
)
def test_an_op_reading_its_inputs_parent_is_caught_by_the_probes_on_every_seed(
    edit: tuple[str, str],
) -> None:
    engine = edited(*edit, name="reads_parent")
    for seed in range(6):
        report = check_tensor_engine(engine, examples=0, seed=seed)
        failing = [c for c in report.failures if c.name == "tensor elementwise"]
        assert failing, f"seed {seed}: {[c.message for c in report.checks]}"
        assert not any(c.name == "tensor random programs" for c in report.checks)


@pytest.mark.heavy
def test_examples_is_honoured_for_tensor_engines() -> None:
    def random_check(*extra: str) -> dict[str, Any] | None:
        run = run_cli(
            "engine", f"{METHODS}:Tensor", "--json", "--seed", "0", *extra
        )  # fmt: skip
        assert run.code == 0, run.err + run.out[-2000:]
        checks = target_view(json.loads(run.out))["checks"]
        return next((c for c in checks if c["name"] == "tensor random programs"), None)

    assert random_check("--examples", "0") is None, "0 means probes only"
    few = random_check("--examples", "3")
    assert few is not None and 0 < few["examples"] <= 3
    default = random_check()
    assert default is not None and 3 < default["examples"] <= TENSOR_EXAMPLES


def test_the_command_lines_tensor_default_is_the_checkers() -> None:
    assert TENSOR_EXAMPLES == DEFAULT_EXAMPLES


@pytest.mark.heavy
def test_check_engine_honours_examples_for_a_tensor_engine() -> None:
    def programs(**options: Any) -> int | None:
        report = check_engine(f"{METHODS}:Tensor", seed=0, **options)
        found = next(
            (c for c in report.checks if c.name == "tensor random programs"), None
        )
        return None if found is None else found.examples

    assert programs(examples=0) is None, "0 means probes only"
    assert 3 < (programs() or 0) <= TENSOR_EXAMPLES
    assert TENSOR_EXAMPLES < (programs(examples=100) or 0) <= 100
