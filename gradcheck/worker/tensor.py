"""The worker's side of tensor engines: detect the Tensor API, run programs.

Imported lazily by `serve.handle` for requests whose op starts with
"tensor"; registers `tensor_load`, `tensor_run` and `tensor_recognise` in
`serve.HANDLERS`. numpy is imported only here, when a tensor engine is
loaded (tensor engines bring it). A program is the plain data of
`gradcheck.tensor.program`; an answer is per-node data and per-leaf
gradients as flat lists with shapes, or the engine's exception and the
phase it was raised in.

The engine's spelling is found on live tensors and by signature: methods
first, then functions anywhere in the engine's package (`pkg.math.sum`,
`pkg.nn.functional.relu`), axis keywords, keepdims defaults, lazy data
(`realize()`), `backprop()`, constructor keys. The loss L = sum(y * R) is
the checker's, not the engine's: the output gradient R is seeded directly
when the engine allows it, and whichever way is used is calibrated on
`y = a` first, so a failure of the checker's own glue is never reported as
the engine's.
"""

from __future__ import annotations

import enum
import inspect
import operator
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gradcheck.worker import serve
from gradcheck.worker.contract import _is_raise, describe_error, one_line
from gradcheck.worker.loading import LoadError, load
from gradcheck.worker.runner import BACKWARD, BUILD, PHASE_NAMES, READ

UNARY = ("tanh", "exp", "log", "relu", "sigmoid")
REDUCTIONS = ("sum", "mean", "max")
AXIS_NAMES = ("axis", "dim", "axes", "dims")
KEEP_NAMES = ("keepdims", "keepdim", "keep_dims", "keep_dim")
DATA_NAMES = ("data", "value", "realize", "numpy", "values")
GRAD_NAMES = ("grad", "gradient")
BACKWARD_NAMES = ("backward", "backprop")
# Other spellings of an op, tried after its own name.
ALIASES = {
    "matmul": ("matmul", "dot", "mm"),
    "max": ("max", "amax"),
    "reshape": ("reshape", "view"),
    "mul": ("mul", "multiply"),
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
# Building the checker's loss, between building the graph and backward().
LOSS = 9
PHASES = {**PHASE_NAMES, LOSS: "while building the checker's loss"}
# Exceptions an op raises on purpose to refuse an operand form.
REFUSALS = (ValueError, TypeError, NotImplementedError, RuntimeError, AssertionError)


class TensorApiError(Exception):
    """The engine's tensors cannot be built, read or backpropagated."""


class Unsupported(Exception):
    """A program needs an op, or an op form, that the engine does not have."""


class LossError(Exception):
    """The checker's own loss could not be built on this program."""


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
            inner = "0, 1"
        elif self.axes_args == 1:
            inner = "axes"
        if self.how == "method":
            return f".{self.name}({inner})"
        return f"{self.where + '.' if self.where else ''}{self.name}(t{', ' + inner if inner else ''})"


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
    loss: str = "sum"  # seed, set-grad, product, sum
    dtype: str = "float64"
    ops: dict[str, OpForm] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def make(self, values: list[float], shape: list[int]) -> Any:
        array = self.np.array(values, dtype=self.np.float64).reshape(shape)
        arg = array.tolist() if self.from_list else array
        build = self.factory if self.factory is not None else self.cls
        return build(arg, **self.kwargs)

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
    "set-grad": "y.grad = R, then y.{b}()",
    "product": "(y * R).{b}(), the engine seeding ones",
    "sum": "(y * R).sum().{b}()",
}


def to_numpy(np: Any, raw: Any, depth: int = 0) -> Any:
    """An engine's data (an ndarray, an array-like, lazy data) as float64 numpy."""
    if isinstance(raw, np.ndarray):
        return raw
    if depth < 4:
        for name in ("realize", "numpy", "tolist"):
            method = getattr(raw, name, None)
            if callable(method) and not isinstance(raw, list | tuple):
                try:
                    return to_numpy(np, method(), depth + 1)
                except Exception:
                    continue
        for name in ("data", "value", "_data"):
            inner = getattr(raw, name, None)
            if inner is not None and inner is not raw and not callable(inner):
                if not isinstance(inner, memoryview):
                    return to_numpy(np, inner, depth + 1)
    return np.asarray(raw)


def package_namespace(
    module: Any,
) -> tuple[dict[str, tuple[Any, str]], tuple[str, ...]]:
    """Public functions of the engine's package: name -> (function, module name).

    The engine's own module first, then its package's other loaded modules,
    shallowest first. Only functions defined in the package count (numpy's
    `sum` imported into it is not the engine's).
    """
    name = getattr(module, "__name__", "") or ""
    top = name.split(".")[0]
    modules = [module]
    if top and top != "__main__":
        for other in list(sys.modules):
            if (other == top or other.startswith(top + ".")) and other != name:
                found = sys.modules.get(other)
                if found is not None:
                    modules.append(found)
    modules[1:] = sorted(modules[1:], key=lambda m: (m.__name__.count("."), m.__name__))
    space: dict[str, tuple[Any, str]] = {}
    files: list[str] = []
    for mod in modules:
        file = getattr(mod, "__file__", None)
        if file:
            files.append(os.path.dirname(os.path.abspath(file)))
        for key, value in list(vars(mod).items()):
            if key.startswith("_") or key in space or isinstance(value, type):
                continue
            if not callable(value):
                continue
            owner = getattr(value, "__module__", None) or ""
            if owner.split(".")[0] != top and mod is not module:
                continue
            if owner.split(".")[0] in ("numpy", "builtins", "math"):
                continue
            space[key] = (value, mod.__name__)
    return space, tuple(sorted(set(files)))


def find_tensor_class(module: types.ModuleType, name: str | None) -> type:
    if name:
        found = getattr(module, name, None)
        if not isinstance(found, type):
            raise TensorApiError(f"the engine has no class {name!r}")
        return found
    found = getattr(module, "Tensor", None)
    if isinstance(found, type):
        return found
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and hasattr(obj, "__add__")
        and any(callable(getattr(obj, b, None)) for b in BACKWARD_NAMES)
    ]
    if len(candidates) == 1:
        return candidates[0]
    raise TensorApiError("the engine has no class Tensor (name one with :Class)")


def _parameters(fn: Any) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _constructor_choices(cls: type, declared: dict[str, str]) -> list[dict[str, Any]]:
    """Keyword sets to try, most likely first: requires_grad=True, enum keys."""
    params = _parameters(cls) or {}
    base: dict[str, Any] = {}
    if "requires_grad" in params:
        base["requires_grad"] = True
    choices = [dict(base)]
    for pname, param in params.items():
        default = param.default
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
    """Find the constructor, data, gradient, backward and op spellings on live tensors."""
    space, files = package_namespace(module)
    api = TensorApi(np=np, cls=cls, module=module, namespace=space, files=files)
    errors: list[str] = []
    probe = None
    for factory, fname in _factories(api):
        api.factory, api.factory_name = factory, fname
        for from_list in (False, True):
            api.from_list = from_list
            api.kwargs = _constructor_choices(cls, declared)[0]
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
            f"Tensor(ndarray) and Tensor(list) raised: {errors[0] if errors else '?'}"
        )
    api.data, api.data_method = _attribute(probe, declared.get("data"), DATA_NAMES, np)
    if not api.data:
        raise TensorApiError(
            "a tensor has no .data, .value or realize() (use --api data=NAME)"
        )
    data = api.array(probe)
    if data.shape != (2, 3):
        raise TensorApiError(f"Tensor of shape (2, 3) holds data of shape {data.shape}")
    api.dtype = str(data.dtype)
    api.grad, api.grad_method = _grad_attribute(probe, declared.get("grad"))
    api.backward_name = declared.get("backward") or next(
        (b for b in BACKWARD_NAMES if callable(getattr(probe, b, None))), "backward"
    )
    _detect_ops(api, probe, declared)
    _choose_loss(api, _constructor_choices(cls, declared))
    return api


def _attribute(
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


def _lookup(api: TensorApi, op: str, declared: dict[str, str]) -> OpForm | None:
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
            form = _lookup(api, op, declared)
            if form:
                api.ops[op] = form
                continue
        if callable(getattr(cls, dunder, None)):
            api.ops[op] = OpForm("operator", dunder)
        elif op == "matmul":
            form = _lookup(api, op, declared)
            if form:
                api.ops[op] = form
        if op not in api.ops:
            api.unsupported[op] = f"no {dunder}"
    for op in UNARY:
        form = _lookup(api, op, declared)
        if form:
            api.ops[op] = form
        else:
            api.unsupported[op] = (
                f"no .{op}() method or {op}(t) function in the package"
            )
    for op in REDUCTIONS:
        form = _lookup(api, op, declared)
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
    form = _lookup(api, "reshape", declared)
    if form:
        try:
            _reshape(api, form, probe, (3, 2))
        except Exception:
            form.star = True
        api.ops["reshape"] = form
    else:
        api.unsupported["reshape"] = "no .reshape()"
    _detect_transpose(api, probe)


def _detect_transpose(api: TensorApi, probe: Any) -> None:
    cls = api.cls
    attr = inspect.getattr_static(cls, "T", None)
    if isinstance(attr, property):
        api.ops["transpose"] = OpForm("property", "T")
        return
    if attr is not None and callable(getattr(cls, "T", None)):
        required = _required(getattr(cls, "T"), method=True)
        if required == 0:
            api.ops["transpose"] = OpForm("method", "T")
            return
    form = _lookup(api, "transpose", {})
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
    items = list(params.values())
    if method and items:
        items = items[1:]
    elif not method and items:
        items = items[1:]  # the tensor itself
    return sum(
        1
        for p in items
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def _call(api: TensorApi, form: OpForm, t: Any, *args: Any, **kwargs: Any) -> Any:
    if form.how == "method":
        return getattr(t, form.name)(*args, **kwargs)
    return form.fn(t, *args, **kwargs)


def _reshape(api: TensorApi, form: OpForm, t: Any, shape: tuple[int, ...]) -> Any:
    return _call(api, form, t, *shape) if form.star else _call(api, form, t, shape)


def _form(api: TensorApi, op: str) -> OpForm:
    form = api.ops.get(op)
    if form is None:
        raise Unsupported(f"{op}: {api.unsupported.get(op, 'not found')}")
    return form


def _binary(api: TensorApi, op: str, a: Any, b: Any) -> Any:
    form = _form(api, op)
    if form.how == "operator":
        return BINARY[op](a, b)
    return _call(api, form, a, b)


def apply(api: TensorApi, node: list[Any], ins: list[Any]) -> Any:
    """One program node on the engine's tensors."""
    op, _, _, _, constant, axis, keepdims, new_shape = node
    if op in BINARY:
        return _binary(api, op, ins[0], ins[1])
    if op.endswith("_k"):
        base = op[:-2]
        if base.startswith("r"):
            _form(api, op)
            return BINARY[base[1:]](constant, ins[0])
        if base == "pow":
            _form(api, "pow_k")
            return ins[0] ** constant
        _form(api, base)
        return BINARY[base](ins[0], constant)
    if op == "neg":
        _form(api, op)
        return -ins[0]
    if op in UNARY:
        return _call(api, _form(api, op), ins[0])
    if op in REDUCTIONS:
        return _reduce(api, op, ins[0], axis, keepdims, len(node[3]))
    if op == "matmul":
        return _binary(api, op, ins[0], ins[1])
    if op == "reshape":
        return _reshape(api, _form(api, op), ins[0], tuple(new_shape))
    if op == "transpose":
        form = _form(api, op)
        if form.how == "property":
            return ins[0].T
        if form.axes_args == 2:
            return _call(api, form, ins[0], 1, 0)
        if form.axes_args == 1:
            return _call(api, form, ins[0], (1, 0))
        return _call(api, form, ins[0])
    raise Unsupported(f"unknown tensor op {op!r}")


def _reduce(
    api: TensorApi, op: str, t: Any, axis: int | None, keepdims: bool, out_ndim: int
) -> Any:
    form = _form(api, op)
    kwargs: dict[str, Any] = {}
    if form.keep is not None:
        kwargs[form.keep] = bool(keepdims)
    elif keepdims:
        raise Unsupported(f"{op}: no keepdims keyword")
    if axis is None and form.axis_required:
        if keepdims or op != "sum":
            raise Unsupported(f"{op}: needs an axis ({form.axis}=)")
        out = t
        for _ in range(len(api.array(t).shape)):
            out = _call(api, form, out, **{form.axis: 0}, **kwargs)  # type: ignore[arg-type]
        return out
    if axis is not None:
        if form.axis is None:
            raise Unsupported(f"{op}: no axis keyword")
        kwargs[form.axis] = axis
    return _call(api, form, t, **kwargs)


# -- the checker's loss -------------------------------------------------------


def _backward_call(api: TensorApi, t: Any, *args: Any) -> None:
    getattr(t, api.backward_name)(*args)


def seed(api: TensorApi, y: Any, r_values: list[float], shape: list[int]) -> None:
    """Backpropagate L = sum(y * R) from `y`, the way calibration chose.

    Raises LossError when the checker's part (R, y * R, the sum) fails; the
    engine's backward() raising is the engine's.
    """
    np = api.np
    r = np.array(r_values, dtype=np.float64).reshape(shape)
    if api.loss == "seed":
        _backward_call(api, y, r.astype(api.dtype, copy=False))
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
        return _binary(api, "mul", y, r)
    form = _lookup(api, "mul", {})
    if form is None or form.how == "operator":
        raise Unsupported("no * between tensors for the loss")
    return _call(api, form, y, r)


def _total(api: TensorApi, t: Any) -> Any:
    form = api.ops.get("sum")
    if form is None:
        raise Unsupported("no sum for the loss")
    kwargs: dict[str, Any] = {}
    if form.keep is not None:
        kwargs[form.keep] = False
    if not form.axis_required:
        return _call(api, form, t, **kwargs)
    out = t
    for _ in range(len(api.array(t).shape)):
        out = _call(api, form, out, **{form.axis or "axis": 0}, **kwargs)
    return out


def _choose_loss(api: TensorApi, constructors: list[dict[str, Any]]) -> None:
    """The first way of seeding R that gives a.grad == R on y = a (and a * 1)."""
    np = api.np
    r_values = [0.75, -1.25, 0.5, 1.5, -0.625, 1.125]
    want = np.array(r_values).reshape(2, 3)
    tried: list[str] = []
    for kwargs in constructors:
        api.kwargs = kwargs
        for loss in ("seed", "set-grad", "product", "sum"):
            api.loss = loss
            try:
                a = api.make([0.5, -1.0, 2.0, 1.5, -0.25, 3.0], [2, 3])
                seed(api, a, r_values, [2, 3])
                got = api.gradient(a)
            except Exception as err:
                tried.append(
                    f"{LOSS_TEXT[loss].format(b=api.backward_name)}: {one_line(err)}"
                )
                continue
            if (
                got is not None
                and got.shape == want.shape
                and np.allclose(
                    np.asarray(got, dtype=np.float64), want, rtol=1e-3, atol=1e-6
                )
            ):
                return
            tried.append(
                f"{LOSS_TEXT[loss].format(b=api.backward_name)}: "
                + ("no gradient" if got is None else "gradient is not R")
            )
    api.kwargs = constructors[0]
    api.loss = "none"
    api.notes.append(
        "cannot build a loss: no way of seeding the output gradient R gave "
        "a.grad == R on y = a (" + "; ".join(dict.fromkeys(tried)) + ")"
    )


# -- running programs ---------------------------------------------------------


def _refused(api: TensorApi, err: BaseException) -> str | None:
    """The engine's message when an op refused on purpose (a raise in its own code)."""
    if not isinstance(err, REFUSALS) or not api.files:
        return None
    text = one_line(err)
    if ":" not in text or not text.split(":", 1)[1].strip():
        return None
    tb = err.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    path = os.path.abspath(code.co_filename)
    if not any(path.startswith(folder + os.sep) for folder in api.files):
        return None
    if not _is_raise(code, tb.tb_lasti, tb.tb_lineno):
        return None
    return f"refused on purpose by {code.co_name}: {text}"


def _unit(np: Any, arrays: list[Any]) -> float:
    unit = 2.0**-53
    for a in arrays:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and np.issubdtype(dtype, np.floating):
            unit = max(unit, float(np.finfo(dtype).eps) / 2)
    return unit


def run_tensor_program(
    api: TensorApi, item: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
    """One program: per-node data, per-leaf gradients, or the exception."""
    np = api.np
    if api.loss == "none":
        return {"checker": api.notes[-1]}
    phase = BUILD
    mark(BUILD)
    handles: list[Any] = []
    leaves: dict[str, Any] = {}
    op = ""
    try:
        for node in item["nodes"]:
            op = node[0]
            if op == "leaf":
                t = api.make(item["values"][node[2]], node[3])
                leaves[node[2]] = t
                handles.append(t)
            else:
                handles.append(apply(api, node, [handles[a] for a in node[1]]))
        data = [api.array(h) for h in handles]
        out_shape = item["nodes"][-1][3]
        phase = BACKWARD
        mark(BACKWARD)
        seed(api, handles[-1], item["R"], out_shape)
        phase = READ
        mark(READ)
        grads: dict[str, Any] = {}
        raw: list[Any] = []
        for name, t in leaves.items():
            g = api.gradient(t)
            if g is not None:
                raw.append(g)
                g = np.asarray(g, dtype=np.float64)
            grads[name] = (
                None
                if g is None
                else {"shape": list(g.shape), "values": g.reshape(-1).tolist()}
            )
    except Unsupported as err:
        return {"unsupported": str(err)}
    except LossError as err:
        return {"checker": f"cannot build the loss on this program: {err}"}
    except BaseException as err:
        if phase == BUILD and op == "pow" and isinstance(err, Exception):
            return {
                "unsupported": "pow: __pow__ takes only number exponents "
                f"(a ** b with a tensor b raised {one_line(err)})"
            }
        if phase == BUILD:
            refused = _refused(api, err)
            if refused:
                return {"unsupported": f"{op}: {refused}"}
        error = describe_error(err)
        error["phase"] = PHASES[phase]
        return {"error": error}
    low = [
        {"node": i, "dtype": str(d.dtype)}
        for i, d in enumerate(data)
        if getattr(d, "dtype", None) is not None
        and np.issubdtype(d.dtype, np.floating)
        and _unit(np, [d]) > _unit(np, [np.zeros(1, dtype=api.dtype)])
    ]
    return {
        "data": [
            {
                "shape": list(d.shape),
                "values": np.asarray(d, dtype=np.float64).reshape(-1).tolist(),
            }
            for d in data
        ],
        "grads": grads,
        "unit_roundoff": _unit(np, [*data, *raw]),
        "low_precision": low,
    }


# -- handlers -----------------------------------------------------------------


def _load_class(
    session: serve.Session, request: dict[str, Any]
) -> tuple[Any, Any, str | None, list[str]]:
    target = request["target"]
    if target["kind"] == "object":
        cls = session.extra["object"]
        module = inspect.getmodule(cls)
        return cls, module, getattr(module, "__file__", None), []
    loaded = load(target)
    cls = find_tensor_class(loaded.module, request.get("class_name"))
    return cls, loaded.module, loaded.file, loaded.notes


def _declared(request: dict[str, Any]) -> dict[str, str]:
    declared = {str(k): str(v) for k, v in (request.get("api") or {}).items()}
    declared.update(
        {str(k): str(v) for k, v in (request.get("op_names") or {}).items()}
    )
    return declared


def handle_tensor_load(
    session: serve.Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    session.mark_page(0, serve.LOADING)
    try:
        import numpy as np
    except ImportError:
        yield {
            "done": True,
            "refused": "tensor engines need numpy, which is not installed",
        }
        return
    try:
        cls, module, file, notes = _load_class(session, request)
        api = detect(np, cls, module, _declared(request))
    except (LoadError, TensorApiError) as err:
        yield {"done": True, "refused": str(err), "kind": type(err).__name__}
        return
    except Exception as err:
        yield {
            "done": True,
            "refused": f"detecting the tensor API raised {one_line(err)}",
        }
        return
    session.extra["tensor"] = api
    info = np.finfo(np.dtype(api.dtype)) if api.dtype.startswith("float") else None
    yield {
        "done": True,
        "class": cls.__qualname__,
        "file": file,
        "notes": [*notes, *api.notes],
        "api": api.describe(),
        "supported": sorted(api.ops),
        "unsupported": api.unsupported,
        "dtype": api.dtype,
        "unit_roundoff": float(info.eps) / 2 if info is not None else 2.0**-53,
    }


def recognise(np: Any, cls: type) -> str | None:
    """Why `cls` is a tensor class (its data is an array of the input's shape), or None."""
    array = np.arange(6, dtype=np.float64).reshape(2, 3) / 4 + 0.5
    try:
        t = cls(array)
    except Exception:
        return None
    name, method = _attribute(t, None, DATA_NAMES, np)
    if not name:
        return None
    try:
        raw = getattr(t, name)
        data = to_numpy(np, raw() if method else raw)
    except Exception:
        return None
    if getattr(data, "shape", None) != (2, 3):
        return None
    grad = getattr(t, "grad", None)
    grad_shape = getattr(grad, "shape", None)
    members = [
        m for m in ("shape", "T", "reshape", "transpose", "__matmul__", "matmul", "sum")
        if hasattr(cls, m)
    ]  # fmt: skip
    if grad_shape is None and not members:
        return None
    kind = "an ndarray" if isinstance(raw, np.ndarray) else f"a {type(raw).__name__}"
    why = (
        f"{cls.__name__}(ndarray of shape (2, 3)) holds {kind} of that shape in .{name}"
    )
    if grad_shape is not None:
        why += f", with a gradient of shape {tuple(grad_shape)}"
    else:
        why += f", and the class has {', '.join(members[:3])}"
    return why


def handle_tensor_recognise(
    session: serve.Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Whether the engine's class holds arrays: {"tensor": reason or None}."""
    session.mark_page(0, serve.LOADING)
    try:
        import numpy as np
    except ImportError:
        yield {"done": True, "tensor": None}
        return
    try:
        target = request["target"]
        if target["kind"] == "object":
            cls = session.extra["object"]
        else:
            module = load(target).module
            name = request.get("class_name")
            cls = getattr(module, name, None) if name else None
            if not isinstance(cls, type):
                found = [
                    obj
                    for obj in vars(module).values()
                    if isinstance(obj, type)
                    and obj.__module__ == module.__name__
                    and any(callable(getattr(obj, b, None)) for b in BACKWARD_NAMES)
                ]
                cls = found[0] if len(found) == 1 else None
        why = recognise(np, cls) if isinstance(cls, type) else None
    except BaseException:
        why = None
    yield {"done": True, "tensor": why}


def handle_tensor_run(
    session: serve.Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    api: TensorApi = session.extra["tensor"]
    for index, item in enumerate(request["items"]):
        session.item = index
        yield {"i": index, **run_tensor_program(api, item, session.mark)}
    yield {"done": True}


serve.HANDLERS["tensor_load"] = handle_tensor_load
serve.HANDLERS["tensor_run"] = handle_tensor_run
serve.HANDLERS["tensor_recognise"] = handle_tensor_recognise
