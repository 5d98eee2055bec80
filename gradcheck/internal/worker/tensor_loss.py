"""The checker's loss on a tensor engine: seeding R, and refusals.

The loss L = sum(y * R) is the checker's, not the engine's: the output
gradient R is seeded directly when the engine allows it, and whichever way
is used is calibrated on `y = a` first (`choose_loss`), so a failure of the
checker's own glue is never reported as the engine's. Also here: whether an
exception is the engine refusing on purpose (a raise with a message in its
own code), which both the loss and the programs ask.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gradcheck.internal.worker.contract import is_raise
from gradcheck.internal.worker.faults import describe_error, innermost, one_line
from gradcheck.internal.worker.tensor_api import (
    LOSS_TEXT,
    TensorApi,
    Unsupported,
    call,
    lookup,
)
from gradcheck.internal.worker.tensor_ops import binary, sum_every_axis

# Exceptions an op raises on purpose to refuse an operand form.
REFUSALS = (ValueError, TypeError, NotImplementedError, RuntimeError, AssertionError)


class LossError(Exception):
    """The checker's own loss could not be built on this program."""


def _backward_call(api: TensorApi, t: Any, *args: Any) -> None:
    getattr(t, api.backward_name)(*args)


def seed(api: TensorApi, y: Any, r_values: list[float], shape: list[int]) -> None:
    """Backpropagate L = sum(y * R) from `y`, the way calibration chose.

    Raises LossError when the checker's part (R, y * R, the sum) fails; the
    engine's backward() raising is the engine's.
    """
    np = api.np
    try:  # R in the shape the engine gave y (leading or kept axes of length 1)
        actual = list(api.array(y).shape)
    except Exception:
        actual = list(shape)
    if int(np.prod(actual, dtype=int)) == len(r_values):
        shape = actual
    r = np.array(r_values, dtype=np.float64).reshape(shape)
    if api.loss == "seed":
        _backward_call(api, y, r.astype(api.dtype, copy=False))
        return
    if api.loss == "seed-tensor":
        try:
            rt = api.make(list(r_values), shape)
        except Exception as err:
            raise LossError(f"Tensor(R) raised {one_line(err)}") from None
        _backward_call(api, y, rt)
        return
    if api.loss == "set-grad":
        try:
            setattr(y, api.grad, r.astype(api.dtype, copy=False))
        except Exception as err:
            raise LossError(f"y.{api.grad} = R raised {one_line(err)}") from None
        _backward_call(api, y)
        return
    try:
        rt = api.make(list(r_values), shape)
        loss = _product(api, y, rt)
        if api.loss == "sum":
            loss = _total(api, loss)
    except Unsupported as err:
        raise LossError(str(err)) from None
    except Exception as err:
        raise LossError(
            f"{LOSS_TEXT[api.loss].split('.')[0]} raised {one_line(err)}"
        ) from None
    _backward_call(api, loss)


def _product(api: TensorApi, y: Any, r: Any) -> Any:
    if "mul" in api.ops:
        return binary(api, "mul", y, r)
    form = lookup(api, "mul", {})
    if form is None or form.how == "operator":
        raise Unsupported("no * between tensors for the loss")
    return call(api, form, y, r)


def _total(api: TensorApi, t: Any) -> Any:
    form = api.ops.get("sum")
    if form is None:
        raise Unsupported("no sum for the loss")
    kwargs: dict[str, Any] = {}
    if form.keep is not None:
        kwargs[form.keep] = False
    if not form.axis_required:
        return call(api, form, t, **kwargs)
    return sum_every_axis(api, form, t, kwargs)


# The programs the calibration runs, as the report shows them.
PROGRAMS = {
    "product": "y = a * R; y.backward()  [a(2,3), R(2,3)]",
    "sum": "y = (a * R).sum(); y.backward()  [a(2,3), R(2,3)]",
}


def choose_loss(api: TensorApi, constructors: list[dict[str, Any]]) -> None:
    """Every way of seeding R that gives a.grad == R on y = a; the first is used."""
    np = api.np
    r_values = [0.75, -1.25, 0.5, 1.5, -0.625, 1.125]
    want = np.array(r_values).reshape(2, 3)
    tried: list[str] = []
    fault: dict[str, Any] | None = None
    for kwargs in constructors:
        api.kwargs = kwargs
        for loss in ("seed", "seed-tensor", "set-grad", "product", "sum"):
            api.loss = loss
            try:
                a = api.make([0.5, -1.0, 2.0, 1.5, -0.25, 3.0], [2, 3])
                seed(api, a, r_values, [2, 3])
                got = api.gradient(a)
                got = None if got is None else api.fit(got, (2, 3))
            except LossError as err:
                tried.append(f"{LOSS_TEXT[loss].format(b=api.backward_name)}: {err}")
                continue
            except Exception as err:
                tried.append(
                    f"{LOSS_TEXT[loss].format(b=api.backward_name)}: {one_line(err)}"
                )
                if (
                    loss in ("product", "sum")
                    and fault is None
                    and not refusal_of(api, err)
                ):
                    # the engine's own backward of a * R (and its sum) raised
                    fault = {"program": PROGRAMS[loss], "error": describe_error(err)}
                continue
            if (
                got is not None
                and got.shape == want.shape
                and np.allclose(
                    np.asarray(got, dtype=np.float64), want, rtol=1e-3, atol=1e-6
                )
            ):
                api.losses.append(loss)
                continue
            tried.append(
                f"{LOSS_TEXT[loss].format(b=api.backward_name)}: "
                + ("no gradient" if got is None else "gradient is not R")
            )
            if loss == "sum" and got is not None and fault is None and not api.losses:
                fault = {
                    "program": PROGRAMS[loss],
                    "got": np.asarray(got, dtype=np.float64).reshape(-1).tolist(),
                    "want": r_values,
                }
        if api.losses:
            api.loss = api.losses[0]
            return
    api.kwargs = constructors[0]
    api.loss = "none"
    api.loss_fault = fault
    api.notes.append(
        "cannot build a loss: no way of seeding the output gradient R gave "
        "a.grad == R on y = a (" + "; ".join(dict.fromkeys(tried)) + ")"
    )


# Where code that is not the engine's lives: Python, installed packages
# (numpy), and the checker itself.
_CHECKER = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NOT_ENGINE = tuple(
    os.path.abspath(p) + os.sep
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, _CHECKER}
    if p
)


def engine_code(api: TensorApi, filename: str) -> bool:
    """Whether code from `filename` is the engine's (its package, or its source)."""
    if filename.startswith("<frozen"):
        return False
    path = os.path.abspath(filename)
    if any(path.startswith(folder + os.sep) for folder in api.files):
        return True
    return not path.startswith(_NOT_ENGINE)


def refusal_of(api: TensorApi, err: BaseException) -> bool:
    """Whether backward() itself refused (a raise with a message in its own code)."""
    tb = innermost(err)
    if tb is None or not str(err):
        return False
    own = getattr(getattr(api.cls, api.backward_name, None), "__code__", None)
    code = tb.tb_frame.f_code
    return code is own and is_raise(code, tb.tb_lasti, tb.tb_lineno)


def refused(api: TensorApi, err: BaseException) -> str | None:
    """The engine's message when an op refused on purpose (a raise in its own code)."""
    if not isinstance(err, REFUSALS):
        return None
    text = one_line(err)
    if ":" not in text or not text.split(":", 1)[1].strip():
        return None
    tb = innermost(err)
    if tb is None:
        return None
    code = tb.tb_frame.f_code
    if not engine_code(api, code.co_filename):
        return None
    if not is_raise(code, tb.tb_lasti, tb.tb_lineno):
        return None
    return f"refused on purpose by {code.co_name}: {text}"
