"""micrograd: a small, fast scalar autograd engine with a tiny nn library."""

from micrograd.engine import Value
from micrograd.nn import MLP, Layer, Module, Neuron, mse_loss, sgd_step
from micrograd.viz import draw_dot, to_dot

__all__ = [
    "MLP",
    "Layer",
    "Module",
    "Neuron",
    "Value",
    "draw_dot",
    "mse_loss",
    "sgd_step",
    "to_dot",
]
