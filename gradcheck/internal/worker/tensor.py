"""The worker's side of tensor engines: running programs, and the requests.

Imported lazily by `serve.handle` for requests whose op starts with
"tensor"; registers `tensor_load`, `tensor_run` and `tensor_recognise` in
`HANDLERS`. numpy is imported only here, when a tensor engine is
loaded (tensor engines bring it). A program is the plain data of
`gradcheck.internal.tensor.program`; an answer is per-node data and per-leaf
gradients as flat lists with shapes, or the engine's exception and the
phase it was raised in. The engine's spelling is `tensor_api`'s.

The loss L = sum(y * R) is the checker's (`tensor_loss`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from gradcheck.internal.worker.faults import describe_error, one_line
from gradcheck.internal.worker.loading import LoadError, load
from gradcheck.internal.worker.runner import BACKWARD, BUILD, PHASE_NAMES, READ
from gradcheck.internal.worker.session import HANDLERS, LOADING, Session
from gradcheck.internal.worker.tensor_api import (
    DATA_NAMES,
    TensorApi,
    Unsupported,
    constructor_choices,
    detect,
    find_attribute,
    tensor_op_names,
)
from gradcheck.internal.worker.tensor_find import (
    TensorApiError,
    find_tensor_class,
    to_numpy,
)
from gradcheck.internal.worker.tensor_loss import (
    LossError,
    choose_loss,
    refused,
    seed,
)
from gradcheck.internal.worker.tensor_ops import apply

# -- running programs ---------------------------------------------------------


def _kept_reductions(
    api: TensorApi, nodes: list[list[Any]], data: list[Any]
) -> list[Any]:
    """A reduction that keeps its axes by default, with no keyword to say not to.

    Its result reads in numpy's reduced shape when it is the program's output
    (a keepdims default is a convention, not a bug); feeding another op, the
    shapes would broadcast differently, so that program is unsupported.
    """
    out = list(data)
    for i, (node, array) in enumerate(zip(nodes, data, strict=True)):
        want = tuple(node[3])
        form = api.ops.get(node[0])
        if node[0] not in ("sum", "mean", "max") or array.shape == want:
            continue
        if form is None or form.keep is not None or node[6]:
            continue
        kept = tuple(d for d in array.shape if d != 1) == tuple(
            d for d in want if d != 1
        )
        if not kept or array.size != int(api.np.prod(want, dtype=int)):
            continue
        if i != len(nodes) - 1:
            raise Unsupported(
                f"{node[0]}: keeps its axes by default and has no keepdims keyword"
            )
        out[i] = array.reshape(want)
    return out


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
    """One program: per-node data, per-leaf gradients, or the exception.

    When backward() raises under R seeded directly and another calibrated
    way of seeding it runs the same graph without raising, the raise came
    from the checker's seed (an ndarray where the engine wants its own
    type), not the engine: that way is used from then on.
    """
    answer = _run_once(api, item, mark)
    error = answer.get("error")
    if not error or error.get("phase") != PHASE_NAMES[BACKWARD]:
        return answer
    first = api.loss
    for other in [loss for loss in api.losses if loss != first]:
        api.loss = other
        retry = _run_once(api, item, mark)
        if "error" not in retry and "checker" not in retry:
            api.losses.remove(other)
            api.losses.insert(0, other)
            return retry
    api.loss = first
    return answer


def _run_once(
    api: TensorApi, item: dict[str, Any], mark: Callable[[int], None]
) -> dict[str, Any]:
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
        data = [
            api.fit(api.array(h), node[3])
            for h, node in zip(handles, item["nodes"], strict=True)
        ]
        data = _kept_reductions(api, item["nodes"], data)
        out_shape = item["nodes"][-1][3]
        phase = BACKWARD
        mark(BACKWARD)
        seed(api, handles[-1], item["R"], out_shape)
        phase = READ
        mark(READ)
        grads: dict[str, Any] = {}
        raw: list[Any] = []
        shapes = {node[2]: node[3] for node in item["nodes"] if node[0] == "leaf"}
        for name, t in leaves.items():
            g = api.gradient(t)
            if g is not None:
                g = api.fit(g, shapes[name])
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
            refusal = refused(api, err)
            if refusal:
                return {"unsupported": f"{op}: {refusal}"}
        error = describe_error(err)
        error["phase"] = PHASE_NAMES[phase]
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
    session: Session, request: dict[str, Any]
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
    names = {str(k): str(v) for k, v in (request.get("op_names") or {}).items()}
    declared.update(tensor_op_names(names))
    return declared


def handle_tensor_load(
    session: Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    session.mark_page(0, LOADING)
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
        declared = _declared(request)
        api = detect(np, cls, module, declared)
        choose_loss(api, constructor_choices(cls, declared))
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
        "loss_fault": api.loss_fault,
        "unit_roundoff": float(info.eps) / 2 if info is not None else 2.0**-53,
    }


def recognise(np: Any, cls: type) -> str | None:
    """Why `cls` is a tensor class (it holds an array of the input's shape), or None."""
    array = np.arange(6, dtype=np.float64).reshape(2, 3) / 4 + 0.5
    t = None
    for arg in (array, array.tolist()):
        try:
            t = cls(arg)
            break
        except Exception:
            continue
    if t is None:
        return None
    name, method = find_attribute(t, None, DATA_NAMES, np)
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
    if grad_shape is not None and tuple(grad_shape) != (2, 3):
        grad_shape = None  # a 0-d gradient is a scalar engine's, over numpy numbers
    members = [
        m for m in ("shape", "T", "reshape", "transpose", "__matmul__", "matmul", "sum")
        if hasattr(cls, m)
    ]  # fmt: skip
    if grad_shape is None and not members:
        return None
    held = raw() if method else raw
    kind = "an ndarray" if isinstance(held, np.ndarray) else f"a {type(held).__name__}"
    what = f".{name}()" if method else f".{name}"
    why = f"{cls.__name__}(2x3 array) gives {kind} of shape (2, 3) in {what}"
    if grad_shape is not None:
        why += f", with a gradient of shape {tuple(grad_shape)}"
    else:
        why += f", and the class has {', '.join(members[:3])}"
    return why


def handle_tensor_recognise(
    session: Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Whether the engine's class holds arrays: {"tensor": reason or None}."""
    session.mark_page(0, LOADING)
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
            cls = find_tensor_class(module, request.get("class_name"))
        why = recognise(np, cls) if isinstance(cls, type) else None
    except BaseException:
        why = None
    yield {"done": True, "tensor": why}


def handle_tensor_run(
    session: Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    api: TensorApi = session.extra["tensor"]
    for index, item in enumerate(request["items"]):
        session.item = index
        yield {"i": index, **run_tensor_program(api, item, session.mark)}
    yield {"done": True}


HANDLERS["tensor_load"] = handle_tensor_load
HANDLERS["tensor_run"] = handle_tensor_run
HANDLERS["tensor_recognise"] = handle_tensor_recognise
