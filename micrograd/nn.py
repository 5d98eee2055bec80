"""Neural-network building blocks on top of `Value`: neurons, layers, MLPs.

Weights are initialised uniformly in [-1, 1] from `random`, as in the
lecture; pass `rng=random.Random(seed)` for reproducible models.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeAlias

from micrograd.engine import Value

Input: TypeAlias = "Value | float | int"


class Module:
    """Anything with parameters: gives them out and resets their gradients."""

    def parameters(self) -> list[Value]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    """`act(w . x + b)`; `act` is tanh by default, as in the lecture."""

    def __init__(
        self, nin: int, nonlin: bool = True, rng: random.Random | None = None
    ) -> None:
        rng = rng or random.Random()
        self.w = [Value(rng.uniform(-1.0, 1.0), label="w") for _ in range(nin)]
        self.b = Value(rng.uniform(-1.0, 1.0), label="b")
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Input]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron expects {len(self.w)} inputs, got {len(x)}")
        act = self.b
        for wi, xi in zip(self.w, x, strict=True):
            act = act + wi * xi
        return act.tanh() if self.nonlin else act

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{'Tanh' if self.nonlin else 'Linear'}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons that all read the same `nin` inputs."""

    def __init__(
        self,
        nin: int,
        nout: int,
        nonlin: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]

    def __call__(self, x: Sequence[Input]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron; `MLP(3, [4, 4, 1])` maps 3 inputs to 1 output.

    Every layer uses tanh, the output layer included, as in the lecture.
    Calling it returns a single `Value` when the last layer has one neuron.
    """

    def __init__(
        self, nin: int, nouts: Sequence[int], rng: random.Random | None = None
    ) -> None:
        sizes = [nin, *nouts]
        self.layers = [
            Layer(sizes[i], sizes[i + 1], rng=rng) for i in range(len(nouts))
        ]

    def __call__(self, x: Sequence[Input]) -> Value | list[Value]:
        out: list[Value] = [v if isinstance(v, Value) else Value(v) for v in x]
        for layer in self.layers:
            out = layer(out)
        return out[0] if len(out) == 1 else out

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


def mse_loss(predictions: Sequence[Value], targets: Sequence[float]) -> Value:
    """Mean squared error between predictions and targets."""
    if len(predictions) != len(targets) or not predictions:
        raise ValueError("mse_loss needs as many predictions as targets (at least 1)")
    total = Value(0.0)
    for pred, target in zip(predictions, targets, strict=True):
        total = total + (pred - target) ** 2
    return total / len(predictions)


def sgd_step(params: Sequence[Value], lr: float) -> None:
    """Plain gradient descent: `p.data -= lr * p.grad` for every parameter."""
    for p in params:
        p.data -= lr * p.grad
