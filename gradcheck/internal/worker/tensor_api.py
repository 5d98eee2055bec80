"""Tensor engines in the worker: how this engine spells tensors and ops.

Found on live tensors and by signature: the constructor (an ndarray or a
nested list, `requires_grad=True` or another key, a package function that
builds tensors), data (`.data`, `.value`, lazy `realize()`), the gradient,
`backward()` or `backprop()`, and every op: methods first, then functions
anywhere in the engine's package (`pkg.math.sum`, `pkg.nn.functional.relu`),
with their axis keyword (`axis`, `dim`, `axes`), keepdims default and
`transpose(dim0, dim1)`. `tensor_ops.apply` runs one program node with that
spelling.
Standard library only; numpy is handed in by the caller.
"""

from __future__ import annotations

import enum
import inspect
import operator
from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.worker.faults import one_line
from gradcheck.internal.worker.tensor_find import (
    BACKWARD_NAMES,
    TensorApiError,
    bare,
    package_namespace,
    to_numpy,
)

UNARY = ("tanh", "exp", "log", "relu", "sigmoid")
REDUCTIONS = ("sum", "mean", "max")
AXIS_NAMES = ("axis", "dim", "axes", "dims")
KEEP_NAMES = ("keepdims", "keepdim", "keep_dims", "keep_dim", "keep")
DATA_NAMES = ("data", "value", "realize", "numpy", "values", "array", "_data")
GRAD_NAMES = ("grad", "gradient")
# Other spellings of an op, tried after its own name.
ALIASES = {
    "matmul": ("matmul", "dot", "mm"),
    "max": ("max", "amax"),
    "reshape": ("reshape", "view"),
    "mul": ("mul", "multiply"),
    "sub": ("sub", "subtract"),
    "div": ("div", "divide"),
    "sum": ("sum",),
}
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "matmul": operator.matmul,
    "pow": operator.pow,
}
DUNDERS = {
    "add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__",
    "neg": "__neg__", "pow_k": "__pow__", "radd_k": "__radd__", "rsub_k": "__rsub__",
    "rmul_k": "__rmul__", "rdiv_k": "__rtruediv__", "matmul": "__matmul__",
    "pow": "__pow__",
}  # fmt: skip
# Methods tried when the dunder is missing (`a.neg()`, `a.pow(2)`,
# `a.rsub(2)` for 2 - a, as torch spells them); kept only when the method
# runs on a live tensor and gives a tensor of the same shape.
METHODS = {
    "neg": ("neg", "negative"), "pow_k": ("pow",), "radd_k": ("radd",),
    "rsub_k": ("rsub",), "rmul_k": ("rmul",), "rdiv_k": ("rdiv",),
}  # fmt: skip
# `--op` takes the scalar op names too; these mean another tensor op
# (the scalar `pow` is x ** k, the tensor `pow` is a ** b).
SCALAR_NAMES = {
    "pow": "pow_k", "pow_var": "pow", "radd": "radd_k", "rsub": "rsub_k",
    "rmul": "rmul_k", "rdiv": "rdiv_k",
}  # fmt: skip


def tensor_op_names(names: dict[str, str]) -> dict[str, str]:
    """`--op` names as the tensor ops they mean; a tensor name (`pow_k`) wins
    over the scalar name that means the same op (`pow`)."""
    out = {SCALAR_NAMES.get(op, op): name for op, name in names.items()}
    out.update({op: name for op, name in names.items() if op not in SCALAR_NAMES})
    return out


class Unsupported(Exception):
    """A program needs an op, or an op form, that the engine does not have."""


@dataclass
class OpForm:
    """How one op is spelled on this engine."""

    how: str  # operator, method, function, property
    name: str
    axis: str | None = None
    keep: str | None = None
    star: bool = False  # reshape(*shape) rather than reshape(shape)
    axis_required: bool = False
    keep_default: bool = False
    axes_args: int = 0  # transpose(dim0, dim1): 2; transpose(axes): 1
    fn: Any = None  # the module function, for how == "function"
    where: str = ""  # the module the function lives in

    def describe(self) -> str:
        if self.how == "operator":
            return self.name
        if self.how == "property":
            return f".{self.name}"
        params = [p for p in (self.axis, self.keep) if p]
        inner = ", ".join(f"{p}=" for p in params)
        if self.star:
            inner = "*shape"
        if self.axes_args == 2:
            inner = "1, 0"
        elif self.axes_args == 1:
            inner = "axes"
        if self.how == "method":
            return f".{self.name}({inner})"
        where = f"{self.where}." if self.where else ""
        return f"{where}{self.name}(t{', ' + inner if inner else ''})"


@dataclass
class TensorApi:
    """The detected spelling of one tensor engine."""

    np: Any
    cls: type
    module: Any
    namespace: dict[str, tuple[Any, str]] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    factory: Any = None  # a module function that builds tensors (`pkg.array`)
    factory_name: str = ""
    from_list: bool = False
    data: str = "data"
    data_method: bool = False
    grad: str = "grad"
    grad_method: bool = False
    backward_name: str = "backward"
    loss: str = "sum"  # seed, seed-tensor, set-grad, product, sum, none
    losses: list[str] = field(default_factory=list)  # every way that calibrated
    dtype: str = "float64"
    lead_ones: bool = False  # (2, 3) stored as (1, 2, 3): read as (2, 3)
    ops: dict[str, OpForm] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # when no loss works: what the engine did on the checker's loss program
    loss_fault: dict[str, Any] | None = None

    def make(self, values: list[float], shape: list[int]) -> Any:
        array = self.np.array(values, dtype=self.np.float64).reshape(shape)
        arg = array.tolist() if self.from_list else array
        build = self.factory if self.factory is not None else self.cls
        return build(arg, **self.kwargs)

    def fit(self, array: Any, shape: list[int] | tuple[int, ...]) -> Any:
        """`array` in numpy's `shape` when the engine adds leading axes of length 1."""
        shape = tuple(shape)
        if (
            self.lead_ones
            and array.shape != shape
            and array.size == self.np.prod(shape, dtype=int)
            and bare(array.shape) == bare(shape)
        ):
            return array.reshape(shape)
        return array

    def array(self, t: Any) -> Any:
        raw = getattr(t, self.data)
        if self.data_method:
            raw = raw()
        return to_numpy(self.np, raw)

    def gradient(self, t: Any) -> Any:
        raw = getattr(t, self.grad, None)
        if self.grad_method and callable(raw):
            raw = raw()
        if raw is None:
            return None
        return to_numpy(self.np, raw)

    def describe(self) -> dict[str, str]:
        maker = f"{self.factory_name}(...), " if self.factory is not None else ""
        out = {
            "class": self.cls.__qualname__,
            "constructor": maker
            + ("nested list" if self.from_list else "ndarray")
            + "".join(f", {k}={v!r}" for k, v in self.kwargs.items()),
            "data": f".{self.data}" + ("()" if self.data_method else ""),
            "grad": f".{self.grad}" + ("()" if self.grad_method else ""),
            "backward": LOSS_TEXT[self.loss].format(b=self.backward_name),
            "dtype": self.dtype,
        }
        for op, form in sorted(self.ops.items()):
            out[f"op {op}"] = form.describe()
        return out


LOSS_TEXT = {
    "seed": "y.{b}(R): the output gradient seeded directly",
    "seed-tensor": "y.{b}(Tensor(R)): the output gradient seeded directly",
    "set-grad": "y.grad = R, then y.{b}()",
    "product": "(y * R).{b}(), the engine seeding ones",
    "sum": "(y * R).sum().{b}()",
    "none": "none: cannot build a loss",
}


def _parameters(fn: Any) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def constructor_choices(cls: type, declared: dict[str, str]) -> list[dict[str, Any]]:
    """Keyword sets to try, most likely first: requires_grad=True, enum keys."""
    params = _parameters(cls) or {}
    base: dict[str, Any] = {}
    if "requires_grad" in params:
        base["requires_grad"] = True
    choices = [dict(base)]
    if not base and any(p.kind is p.VAR_KEYWORD for p in params.values()):
        choices.append({"requires_grad": True})
    for pname, param in params.items():
        default = param.default
        if (
            default is False
            and pname not in base
            and any(w in pname for w in ("grad", "train", "param"))
        ):
            choices.append({**base, pname: True})
        if isinstance(default, enum.Enum):
            for member in type(default):
                if member is not default:
                    choices.append({**base, pname: member})
    if "dtype" in declared:
        choices = [{**c, "dtype": declared["dtype"]} for c in choices]
    return choices


def _factories(api: TensorApi) -> list[tuple[Any, str]]:
    """Package functions that build a tensor of the class (`pkg.tensor(x)`)."""
    out = [(None, "")]
    wanted = {api.cls.__name__.lower(), "tensor", "array"}
    for name in sorted(wanted):
        entry = api.namespace.get(name)
        if entry is not None:
            out.append((entry[0], f"{entry[1]}.{name}"))
    return out


def detect(np: Any, cls: type, module: Any, declared: dict[str, str]) -> TensorApi:
    """The constructor, data, gradient, backward and op spellings, on live tensors."""
    space, files = package_namespace(module)
    api = TensorApi(np=np, cls=cls, module=module, namespace=space, files=files)
    errors: list[str] = []
    probe = None
    for factory, fname in _factories(api):
        api.factory, api.factory_name = factory, fname
        for from_list in (False, True):
            api.from_list = from_list
            api.kwargs = constructor_choices(cls, declared)[0]
            try:
                probe = api.make([0.5, -1.0, 2.0, 1.5, -0.25, 3.0], [2, 3])
                if factory is not None and not isinstance(probe, cls):
                    probe = None
                    continue
                break
            except Exception as err:
                errors.append(one_line(err))
        if probe is not None:
            break
    if probe is None:
        raise TensorApiError(
            "Tensor(ndarray) and Tensor(list) raised: " + (errors[0] if errors else "?")
        )
    api.data, api.data_method = find_attribute(
        probe, declared.get("data"), DATA_NAMES, np
    )
    if not api.data:
        raise TensorApiError(
            "a tensor has no .data, .value or realize() (use --api data=NAME)"
        )
    data = api.array(probe)
    if data.shape != (2, 3) and bare(data.shape) == (2, 3):
        api.lead_ones = True
        api.notes.append(
            f"the engine stores a (2, 3) tensor with shape {data.shape}: leading "
            "axes of length 1 are read as numpy's shapes (they broadcast the same)"
        )
    elif data.shape != (2, 3):
        raise TensorApiError(f"Tensor of shape (2, 3) holds data of shape {data.shape}")
    api.dtype = str(data.dtype)
    api.grad, api.grad_method = _grad_attribute(probe, declared.get("grad"))
    api.backward_name = declared.get("backward") or next(
        (b for b in BACKWARD_NAMES if callable(getattr(probe, b, None))), "backward"
    )
    _detect_ops(api, probe, declared)
    return api


def find_attribute(
    obj: Any, declared: str | None, names: tuple[str, ...], np: Any
) -> tuple[str, bool]:
    for name in [declared] if declared else names:
        try:
            found = getattr(obj, name)
        except Exception:
            continue
        method = callable(found) and not hasattr(found, "shape")
        try:
            value = to_numpy(np, found() if method else found)
        except Exception:
            continue
        if getattr(value, "dtype", None) is not None and value.dtype != object:
            return name, method
    return "", False


def _grad_attribute(obj: Any, declared: str | None) -> tuple[str, bool]:
    for name in [declared] if declared else GRAD_NAMES:
        try:
            found = getattr(obj, name)
        except AttributeError:
            continue
        except Exception:
            return name, False
        return name, callable(found) and not hasattr(found, "shape")
    return declared or "grad", False


def lookup(api: TensorApi, op: str, declared: dict[str, str]) -> OpForm | None:
    """A method of the class, else a function of the engine's package."""
    names = [declared[op]] if op in declared else list(ALIASES.get(op, (op,)))
    for name in names:
        attr = inspect.getattr_static(api.cls, name, None)
        if attr is not None and (
            callable(getattr(api.cls, name, None)) or isinstance(attr, property)
        ):
            if isinstance(attr, property):
                continue
            return OpForm("method", name)
    for name in names:
        entry = api.namespace.get(name)
        if entry is not None:
            own = entry[1] == getattr(api.module, "__name__", None)
            return OpForm("function", name, fn=entry[0], where="" if own else entry[1])
    return None


def _detect_ops(api: TensorApi, probe: Any, declared: dict[str, str]) -> None:
    cls = api.cls
    for op, dunder in DUNDERS.items():
        if op in declared:
            form = lookup(api, op, declared)
            if form:
                api.ops[op] = form
                continue
        if callable(getattr(cls, dunder, None)):
            api.ops[op] = OpForm("operator", dunder)
        elif op in ("matmul", "add", "sub", "mul", "div"):  # a function of the package
            form = lookup(api, op, declared)
            if form:
                api.ops[op] = form
        elif op in METHODS:
            _detect_method(api, probe, op)
        if op not in api.ops:
            api.unsupported.setdefault(op, f"no {dunder}")
    for op in UNARY:
        form = lookup(api, op, declared)
        if form:
            api.ops[op] = form
        else:
            api.unsupported[op] = (
                f"no .{op}() method or {op}(t) function in the package"
            )
    for op in REDUCTIONS:
        form = lookup(api, op, declared)
        if form is None:
            api.unsupported[op] = (
                f"no .{op}() method or {op}(t) function in the package"
            )
            continue
        fn = getattr(cls, form.name) if form.how == "method" else form.fn
        params = _parameters(fn)
        if params is None:
            form.axis, form.keep = "axis", "keepdims"
        else:
            form.axis = next((n for n in AXIS_NAMES if n in params), None)
            form.keep = next((n for n in KEEP_NAMES if n in params), None)
            if form.axis is not None:
                form.axis_required = (
                    params[form.axis].default is inspect.Parameter.empty
                )
            if form.keep is not None:
                form.keep_default = params[form.keep].default is True
        api.ops[op] = form
    form = lookup(api, "reshape", declared)
    if form:
        try:
            reshape(api, form, probe, (3, 2))
        except Exception:
            form.star = True
        api.ops["reshape"] = form
    else:
        api.unsupported["reshape"] = "no .reshape()"
    _detect_transpose(api, probe)


def _detect_method(api: TensorApi, probe: Any, op: str) -> None:
    """`a.neg()`, `a.pow(k)`, `a.rsub(k)` when `-a`, `a ** k`, `k - a` are missing.

    Kept only when it runs on a live (2, 3) tensor and gives one of the
    same shape: a method of that name that does something else, or raises,
    leaves the op unsupported rather than turning it into a crash.
    """
    args = () if op == "neg" else (2.0,)
    for name in METHODS[op]:
        attr = inspect.getattr_static(api.cls, name, None)
        if attr is None or isinstance(attr, property):
            continue
        form = OpForm("method", name)
        try:
            out = call(api, form, probe, *args)
            works = (
                isinstance(out, api.cls)
                and api.array(out).shape == api.array(probe).shape
            )
        except Exception as err:
            api.unsupported[op] = f"no {DUNDERS[op]}; .{name}() raised {one_line(err)}"
            continue
        if works:
            api.ops[op] = form
            return
        api.unsupported[op] = (
            f"no {DUNDERS[op]}; .{name}() gives no tensor of its shape"
        )


def _detect_transpose(api: TensorApi, probe: Any) -> None:
    cls = api.cls
    attr = inspect.getattr_static(cls, "T", None)
    if isinstance(attr, property):
        api.ops["transpose"] = OpForm("property", "T")
        return
    if attr is not None and callable(getattr(cls, "T", None)):
        method_t = inspect.getattr_static(cls, "T")
        required = _required(method_t, method=True)
        if required == 0:
            api.ops["transpose"] = OpForm("method", "T")
            return
    form = lookup(api, "transpose", {})
    if form is None:
        api.unsupported["transpose"] = "no .T or .transpose()"
        return
    fn = getattr(cls, form.name) if form.how == "method" else form.fn
    required = _required(fn, method=form.how == "method")
    form.axes_args = min(required, 2)
    api.ops["transpose"] = form


def _required(fn: Any, method: bool) -> int:
    params = _parameters(fn)
    if params is None:
        return 0
    items = list(params.values())[1:]  # self, or the tensor itself
    if items and items[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return 2  # transpose(*axes): numpy's order, given one by one
    return sum(
        1
        for p in items
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def call(api: TensorApi, form: OpForm, t: Any, *args: Any, **kwargs: Any) -> Any:
    """`form` called on `t`: as a method of it, or as a function taking it."""
    if form.how == "method":
        return getattr(t, form.name)(*args, **kwargs)
    return form.fn(t, *args, **kwargs)


def reshape(api: TensorApi, form: OpForm, t: Any, shape: tuple[int, ...]) -> Any:
    return call(api, form, t, *shape) if form.star else call(api, form, t, shape)
