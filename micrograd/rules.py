"""The derivative table of `micrograd.engine`: one small rule per op.

Each rule takes the node an op made (`out`) and adds `out.grad` times the
op's local derivative to the gradient of each operand (`+=`, so an operand
used twice collects both contributions). The rules read only what the node
holds: its operands `_a` and `_b`, its result `data` and its constant `arg`.
The forward of each op is the `Value` method of the same name; the table
below reads like the derivative table in docs/ops.md.

Conventions at kinks, as in the checker's op table: relu, leaky_relu and abs
take the slope of the side x <= 0 at x = 0 (0, slope and -1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from micrograd.engine import Value

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
GELU_SCALE = math.sqrt(2.0 / math.pi)  # the tanh form: sqrt(2/pi) (x + c x**3)
GELU_CUBIC = 0.044715


def logistic(x: float) -> float:
    """1 / (1 + e**-x) in the form whose exp cannot overflow for this sign."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


# -- derivative rules: each adds out.grad * d(out)/d(operand) to operands --


def _add_backward(out: Value) -> None:
    out._a.grad += out.grad
    out._b.grad += out.grad


def _sub_backward(out: Value) -> None:
    out._a.grad += out.grad
    out._b.grad -= out.grad


def _mul_backward(out: Value) -> None:
    a, b = out._a, out._b
    a.grad += b.data * out.grad
    b.grad += a.data * out.grad


def _div_backward(out: Value) -> None:
    a, b = out._a, out._b
    a.grad += out.grad / b.data
    b.grad -= out.grad * out.data / b.data


def _neg_backward(out: Value) -> None:
    out._a.grad -= out.grad


def _pow_backward(out: Value) -> None:
    a = out._a
    n = out.arg
    if n == 0.0:
        return  # x**0 is the constant 1, even at x = 0.
    if a.data == 0.0 and n < 1.0:
        raise ZeroDivisionError(f"pow: the derivative of x**{n!r} is infinite at 0.0")
    a.grad += n * a.data ** (n - 1.0) * out.grad


def _tanh_backward(out: Value) -> None:
    out._a.grad += (1.0 - out.data * out.data) * out.grad


def _exp_backward(out: Value) -> None:
    out._a.grad += out.data * out.grad


def _log_backward(out: Value) -> None:
    out._a.grad += out.grad / out._a.data


def _relu_backward(out: Value) -> None:
    if out.data > 0.0:
        out._a.grad += out.grad


def _sigmoid_backward(out: Value) -> None:
    s = out.data
    out._a.grad += s * (1.0 - s) * out.grad


def _pow_value_backward(out: Value) -> None:
    a, b = out._a, out._b
    # d(a**b)/da = b * a**(b - 1), written as b * out / a (a > 0): no 2nd pow.
    a.grad += b.data * out.data / a.data * out.grad
    b.grad += out.data * math.log(a.data) * out.grad


def _rpow_backward(out: Value) -> None:
    out._a.grad += out.data * math.log(out.arg) * out.grad


def _abs_backward(out: Value) -> None:
    # The op table's convention: the slope is -1 at 0 too (x > 0 or not).
    if out._a.data > 0.0:
        out._a.grad += out.grad
    else:
        out._a.grad -= out.grad


def _sin_backward(out: Value) -> None:
    out._a.grad += math.cos(out._a.data) * out.grad


def _cos_backward(out: Value) -> None:
    out._a.grad -= math.sin(out._a.data) * out.grad


def _sqrt_backward(out: Value) -> None:
    if out.data == 0.0:
        raise ZeroDivisionError("sqrt: the derivative is infinite at 0.0")
    out._a.grad += 0.5 / out.data * out.grad


def _softplus_backward(out: Value) -> None:
    # The slope is sigmoid(x), in the form whose exp cannot overflow.
    out._a.grad += logistic(out._a.data) * out.grad


def _leaky_relu_backward(out: Value) -> None:
    # Like relu, the slope at 0 is the one of the negative side.
    out._a.grad += out.grad if out._a.data > 0.0 else out.arg * out.grad


def _gelu_backward(out: Value) -> None:
    x = out._a.data
    # Phi(x) + x * phi(x), phi the normal density.
    slope = 0.5 * math.erfc(-x * SQRT_HALF) + x * INV_SQRT_2PI * math.exp(-0.5 * x * x)
    out._a.grad += slope * out.grad


def _gelu_tanh_backward(out: Value) -> None:
    x = out._a.data
    t = math.tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x))
    inner_slope = GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x)
    slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_slope
    out._a.grad += slope * out.grad


def _erf_backward(out: Value) -> None:
    x = out._a.data
    out._a.grad += TWO_OVER_SQRT_PI * math.exp(-x * x) * out.grad


# `backward()` writes the + and * rules out instead of calling them; the
# table keeps them so that it stays the whole derivative table (a test checks
# that both give the same gradients).
BACKWARD: dict[str, Callable[[Value], None]] = {
    "+": _add_backward,
    "-": _sub_backward,
    "*": _mul_backward,
    "/": _div_backward,
    "neg": _neg_backward,
    "**": _pow_backward,
    "tanh": _tanh_backward,
    "exp": _exp_backward,
    "log": _log_backward,
    "relu": _relu_backward,
    "sigmoid": _sigmoid_backward,
    "pow": _pow_value_backward,
    "rpow": _rpow_backward,
    "abs": _abs_backward,
    "sin": _sin_backward,
    "cos": _cos_backward,
    "sqrt": _sqrt_backward,
    "softplus": _softplus_backward,
    "leaky_relu": _leaky_relu_backward,
    "gelu": _gelu_backward,
    "gelu_tanh": _gelu_tanh_backward,
    "erf": _erf_backward,
}
# The ops with two operands; every other op has one (and maybe a constant, `arg`).
BINARY = {"+", "-", "*", "/", "pow"}
