"""What the diagnosis of a tensor failure says, each claim tested first.

A backward that fails on a computed operand that an op broadcasts (a mean
kept as a column, subtracted from its input) is `broadcasting`, shown by
the op alone on leaves of the same shapes. Fixtures are one edit of
`methods_engine`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("numpy")

from gradcheck.internal.checking.engine_client import load_source
from gradcheck.internal.tensor.check import check_tensor_engine

HERE = Path(__file__).parent
METHODS = HERE / "methods_engine.py"


def _edited(old: str, new: str, name: str) -> Any:
    text = METHODS.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must appear once in {METHODS.name}"
    return load_source(name, text.replace(old, new))


KEEPDIMS_SUM = "grad = grad.sum(axis=axis, keepdims=True)"


@pytest.mark.heavy
@pytest.mark.parametrize(
    "new",
    [
        "grad = grad.sum(axis=0).reshape(shape)",  # raises on a (2,1) operand
        "grad = 2 * grad.sum(axis=axis, keepdims=True)",  # wrong numbers
    ],
    ids=["raises", "wrong"],
)
def test_a_broadcast_computed_operand_is_named_broadcasting(new: str) -> None:
    engine = _edited(KEEPDIMS_SUM, new, "column_unbroadcast")
    report = check_tensor_engine(engine, examples=0, seed=0)
    centre = next(c for c in report.failures if c.name == "tensor reuse")
    assert centre.kind == "broadcasting", centre.message
    assert "t1 (2,1) is broadcast to (2,3)" in centre.message
    assert "the op alone, `y = x - y  [x(2,3), y(2,1)]`, fails too" in centre.message
