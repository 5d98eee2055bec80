"""What the diagnosis of a tensor failure says, each claim tested first.

A backward that fails on a computed operand that an op broadcasts (a mean
kept as a column, subtracted from its input) is `broadcasting`, shown by
the op alone on leaves of the same shapes. Fixtures are one edit of
`methods_engine`.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("numpy")

from methods_edits import edited

from gradcheck.internal.tensor.check import check_tensor_engine

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
    engine = edited(KEEPDIMS_SUM, new, "column_unbroadcast")
    report = check_tensor_engine(engine, examples=0, seed=0)
    centre = next(c for c in report.failures if c.name == "tensor reuse")
    assert centre.kind == "broadcasting", centre.message
    assert "t1 (2,1) is broadcast to (2,3)" in centre.message
    assert "the op alone, `y = x - y  [x(2,3), y(2,1)]`, fails too" in centre.message


def _hint(engine: Any, program: str) -> str:
    report = check_tensor_engine(engine, examples=0, seed=0)
    check = next(c for c in report.failures if c.program == program)
    assert check.kind == "local-derivative", check.message
    return str(check.hint)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("old", "new", "program", "words"),
    [
        (  # sum's backward seeds ones instead of passing its gradient on
            "return (np.broadcast_to(g, shape).copy(),)",
            "return (np.ones(shape),)",
            "y = a.sum()  [a(2,3)]",
            "sum's backward drops the gradient it receives",
        ),
        (  # transpose's backward reshapes
            "lambda g: (g.T,))",
            "lambda g: (g.reshape(self.data.shape),))",
            "y = a.T  [a(2,3)]",
            "right values in the wrong places: it is the true gradient transposed",
        ),
        (  # matmul's backward reshapes a where a.T is needed
            "(a2.T @ g2)",
            "(a2.reshape(a2.shape[1], a2.shape[0]) @ g2)",
            "y = a @ b  [a(2,3), b(3,2)]",
            "@'s backward uses a.reshape(3, 2) where a.T is needed",
        ),
        (  # log' = 1 / x**2
            "lambda g: (g / x,))",
            "lambda g: (g / x**2,))",
            "y = log(a)  [a(2,3)]",
            "log's backward gives the true gradient divided by its input a",
        ),
        (  # exp's backward twice too big
            "lambda g: (g * e,))",
            "lambda g: (2 * g * e,))",
            "y = exp(a)  [a(2,3)]",
            "exp's backward is wrong: the gradient of a is 2 times the truth",
        ),
    ],
    ids=["upstream-dropped", "transpose-reshapes", "matmul-reshape", "log", "factor"],
)
def test_a_wrong_gradient_gets_the_hint_its_numbers_show(
    old: str, new: str, program: str, words: str
) -> None:
    assert words in _hint(edited(old, new, "one_bug"), program)


@pytest.mark.heavy
def test_no_hint_when_no_comparison_holds() -> None:
    """tanh' = 1 - t: no factor, no permutation, not the truth times x or y."""
    engine = edited("(g * (1 - t * t),)", "(g * (1 - t),)", "tanh_one_minus_t")
    assert _hint(engine, "y = tanh(a)  [a(2,3)]") == ""
