"""Draw leaf values and the projection R for a tensor program.

Values are exactly representable in float32, so a float32 engine starts
from the same numbers as the references. R is drawn with both signs and
never all ones: a backward that drops or scrambles the upstream gradient
looks right under `.sum()`, not under a random projection.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from gradcheck.errors import PointError
from gradcheck.internal.refs.references import Reference, reference
from gradcheck.internal.tensor.expand import Expansion, expand
from gradcheck.internal.tensor.program import TensorProgram, size


def float32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def draw(rng: random.Random, positive: bool = False) -> float:
    magnitude = 0.2 * 12 ** rng.random()  # 0.2 .. 2.4
    return float32(magnitude if positive or rng.random() < 0.5 else -magnitude)


def draw_projection(rng: random.Random, count: int) -> list[float]:
    return [float32((0.5 + rng.random()) * rng.choice((-1, 1))) for _ in range(count)]


@dataclass
class Example:
    """A program at a point, with its expansion and both references."""

    program: TensorProgram
    values: dict[str, list[float]]
    projection: list[float]
    expansion: Expansion
    reference: Reference


def example(
    program: TensorProgram,
    rng: random.Random,
    tries: int = 40,
    values: dict[str, list[float]] | None = None,
    projection: list[float] | None = None,
) -> Example:
    """A point where the program is smooth, defined and free of max ties.

    Raises `PointError` when none is found in `tries` draws.
    """
    if projection is None:
        projection = draw_projection(rng, size(program.output_shape))
    problem = "no point tried"
    for attempt in range(tries):
        drawn = values or {
            n.name: [
                draw(rng, positive=attempt >= tries // 3) for _ in range(size(n.shape))
            ]
            for _, n in program.leaves
        }
        try:
            expansion = expand(program, drawn, projection)
            ref = reference(expansion.graph, expansion.point)
        except PointError as err:
            problem = str(err)
            if values is not None:
                break
            continue
        if ref.conclusive:
            return Example(program, drawn, projection, expansion, ref)
        problem = ref.disagreement or "references disagree"
    raise PointError(f"no smooth point for {program.to_text()}: {problem}")
