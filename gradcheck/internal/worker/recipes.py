"""The state and nn probes, run on engine objects; the parent judges.

Each recipe returns plain numbers. Gradients are reset with a fresh zero
per node (numpy 0-d arrays updated in place with `+=` would alias one
shared object), or by the engine's own `zero_grad()`. Without
`zero_grad()`, parameters are zeroed by hand, as the lecture does.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from gradcheck.internal.worker.api import Api

SAMPLES = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]


class RecipeError(Exception):
    """A recipe cannot run on this engine (no MLP, no parameters())."""


def repeated_backward(cls: type, api: Api, params: dict[str, Any]) -> dict[str, Any]:
    """Two graphs sharing t = x*y; gradients reset in between."""
    x, y = api.make(cls, params["x"]), api.make(cls, params["y"])
    t = x * y
    first = t * x + t
    api.backward(first)
    for v in (x, y, t, first):
        api.set_grad(v, api.fresh_zero(cls))
    second = t * y + x
    api.backward(second)
    got = {"x": api.read_grad(x), "y": api.read_grad(y)}
    # The control: the second graph built from fresh leaves, backpropagated
    # once. State kept from the first backward shows as a difference from it;
    # gradients that are wrong anyway show in both.
    x2, y2 = api.make(cls, params["x"]), api.make(cls, params["y"])
    api.backward((x2 * y2) * y2 + x2)
    return {**got, "control": {"x": api.read_grad(x2), "y": api.read_grad(y2)}}


def semantics(cls: type, api: Api, params: dict[str, Any]) -> dict[str, Any]:
    """A leaf's gradient after one and after two backward() calls."""
    x = api.make(cls, 1.5)
    t = x * x
    out = t * t + t
    api.backward(out)
    once = api.read_grad(x)
    try:
        api.backward(out)
    except BaseException:
        return {"once": once, "twice": None}
    return {"once": once, "twice": api.read_grad(x)}


# -- the network ----------------------------------------------------------

_SHAPES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("MLP(3, [4, 4, 1])", (3, [4, 4, 1])),
    ("MLP([3, 4, 4, 1])", ([3, 4, 4, 1],)),
    ("MLP(3, 4, 1)", (3, 4, 1)),
    ("MLP([3, 4, 4], 1)", ([3, 4, 4], 1)),
    ("MLP(3, [4, 4], 1)", (3, [4, 4], 1)),
)


def find_network(module: Any) -> type | None:
    """`MLP`, or the one Module subclass with parameters() taking a list."""
    found = getattr(module, "MLP", None)
    if isinstance(found, type):
        return found
    for name in ("Net", "Network", "Model", "NeuralNet"):
        found = getattr(module, name, None)
        if isinstance(found, type) and callable(getattr(found, "parameters", None)):
            return found
    return None


def build_network(net: type, seed: float) -> tuple[Any, str]:
    """The first constructor form that gives a model of 3 inputs, 1 output."""
    errors = []
    for shown, args in _SHAPES:
        if not _accepts(net, len(args)):
            continue
        state = random.getstate()
        random.seed(seed)  # engines initialise weights from `random`
        try:
            model = net(*args)
            _scalar_output(model(SAMPLES[0]))
            if not list(model.parameters()):
                raise RecipeError("parameters() is empty")
        except BaseException as err:
            errors.append(f"{shown}: {type(err).__name__}")
            continue
        finally:
            random.setstate(state)
        return model, shown
    raise RecipeError(
        "no constructor form fits (tried " + "; ".join(errors or ["none"]) + ")"
    )


def _accepts(net: type, count: int) -> bool:
    try:
        inspect.signature(net).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:
        return True
    return True


def _scalar_output(out: Any) -> Any:
    while isinstance(out, list | tuple):
        if len(out) != 1:
            raise RecipeError(f"the model gives {len(out)} outputs, expected 1")
        out = out[0]
    return out


def _loss(model: Any, sample: list[float]) -> Any:
    out = _scalar_output(model(sample))
    return out * out


def _zeroer(model: Any, api: Api, cls: type) -> tuple[Callable[[], None], str]:
    if callable(getattr(model, "zero_grad", None)):
        return model.zero_grad, "zero_grad()"

    def by_hand() -> None:
        for p in model.parameters():
            api.set_grad(p, api.fresh_zero(cls))

    return by_hand, "zeroed by hand (no zero_grad())"


def _network(module: Any, params: dict[str, Any]) -> tuple[type, tuple[Any, str]]:
    """The engine's network class and a model of it built from the run's seed."""
    net = find_network(module)
    if net is None:
        raise RecipeError("the engine has no MLP")
    return net, build_network(net, params["seed"])


def network_info(module: Any) -> dict[str, Any] | None:
    net = find_network(module)
    if net is None:
        return None
    return {
        "name": net.__name__,
        "zero_grad": callable(getattr(net, "zero_grad", None)),
    }


def zero_grad(
    cls: type, api: Api, module: Any, params: dict[str, Any]
) -> dict[str, Any]:
    _, (model, shown) = _network(module, params)
    zero, how = _zeroer(model, api, cls)
    api.backward(_loss(model, SAMPLES[0]))
    ps = list(model.parameters())
    for p in ps:
        grad = api.read_grad(p)
        if grad is None or grad == 0.0:
            api.set_grad(p, 0.5)  # every gradient starts nonzero
    before = [api.read_data(p) for p in ps]
    zero()
    grads = [api.read_grad(p) for p in ps]
    after = [api.read_data(p) for p in ps]
    return {
        "built": shown,
        "zeroing": how,
        "before": before,
        "after": after,
        "grads": grads,
    }


def parameters(
    cls: type, api: Api, module: Any, params: dict[str, Any]
) -> dict[str, Any]:
    """Leaves of two forward passes that persist, and whether parameters() has them."""
    _, (model, shown) = _network(module, params)
    first = _loss(model, SAMPLES[0])
    second = _loss(model, SAMPLES[1])
    listed = list(model.parameters())
    owned = {id(p) for p in listed}
    repeated = _repeated(listed, module, api)
    leaves_1 = _leaves(first, cls)
    leaves_2 = _leaves(second, cls)
    if leaves_1 is None or leaves_2 is None:
        return {"built": shown, "walkable": False, "repeated": repeated}
    persistent = [v for key, v in leaves_1.items() if key in leaves_2]
    missing = [api.read_data(v) for v in persistent if id(v) not in owned]
    return {
        "built": shown,
        "walkable": True,
        "persistent": len(persistent),
        "missing": missing,
        "repeated": repeated,
    }


def _repeated(listed: list[Any], module: Any, api: Api) -> list[dict[str, Any]]:
    """Each object parameters() returns more than once (by identity).

    With the parameter of a class's `__init__` whose default it is, when it
    is one: `Neuron(nin, b=Value(0.0))` builds the bias once, when the
    function is defined, and every neuron shares it.
    """
    counts: dict[int, list[Any]] = {}
    for p in listed:
        counts.setdefault(id(p), []).append(p)
    return [
        {
            "count": len(same),
            "data": api.read_data(same[0]),
            "default": _default_of(same[0], module),
        }
        for same in counts.values()
        if len(same) > 1
    ]


def _default_of(value: Any, module: Any) -> list[str] | None:
    """[class, parameter] when `value` is the default of a class's __init__."""
    for klass in list(vars(module).values()):
        init = vars(klass).get("__init__") if isinstance(klass, type) else None
        if not inspect.isfunction(init):
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for parameter in parameters:
            if parameter.default is value:  # identity: values are never compared
                return [klass.__name__, parameter.name]
    return None


def _fresh_copy(
    net: type, seed: float, weights: list[Any], api: Api, cls: type
) -> tuple[Any, list[Any]]:
    """A new network of the same shape with `weights`' data and zero gradients."""
    model, _ = build_network(net, seed)
    parameters = list(model.parameters())
    for p, q in zip(weights, parameters, strict=False):
        setattr(q, api.data, api.read_data(p))
    for q in parameters:
        api.set_grad(q, api.fresh_zero(cls))
    return model, parameters


# Fresh builds compared with the first, to tell build-order effects apart.
AGAIN_BUILDS = 4


def training_loop(
    cls: type, api: Api, module: Any, params: dict[str, Any]
) -> dict[str, Any]:
    """Two steps with zeroing in between against a fresh model at step 2's weights."""
    lr = 0.05
    net, (model, shown) = _network(module, params)
    zero, how = _zeroer(model, api, cls)
    ps = list(model.parameters())
    api.backward(_loss(model, SAMPLES[0]))
    step1 = [api.read_grad(p) for p in ps]
    for p in ps:
        setattr(p, api.data, api.read_data(p) - lr * (api.read_grad(p) or 0.0))
    zero()
    api.backward(_loss(model, SAMPLES[1]))
    step2 = [api.read_grad(p) for p in ps]
    fresh_model, fresh_ps = _fresh_copy(net, params["seed"], ps, api, cls)
    api.backward(_loss(fresh_model, SAMPLES[1]))
    fresh = [api.read_grad(q) for q in fresh_ps]
    api.backward(_loss(fresh_model, SAMPLES[0]))  # what forgetting to zero does
    without = [api.read_grad(q) for q in fresh_ps]
    # A second fresh model: when two fresh models with the same weights get
    # different gradients, the engine's gradients depend on how the graph was
    # built (set order), and step 2 against a fresh model proves nothing.
    # Several more: set order changes from build to build, and two builds
    # may agree by chance where a third does not.
    again = []
    for _ in range(AGAIN_BUILDS):
        again_model, again_ps = _fresh_copy(net, params["seed"], ps, api, cls)
        api.backward(_loss(again_model, SAMPLES[1]))
        again.append([api.read_grad(q) for q in again_ps])
    return {
        "built": shown,
        "zeroing": how,
        "step1": step1,
        "step2": step2,
        "fresh": fresh,
        "without": without,
        "again": again,
    }


_CHILD_ATTRIBUTES = (
    "_prev", "_children", "children", "prev", "_parents", "parents",
    "_inputs", "inputs", "operands", "_operands", "src", "_src",
)  # fmt: skip


def _children(node: Any, cls: type) -> list[Any] | None:
    for attribute in _CHILD_ATTRIBUTES:
        found = getattr(node, attribute, None)
        if isinstance(found, set | frozenset | list | tuple):
            return [c for c in found if isinstance(c, cls)]
    return None


def _leaves(root: Any, cls: type) -> dict[int, Any] | None:
    """Every leaf of `root`'s graph, by identity (values are never hashed)."""
    leaves: dict[int, Any] = {}
    stack = [root]
    seen = {id(root)}
    while stack:
        node = stack.pop()
        children = _children(node, cls)
        if children is None:
            return None
        if not children:
            leaves[id(node)] = node
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return leaves


RECIPES = {
    "repeated_backward": repeated_backward,
    "semantics": semantics,
}
NN_RECIPES = {
    "zero_grad": zero_grad,
    "parameters": parameters,
    "training_loop": training_loop,
}
