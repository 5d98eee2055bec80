"""The worker's side of tensor engines: detect the Tensor API, run programs.

Imported lazily by `serve.handle` for requests whose op starts with
"tensor"; registers `tensor_load` and `tensor_run` in `serve.HANDLERS`.
numpy is imported only here, when a tensor engine is loaded (tensor engines
bring it). A program is the plain data of `gradcheck.tensor.program`; an
answer is per-node data and per-leaf gradients as flat lists with shapes,
or the engine's exception and the phase it was raised in.
"""

from __future__ import annotations

import inspect
import operator
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gradcheck.worker import serve
from gradcheck.worker.faults import describe_error, one_line
from gradcheck.worker.loading import LoadError, load
from gradcheck.worker.runner import BACKWARD, BUILD, PHASE_NAMES, READ

UNARY = ("tanh", "exp", "log", "relu", "sigmoid")
REDUCTIONS = ("sum", "mean", "max")
AXIS_NAMES = ("axis", "dim", "axes")
KEEP_NAMES = ("keepdims", "keepdim", "keep_dims")
DATA_NAMES = ("data", "value")
GRAD_NAMES = ("grad", "gradient")
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
}
DUNDERS = {
    "add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__",
    "neg": "__neg__", "pow_k": "__pow__", "radd_k": "__radd__", "rsub_k": "__rsub__",
    "rmul_k": "__rmul__", "rdiv_k": "__rtruediv__", "matmul": "__matmul__",
}  # fmt: skip


class TensorApiError(Exception):
    """The engine's tensors cannot be built, read or backpropagated."""


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

    def describe(self) -> str:
        if self.how == "operator":
            return self.name
        if self.how == "property":
            return f".{self.name}"
        params = [p for p in (self.axis, self.keep) if p]
        inner = ", ".join(f"{p}=" for p in params)
        if self.star:
            inner = "*shape"
        return (
            f".{self.name}({inner})"
            if self.how == "method"
            else f"{self.name}(t{', ' + inner if inner else ''})"
        )


@dataclass
class TensorApi:
    """The detected spelling of one tensor engine."""

    np: Any
    cls: type
    module: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    from_list: bool = False
    data: str = "data"
    data_method: bool = False
    grad: str = "grad"
    grad_method: bool = False
    seed_ones: bool = False
    dtype: str = "float64"
    ops: dict[str, OpForm] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)

    def make(self, values: list[float], shape: list[int], grad: bool = True) -> Any:
        array = self.np.array(values, dtype=self.np.float64).reshape(shape)
        arg = array.tolist() if self.from_list else array
        kwargs = (
            self.kwargs
            if grad
            else {k: False for k in self.kwargs if k == "requires_grad"}
        )
        return self.cls(arg, **kwargs)

    def array(self, t: Any) -> Any:
        raw = getattr(t, self.data)
        if self.data_method:
            raw = raw()
        return self.np.asarray(raw)

    def gradient(self, t: Any) -> Any:
        raw = getattr(t, self.grad, None)
        if self.grad_method and callable(raw):
            raw = raw()
        if raw is None:
            return None
        if isinstance(raw, self.cls):
            raw = self.array(raw)
        return self.np.asarray(raw, dtype=self.np.float64)

    def backward(self, loss: Any) -> None:
        """backward() on the scalar loss; seeded with ones if it wants a gradient."""
        if not self.seed_ones:
            try:
                loss.backward()
                return
            except TypeError as err:
                if "argument" not in str(err):
                    raise
                self.seed_ones = True
        loss.backward(self.np.ones_like(self.array(loss)))

    def describe(self) -> dict[str, str]:
        out = {
            "class": self.cls.__qualname__,
            "constructor": ("nested list" if self.from_list else "ndarray")
            + "".join(f", {k}={v!r}" for k, v in self.kwargs.items()),
            "data": f".{self.data}" + ("()" if self.data_method else ""),
            "grad": f".{self.grad}" + ("()" if self.grad_method else ""),
            "backward": "backward(ones)"
            if self.seed_ones
            else "backward() on the scalar loss",
            "dtype": self.dtype,
        }
        for op, form in sorted(self.ops.items()):
            out[f"op {op}"] = form.describe()
        return out


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
        and callable(getattr(obj, "backward", None))
    ]
    if len(candidates) == 1:
        return candidates[0]
    raise TensorApiError("the engine has no class Tensor (name one with :Class)")


def _parameters(fn: Any) -> list[str] | None:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def detect(np: Any, cls: type, module: Any, declared: dict[str, str]) -> TensorApi:
    """Find the constructor, data, gradient and op spellings on live tensors."""
    api = TensorApi(np=np, cls=cls, module=module)
    params = _parameters(cls) or []
    if "requires_grad" in params:
        api.kwargs["requires_grad"] = True
    probe = None
    errors = []
    for from_list in (False, True):
        api.from_list = from_list
        try:
            probe = api.make([0.5, -1.0, 2.0, 1.5, -0.25, 3.0], [2, 3])
            break
        except Exception as err:
            errors.append(one_line(err))
    if probe is None:
        raise TensorApiError(f"Tensor(ndarray) and Tensor(list) raised: {errors[0]}")
    api.data, api.data_method = _attribute(probe, declared.get("data"), DATA_NAMES)
    if not api.data:
        raise TensorApiError("a tensor has no .data or .value (use --api data=NAME)")
    data = api.array(probe)
    if data.shape != (2, 3):
        raise TensorApiError(f"Tensor of shape (2, 3) holds data of shape {data.shape}")
    api.dtype = str(data.dtype)
    api.grad, api.grad_method = _attribute(probe, declared.get("grad"), GRAD_NAMES)
    if not api.grad:
        api.grad = "grad"
    _detect_ops(api, probe)
    return api


def _attribute(
    obj: Any, declared: str | None, names: tuple[str, ...]
) -> tuple[str, bool]:
    for name in [declared] if declared else names:
        try:
            found = getattr(obj, name)
        except Exception:
            continue
        return name, callable(found) and not hasattr(found, "shape")
    return "", False


def _detect_ops(api: TensorApi, probe: Any) -> None:
    cls, module = api.cls, api.module
    for op, dunder in DUNDERS.items():
        if callable(getattr(cls, dunder, None)):
            api.ops[op] = OpForm("operator", dunder)
        elif op == "matmul":
            for name in ("matmul", "dot", "mm"):
                form = _callable_form(cls, module, name)
                if form:
                    api.ops[op] = form
                    break
        if op not in api.ops:
            api.unsupported[op] = f"no {dunder}"
    for op in UNARY:
        form = _callable_form(cls, module, op)
        if form:
            api.ops[op] = form
        else:
            api.unsupported[op] = f"no .{op}() method or {op}(t) function"
    for op in REDUCTIONS:
        form = _callable_form(cls, module, op)
        if form is None:
            api.unsupported[op] = f"no .{op}() method or {op}(t) function"
            continue
        fn = getattr(cls, op, None) if form.how == "method" else getattr(module, op)
        names = _parameters(fn)
        if names is None:
            form.axis, form.keep = "axis", "keepdims"
        else:
            form.axis = next((n for n in AXIS_NAMES if n in names), None)
            form.keep = next((n for n in KEEP_NAMES if n in names), None)
        api.ops[op] = form
    form = _callable_form(cls, module, "reshape")
    if form:
        try:
            _reshape(api, form, probe, (3, 2))
        except Exception:
            form.star = True
        api.ops["reshape"] = form
    else:
        api.unsupported["reshape"] = "no .reshape()"
    if isinstance(getattr(cls, "T", None), property):
        api.ops["transpose"] = OpForm("property", "T")
    elif callable(getattr(cls, "transpose", None)):
        api.ops["transpose"] = OpForm("method", "transpose")
    else:
        api.unsupported["transpose"] = "no .T or .transpose()"


def _callable_form(cls: type, module: Any, name: str) -> OpForm | None:
    if callable(getattr(cls, name, None)):
        return OpForm("method", name)
    if callable(getattr(module, name, None)) and not isinstance(
        getattr(module, name), type
    ):
        return OpForm("function", name)
    return None


def _call(api: TensorApi, form: OpForm, t: Any, *args: Any, **kwargs: Any) -> Any:
    if form.how == "method":
        return getattr(t, form.name)(*args, **kwargs)
    return getattr(api.module, form.name)(t, *args, **kwargs)


def _reshape(api: TensorApi, form: OpForm, t: Any, shape: tuple[int, ...]) -> Any:
    return _call(api, form, t, *shape) if form.star else _call(api, form, t, shape)


def _form(api: TensorApi, op: str) -> OpForm:
    form = api.ops.get(op)
    if form is None:
        raise Unsupported(f"{op}: {api.unsupported.get(op, 'not found')}")
    return form


def apply(api: TensorApi, node: list[Any], ins: list[Any]) -> Any:
    """One program node on the engine's tensors."""
    op, _, _, _, constant, axis, keepdims, new_shape = node
    if op in BINARY:
        _form(api, op)
        return BINARY[op](ins[0], ins[1])
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
        form = _form(api, op)
        kwargs: dict[str, Any] = {}
        if axis is not None:
            if form.axis is None:
                raise Unsupported(f"{op}: no axis keyword")
            kwargs[form.axis] = axis
        if keepdims:
            if form.keep is None:
                raise Unsupported(f"{op}: no keepdims keyword")
            kwargs[form.keep] = True
        return _call(api, form, ins[0], **kwargs)
    if op == "matmul":
        form = _form(api, op)
        if form.how == "operator":
            return ins[0] @ ins[1]
        return _call(api, form, ins[0], ins[1])
    if op == "reshape":
        return _reshape(api, _form(api, op), ins[0], tuple(new_shape))
    if op == "transpose":
        form = _form(api, op)
        return ins[0].T if form.how == "property" else ins[0].transpose()
    raise Unsupported(f"unknown tensor op {op!r}")


def run_tensor_program(
    api: TensorApi, item: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
    """One program: per-node data, per-leaf gradients, or the exception."""
    np = api.np
    phase = BUILD
    mark(BUILD)
    handles: list[Any] = []
    leaves: dict[str, Any] = {}
    try:
        for node in item["nodes"]:
            if node[0] == "leaf":
                t = api.make(item["values"][node[2]], node[3])
                leaves[node[2]] = t
                handles.append(t)
            else:
                handles.append(apply(api, node, [handles[a] for a in node[1]]))
        data = [api.array(h) for h in handles]
        out_shape = item["nodes"][-1][3]
        projection = api.make(item["R"], out_shape, grad=False)
        loss = (handles[-1] * projection).sum()
        phase = BACKWARD
        mark(BACKWARD)
        api.backward(loss)
        phase = READ
        mark(READ)
        grads: dict[str, Any] = {}
        for name, t in leaves.items():
            g = api.gradient(t)
            grads[name] = (
                None
                if g is None
                else {"shape": list(g.shape), "values": g.reshape(-1).tolist()}
            )
    except Unsupported as err:
        return {"unsupported": str(err)}
    except BaseException as err:
        error = describe_error(err)
        error["phase"] = PHASE_NAMES[phase]
        return {"error": error}
    return {
        "data": [
            {
                "shape": list(d.shape),
                "values": np.asarray(d, dtype=np.float64).reshape(-1).tolist(),
            }
            for d in data
        ],
        "grads": grads,
    }


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
    target = request["target"]
    try:
        if target["kind"] == "object":
            cls = session.extra["object"]
            module = inspect.getmodule(cls)
            file, notes = getattr(module, "__file__", None), []
        else:
            loaded = load(target)
            module, file, notes = loaded.module, loaded.file, loaded.notes
            cls = find_tensor_class(module, request.get("class_name"))
        api = detect(np, cls, module, dict(request.get("api") or {}))
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
        "notes": notes,
        "api": api.describe(),
        "supported": sorted(api.ops),
        "unsupported": api.unsupported,
        "dtype": api.dtype,
        "unit_roundoff": float(info.eps) / 2 if info is not None else 2.0**-53,
    }


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
