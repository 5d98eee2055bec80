"""The lecture's four-sample problem: train `MLP(3, [4, 4, 1])` until it fits.

Run `python -m micrograd.train`: one progress line per step, then the final
loss, which falls below 0.01.
"""

from __future__ import annotations

import random

from micrograd.engine import Value
from micrograd.nn import MLP, mse_loss, sgd_step

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def train(
    steps: int = 200, lr: float = 0.05, seed: int = 1337, verbose: bool = True
) -> float:
    """Train on the four samples and return the final loss."""
    model = MLP(3, [4, 4, 1], rng=random.Random(seed))
    loss = Value(0.0)
    for step in range(steps):
        predictions = [model(x) for x in XS]
        loss = mse_loss(predictions, YS)  # type: ignore[arg-type]
        model.zero_grad()
        loss.backward()
        sgd_step(model.parameters(), lr)
        if verbose:
            print(f"step {step:3d}  loss {loss.data:.6f}")
        if loss.data < 0.001:
            break
    return loss.data


if __name__ == "__main__":
    final = train()
    print(f"final loss {final:.6f}")
