"""Probes of state that outlives one backward pass.

* repeated backward: two graphs sharing nodes, gradients reset in between,
  must each get fresh, correct gradients (a visited set kept on the nodes or
  in a default argument silently skips the shared nodes the second time);
* zero_grad and parameters() of an engine's `MLP`: every persistent leaf the
  output depends on must be a parameter, `zero_grad()` must reset gradients
  and nothing else, and a two-step training loop must match a fresh model.
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Iterable
from typing import Any

from gradcheck.checking.engines import (
    ENGINE_FAULTS,
    Engine,
    EngineTimeout,
    read_float,
    time_limit,
)
from gradcheck.expr.graph import GraphBuilder
from gradcheck.refs.references import reference
from gradcheck.report import FAIL, PASS, SKIP, Check

MLP_SHAPE = (3, [4, 4, 1])
SAMPLES = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]


def _crash(
    engine: Engine, name: str, category: str, err: BaseException, doing: str
) -> Check:
    if isinstance(err, EngineTimeout):
        engine.hung = True
        return Check(name, "crash", FAIL, f"the engine hangs while {doing} ({err})")
    if isinstance(err, RecursionError):
        return Check(name, "propagation", FAIL, f"RecursionError while {doing}")
    text = f"{type(err).__name__}: {err}".splitlines()[0]
    return Check(name, "crash", FAIL, f"the engine raised {text} while {doing}")


def repeated_backward_probe(engine: Engine, rng: random.Random) -> tuple[Check, str]:
    """5. Fresh gradients on a second backward over shared nodes; semantics."""
    name = "repeated-backward"
    if not {"mul", "add"} <= set(engine.supported):
        return Check(name, "accumulation", SKIP, "needs + and *"), "unknown"
    x0, y0 = 0.8, -1.3
    try:
        with time_limit(engine.limit):
            x, y = engine.value(x0), engine.value(y0)
            t = x * y  # shared by both graphs
            first = t * x + t
            first.backward()
            _reset([x, y, t, first], engine)
            second = t * y + x
            second.backward()
            got = {"x": read_float(x, "grad"), "y": read_float(y, "grad")}
    except ENGINE_FAULTS as err:
        return _crash(
            engine, name, "accumulation", err, "calling backward() twice"
        ), "unknown"
    b = GraphBuilder()
    xs, ys = b.var("x"), b.var("y")
    b.op("add", b.op("mul", b.op("mul", xs, ys), ys), xs)
    ref = reference(b.build(), {"x": x0, "y": y0})
    wrong = []
    for var, value in got.items():
        exact = float(ref.gradient(var))
        if not math.isclose(value, exact, rel_tol=1e-12, abs_tol=1e-300):
            wrong.append(f"d/d{var} is {value!r}, should be {exact!r}")
    semantics = _semantics(engine)
    if wrong:
        message = (
            "after gradients were reset, a second backward() over a graph that "
            f"shares nodes (t = x*y) with the first gave {'; '.join(wrong)}: "
            "state kept from the first backward (a visited set stored on the "
            "nodes or in a default argument) skips the shared nodes"
        )
        return Check(name, "accumulation", FAIL, message, examples=1), semantics
    return Check(
        name,
        "accumulation",
        PASS,
        f"fresh gradients; semantics: {semantics}",
        examples=1,
    ), semantics


def _reset(values: Iterable[Any], engine: Engine) -> None:
    start = engine.value(1.0).grad  # 0, 0.0 or None: whatever the engine starts with
    for v in values:
        v.grad = start


def _semantics(engine: Engine) -> str:
    """What calling backward() twice on one graph does to a leaf gradient."""
    try:
        with time_limit(engine.limit):
            x = engine.value(1.5)
            t = x * x
            out = t * t + t
            out.backward()
            once = read_float(x, "grad")
            out.backward()
            twice = read_float(x, "grad")
    except ENGINE_FAULTS:
        return "unknown (the second backward() raised)"
    if once == 0:
        return "unknown"
    ratio = twice / once
    if math.isclose(ratio, 2.0, rel_tol=1e-12):
        return "linear: a second backward() adds the same gradient again (as PyTorch)"
    if math.isclose(ratio, 1.0, rel_tol=1e-12):
        return "reset: every backward() starts from zero"
    return (
        f"non-linear: the second backward() multiplies leaf gradients by {ratio:.4g}, "
        "because intermediate gradients are kept and propagated again"
    )


# -- nn probes -----------------------------------------------------------


def nn_probes(engine: Engine, rng: random.Random) -> list[Check]:
    """6. zero_grad(), parameters() and a two-step training loop of `MLP`."""
    names = ("zero-grad", "parameters", "training-loop")
    if engine.mlp is None:
        return [Check(n, "zero-grad", SKIP, "the engine has no MLP") for n in names]
    return [
        _zero_grad_check(engine, rng),
        _parameters_check(engine, rng),
        _training_loop_check(engine, rng),
    ]


def _make_model(engine: Engine, rng: random.Random) -> Any:
    random_state = random.getstate()
    random.seed(rng.random())  # engines initialise weights from `random`
    try:
        return engine.mlp(*MLP_SHAPE)
    finally:
        random.setstate(random_state)


def _loss(model: Any, sample: list[float]) -> Any:
    out = model(sample)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return out * out


def _zero_grad_check(engine: Engine, rng: random.Random) -> Check:
    name = "zero-grad"
    try:
        with time_limit(engine.limit):
            model = _make_model(engine, rng)
            _loss(model, SAMPLES[0]).backward()
            params = list(model.parameters())
            for p in params:
                if read_float(p, "grad") == 0.0:
                    p.grad = 0.5  # make sure every gradient starts nonzero
            data_before = [read_float(p, "data") for p in params]
            model.zero_grad()
            grads = [read_float(p, "grad") for p in params]
            data_after = [read_float(p, "data") for p in params]
    except ENGINE_FAULTS as err:
        return _crash(
            engine, name, "zero-grad", err, "calling MLP(3, [4, 4, 1]) and zero_grad()"
        )
    if not params:
        return Check(name, "zero-grad", FAIL, "parameters() returned no parameters")
    changed = sum(1 for a, b in zip(data_before, data_after, strict=True) if a != b)
    left = sum(1 for g in grads if g != 0.0)
    if changed:
        return Check(
            name,
            "zero-grad",
            FAIL,
            f"zero_grad() changed .data of {changed} of {len(params)} parameters: "
            "it must reset .grad and leave .data alone",
            examples=1,
        )
    if left:
        return Check(
            name,
            "zero-grad",
            FAIL,
            f"after zero_grad(), {left} of {len(params)} parameters still have a "
            "nonzero gradient: zero_grad() does not reset every parameter",
            examples=1,
        )
    return Check(name, "zero-grad", PASS, f"{len(params)} parameters reset", examples=1)


def _parameters_check(engine: Engine, rng: random.Random) -> Check:
    name = "parameters"
    try:
        with time_limit(engine.limit):
            model = _make_model(engine, rng)
            first = _loss(model, SAMPLES[0])
            second = _loss(model, SAMPLES[1])
            params = {id(p) for p in model.parameters()}
            leaves_1 = _leaves(first, engine.value_class)
            leaves_2 = _leaves(second, engine.value_class)
    except ENGINE_FAULTS as err:
        return _crash(engine, name, "zero-grad", err, "walking the MLP's graph")
    if leaves_1 is None or leaves_2 is None:
        return Check(name, "zero-grad", SKIP, "cannot find the operands of a Value")
    persistent = [v for key, v in leaves_1.items() if key in leaves_2]
    missing = [v for v in persistent if id(v) not in params]
    if missing:
        shown = ", ".join(f"{read_float(v, 'data'):.4g}" for v in missing[:4])
        return Check(
            name,
            "zero-grad",
            FAIL,
            f"parameters() misses {len(missing)} of the {len(persistent)} leaves "
            f"that persist across forward passes (data {shown}, ...), e.g. the "
            "biases: their gradients are never zeroed nor updated",
            examples=1,
        )
    return Check(
        name,
        "zero-grad",
        PASS,
        f"parameters() covers all {len(persistent)} persistent leaves",
        examples=1,
    )


def _training_loop_check(engine: Engine, rng: random.Random) -> Check:
    name = "training-loop"
    lr = 0.05
    try:
        with time_limit(engine.limit):
            model = _make_model(engine, rng)
            params = list(model.parameters())
            _loss(model, SAMPLES[0]).backward()
            step1 = [read_float(p, "grad") for p in params]
            for p in params:
                p.data = read_float(p, "data") - lr * read_float(p, "grad")
            model.zero_grad()
            _loss(model, SAMPLES[1]).backward()
            step2 = [read_float(p, "grad") for p in params]
            fresh_model = _make_model(engine, rng)
            fresh_params = list(fresh_model.parameters())
            for p, q in zip(params, fresh_params, strict=False):
                q.data = read_float(p, "data")
            for q in fresh_params:
                q.grad = engine.value(1.0).grad
            _loss(fresh_model, SAMPLES[1]).backward()
            fresh = [read_float(q, "grad") for q in fresh_params]
            # What forgetting zero_grad() does: backward again on top.
            _loss(fresh_model, SAMPLES[0]).backward()
            without = [read_float(q, "grad") for q in fresh_params]
    except ENGINE_FAULTS as err:
        return _crash(engine, name, "zero-grad", err, "running two training steps")
    if len(fresh) != len(step2):
        return Check(
            name,
            "zero-grad",
            FAIL,
            "two MLPs of one shape have different parameter counts",
        )
    wrong = [
        k for k, (a, b) in enumerate(zip(step2, fresh, strict=True)) if not _close(a, b)
    ]
    if not wrong:
        leak = max(
            (abs(w - f) for w, f in zip(without, fresh, strict=True)), default=0.0
        )
        return Check(
            name,
            "zero-grad",
            PASS,
            f"step 2 after zero_grad() equals a fresh model on {len(params)} "
            "parameters; without zero_grad() the gradients would carry a stale "
            f"part from the previous step (up to {leak:.3g} here)",
            examples=1,
        )
    stale = [k for k in wrong if _close(step2[k], fresh[k] + step1[k])]
    if stale:
        message = (
            f"{len(stale)} of {len(params)} parameters carry a stale gradient: "
            "after zero_grad(), step 2's gradient equals step 1's plus step 2's, "
            "so the previous step leaks into the update"
        )
    else:
        message = (
            f"{len(wrong)} of {len(params)} parameter gradients of step 2 differ "
            "from a fresh model with the same weights"
        )
    return Check(name, "zero-grad", FAIL, message, examples=1)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


_CHILD_ATTRIBUTES = (
    "_prev",
    "_children",
    "children",
    "prev",
    "_parents",
    "parents",
    "_inputs",
    "inputs",
    "operands",
    "_operands",
    "src",
    "_src",
)


def _children(node: Any, value_class: type) -> list[Any] | None:
    """The operands of an engine node, found by duck typing."""
    for attribute in _CHILD_ATTRIBUTES:
        found = getattr(node, attribute, None)
        if isinstance(found, (set, frozenset, list, tuple)):
            return [c for c in found if isinstance(c, value_class)]
    # Fall back on what the node references: closures, dicts and tuples.
    found_values: list[Any] = []
    frontier: list[Any] = [node]
    seen = {id(node)}
    for _ in range(3):
        next_frontier = []
        for obj in frontier:
            for ref in gc.get_referents(obj):
                if id(ref) in seen or isinstance(ref, (type, str, bytes)):
                    continue
                seen.add(id(ref))
                if isinstance(ref, value_class):
                    found_values.append(ref)
                else:
                    next_frontier.append(ref)
        frontier = next_frontier
    return found_values


def _leaves(root: Any, value_class: type) -> dict[int, Any] | None:
    """Every leaf (a node with no operands) of `root`'s graph, by identity."""
    leaves: dict[int, Any] = {}
    stack = [root]
    seen = {id(root)}
    while stack:
        node = stack.pop()
        children = _children(node, value_class)
        if children is None:
            return None
        if not children:
            leaves[id(node)] = node
        for child in children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return leaves
