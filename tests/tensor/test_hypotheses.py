"""The pieces of evidence a tensor finding rests on, without an engine."""

from __future__ import annotations

import pytest

from gradcheck.internal.tensor.check import ignored_option_notes
from gradcheck.internal.tensor.guards import round_constant
from gradcheck.internal.tensor.hypotheses import (
    named_broadcast,
    own_broadcast,
    shape_text,
    sum_text,
    summed,
)
from gradcheck.internal.tensor.program import ProgramBuilder, TensorProgram


def _add(sa: tuple[int, ...], sb: tuple[int, ...]) -> TensorProgram:
    b = ProgramBuilder()
    b.op("add", b.leaf("a", sa), b.leaf("b", sb))
    return b.build()


def test_a_guard_is_one_round_constant() -> None:
    assert round_constant([1.0000001e-12, 0.9999998e-12, 1.0000003e-12]) == 1e-12
    assert round_constant([5.0001e-7, 4.9999e-7]) == 5e-7
    assert round_constant([1e-12, 3e-12]) is None  # not one constant
    assert round_constant([0.0, 0.0]) is None
    assert round_constant([]) is None


def test_summing_a_broadcast_gradient_back_to_its_leaf() -> None:
    grad = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # shape (2, 3)
    assert summed(grad, (2, 3), (3,)) == [5.0, 7.0, 9.0]
    assert summed(grad, (2, 3), (2, 1)) == [6.0, 15.0]
    assert summed(grad, (2, 3), ()) == [21.0]
    assert summed(grad, (2, 3), (2,)) is None  # (2,) does not broadcast to (2, 3)
    assert sum_text((3,), (2, 3)) == "sum over axis 0"
    assert sum_text((2, 1), (2, 3)) == "sum over axis 1 with keepdims"
    assert shape_text((3,)) == "(3,)" and shape_text((2, 1)) == "(2,1)"


def test_an_error_that_names_both_shapes_of_a_broadcast() -> None:
    prog = _add((2, 3), (2, 1))
    text = (
        "non-broadcastable output operand with shape (2,1) doesn't match the "
        "broadcast shape (2,3)"
    )
    said = named_broadcast(prog, text)
    assert said and "b's shape (2,1)" in said and "sum over axis 1" in said
    assert named_broadcast(prog, "shapes (4,5) and (5,)") is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("non-broadcastable output operand with shape () doesn't match the "
         "broadcast shape (2,3)", True),
        ("operands could not be broadcast together with shapes (2,3) (3,)", False),
        ("index 3 is out of bounds for axis 0 with size 3", False),
    ],
)  # fmt: skip
def test_an_operand_of_the_engines_own_is_a_shape_the_program_lacks(
    text: str, found: bool
) -> None:
    prog = _add((2, 3), (3,))
    assert bool(own_broadcast(prog, text)) is found


def test_scalar_only_options_get_a_note_for_tensors() -> None:
    notes = ignored_option_notes({"min_depth": 100, "range_limit": None, "ops": None})
    assert notes == ["--min-depth does not apply to tensor engines; ignored"]
    assert ignored_option_notes({"examples": 5}) == []


def test_a_0d_operand_counts_when_the_error_says_shape() -> None:
    b = ProgramBuilder()
    a = b.leaf("a", (2, 3))
    b.op("mul", a, b.reduce("sum", a))
    prog = b.build()
    text = (
        "non-broadcastable output operand with shape () doesn't match the "
        "broadcast shape (2,3)"
    )
    said = named_broadcast(prog, text)
    assert said and "t1's shape ()" in said
    assert named_broadcast(prog, "f() got (2,3)") is None
