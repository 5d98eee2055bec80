"""micrograd.nn: parameter counts, shapes, zero_grad and the training demo."""

from __future__ import annotations

import random

import pytest

from micrograd import MLP, Layer, Neuron, Value, mse_loss, sgd_step
from micrograd.train import XS, YS, train


def test_mlp_3_4_4_1_has_41_parameters() -> None:
    model = MLP(3, [4, 4, 1])
    assert len(model.parameters()) == 41  # (3+1)*4 + (4+1)*4 + (4+1)*1
    assert len({id(p) for p in model.parameters()}) == 41


def test_neuron_and_layer_parameters_include_biases() -> None:
    neuron = Neuron(5)
    assert neuron.parameters() == [*neuron.w, neuron.b]
    assert len(Layer(3, 4).parameters()) == 16


def test_shapes() -> None:
    rng = random.Random(0)
    assert isinstance(MLP(3, [4, 4, 1], rng=rng)([1.0, 2.0, 3.0]), Value)
    out = MLP(3, [4, 2], rng=rng)([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 2
    assert len(Layer(2, 5, rng=rng)([Value(1.0), 2.0])) == 5
    assert isinstance(Neuron(2, rng=rng)([1, 2]), Value)


def test_neuron_output_is_tanh_of_the_affine_sum() -> None:
    n = Neuron(2, rng=random.Random(1))
    x = [0.5, -2.0]
    affine = n.b.data + sum(w.data * xi for w, xi in zip(n.w, x, strict=True))
    assert n(x).data == pytest.approx(Value(affine).tanh().data, rel=1e-15)
    assert Neuron(2, nonlin=False, rng=random.Random(1))(x).data == pytest.approx(
        affine, rel=1e-15
    )


def test_wrong_number_of_inputs() -> None:
    with pytest.raises(ValueError, match="expects 3 inputs"):
        MLP(3, [2, 1])([1.0, 2.0])


def test_same_seed_same_model() -> None:
    a = MLP(3, [4, 1], rng=random.Random(7))
    b = MLP(3, [4, 1], rng=random.Random(7))
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert all(-1.0 <= p.data <= 1.0 for p in a.parameters())


def test_zero_grad_resets_every_parameter() -> None:
    model = MLP(3, [4, 4, 1], rng=random.Random(0))
    loss = mse_loss([model(x) for x in XS], YS)  # type: ignore[misc]
    loss.backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_mse_loss_and_sgd_step() -> None:
    p = Value(3.0)
    loss = mse_loss([p, p * 2], [1.0, 2.0])  # ((p-1)**2 + (2p-2)**2) / 2
    assert loss.data == 10.0
    loss.backward()
    assert p.grad == 10.0  # (2(p-1) + 4(2p-2)) / 2
    sgd_step([p], lr=0.1)
    assert p.data == 2.0


def test_mse_loss_needs_matching_lengths() -> None:
    with pytest.raises(ValueError):
        mse_loss([Value(1.0)], [1.0, 2.0])
    with pytest.raises(ValueError):
        mse_loss([], [])


def test_training_on_the_four_samples_reaches_a_small_loss() -> None:
    assert train(verbose=False) < 0.01


def test_repr() -> None:
    model = MLP(2, [1], rng=random.Random(0))
    assert repr(model) == "MLP of [Layer of [TanhNeuron(2)]]"
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
