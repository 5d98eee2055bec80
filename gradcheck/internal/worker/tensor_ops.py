"""One program node on a tensor engine's tensors, in the engine's own spelling.

`apply` runs a node of `gradcheck.internal.tensor.program` with the forms
`tensor_api.detect` found (a method, an operator, a package function; the
axis and keepdims keywords). Standard library only; numpy is handed in.
"""

from __future__ import annotations

from typing import Any

from gradcheck.internal.worker.tensor_api import (
    BINARY,
    REDUCTIONS,
    UNARY,
    OpForm,
    TensorApi,
    Unsupported,
    call,
    reshape,
)


def form_of(api: TensorApi, op: str) -> OpForm:
    """The engine's form of `op`, or `Unsupported` with the reason."""
    form = api.ops.get(op)
    if form is None:
        raise Unsupported(f"{op}: {api.unsupported.get(op, 'not found')}")
    return form


def binary(api: TensorApi, op: str, a: Any, b: Any) -> Any:
    form = form_of(api, op)
    if form.how == "operator":
        return BINARY[op](a, b)
    return call(api, form, a, b)


def apply(api: TensorApi, node: list[Any], ins: list[Any]) -> Any:
    """One program node on the engine's tensors."""
    op, _, _, _, constant, axis, keepdims, new_shape = node
    if op in BINARY:
        return binary(api, op, ins[0], ins[1])
    if op.endswith("_k"):
        base = op[:-2]
        if base.startswith("r") or base == "pow":
            form = form_of(api, op)
            if form.how != "operator":  # a.rsub(k) is k - a, a.pow(k) is a ** k
                return call(api, form, ins[0], constant)
            if base == "pow":
                return ins[0] ** constant
            return BINARY[base[1:]](constant, ins[0])
        return binary(api, base, ins[0], constant)
    if op == "neg":
        form = form_of(api, op)
        return -ins[0] if form.how == "operator" else call(api, form, ins[0])
    if op in UNARY:
        return call(api, form_of(api, op), ins[0])
    if op in REDUCTIONS:
        return _reduce(api, op, ins[0], axis, keepdims, len(node[3]))
    if op == "matmul":
        return binary(api, op, ins[0], ins[1])
    if op == "reshape":
        return reshape(api, form_of(api, op), ins[0], tuple(new_shape))
    if op == "transpose":
        form = form_of(api, op)
        if form.how == "property":
            return ins[0].T
        if form.axes_args == 2:
            return call(api, form, ins[0], 1, 0)
        if form.axes_args == 1:
            return call(api, form, ins[0], (1, 0))
        return call(api, form, ins[0])
    raise Unsupported(f"unknown tensor op {op!r}")


def sum_every_axis(api: TensorApi, form: OpForm, t: Any, kwargs: dict[str, Any]) -> Any:
    """A sum over all axes from a sum that needs an axis: one axis at a time.

    Axis 0 each time, or the next axis when the sum keeps the axis it reduced.
    """
    out, axis = t, 0
    ndim = len(api.array(t).shape)
    for _ in range(ndim):
        out = call(api, form, out, **{form.axis or "axis": axis}, **kwargs)
        if len(api.array(out).shape) == ndim:
            axis += 1
    return out


def _reduce(
    api: TensorApi, op: str, t: Any, axis: int | None, keepdims: bool, out_ndim: int
) -> Any:
    form = form_of(api, op)
    kwargs: dict[str, Any] = {}
    if form.keep is not None:
        kwargs[form.keep] = bool(keepdims)
    elif keepdims:
        raise Unsupported(f"{op}: no keepdims keyword")
    if axis is None and form.axis_required:
        if keepdims or op != "sum":
            raise Unsupported(f"{op}: needs an axis ({form.axis}=)")
        return sum_every_axis(api, form, t, kwargs)
    if axis is not None:
        if form.axis is None:
            raise Unsupported(f"{op}: no axis keyword")
        kwargs[form.axis] = axis
    out = call(api, form, t, **kwargs)
    if isinstance(out, tuple) and out and isinstance(out[0], api.cls):
        return out[0]  # torch's max(dim): (values, indices)
    return out
