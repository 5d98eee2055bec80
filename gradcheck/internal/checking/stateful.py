"""Probes of state that outlives one backward pass, judged from the worker's numbers.

* repeated backward: two graphs sharing nodes, gradients reset in between,
  must each get fresh, correct gradients (a visited set kept on the nodes or
  in a default argument silently skips the shared nodes the second time);
* zero_grad and parameters() of an engine's network: every persistent leaf
  the output depends on must be a parameter, zeroing must reset gradients
  and nothing else, and a two-step training loop must match a fresh model.

The engine side of each probe is a recipe in `gradcheck.internal.worker.recipes`;
here only plain numbers are compared with the references.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from functools import cache
from typing import Any

from gradcheck.internal.checking.engine_client import Engine, EngineFault, WorkerCrash
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.refs.references import reference
from gradcheck.internal.refs.tolerance import relative_tolerance
from gradcheck.report import FAIL, INCONCLUSIVE, PASS, SKIP, Check


def _crash(
    engine: Engine,
    name: str,
    answer: Mapping[str, Any],
    doing: str,
    category: str = "crash",
) -> Check:
    """The check for a recipe that did not finish: the engine's fault or ours.

    An exception with no line of the engine's code in its traceback (or the
    adapter's own ApiError) came from the checker's side: resetting or
    reading gradients the way this engine spells them failed. That is said
    as such, and the check is inconclusive, never "the engine raised".
    `category`: the family of the check, for the inconclusive case.
    """
    crash = answer.get("crash")
    if isinstance(crash, WorkerCrash):
        if crash.timeout:
            return Check(
                name, "crash", FAIL, f"the engine hangs while {doing} ({crash.message})"
            )
        return Check(name, "crash", FAIL, f"{crash.message} while {doing}")
    fault = EngineFault(answer["error"])
    if fault.type_name == "RecursionError":
        return Check(name, "propagation", FAIL, f"RecursionError while {doing}")
    if checker_fault(fault):
        return Check(
            name,
            category,
            INCONCLUSIVE,
            f"not checked: the checker's adapter failed while {doing} "
            f"({fault.text}): raised in the checker's own code, not in a line of "
            "the engine",
        )
    where = f" at {fault.location}" if fault.location else ""
    return Check(
        name, "crash", FAIL, f"the engine raised {fault.text}{where} while {doing}"
    )


def checker_fault(fault: EngineFault) -> bool:
    """The exception came from the checker's adapter, not from the engine."""
    return fault.type_name == "ApiError" or fault.where is None


def repeated_backward_probe(engine: Engine, rng: random.Random) -> tuple[Check, str]:
    """5. Fresh gradients on a second backward over shared nodes; semantics."""
    name = "repeated-backward"
    if not {"mul", "add"} <= set(engine.supported):
        return Check(name, "accumulation", SKIP, "needs + and *"), "unknown"
    x0, y0 = 0.8, -1.3
    answer = engine.recipe("repeated_backward", {"x": x0, "y": y0})
    if "skip" in answer:  # the checker cannot reset this engine's gradients
        return Check(name, "accumulation", SKIP, f"skipped: {answer['skip']}"), (
            "unknown"
        )
    if "result" not in answer:
        doing = "calling backward() twice"
        return _crash(engine, name, answer, doing, "accumulation"), "unknown"
    got = answer["result"]
    ref = reference(
        _shared_graph(), {"x": x0, "y": y0}, unit_roundoff=engine.unit_roundoff
    )
    u = engine.unit_roundoff
    wrong, kept = [], []
    for var in ("x", "y"):
        value, fresh = got[var], got["control"][var]
        exact = float(ref.gradient(var))
        if not _close(value, exact, u, abs_tol=1e-300):
            wrong.append(f"d/d{var} is {value!r}, should be {exact!r}")
        if not _close(value, fresh, u, abs_tol=1e-300):
            kept.append(f"d/d{var} is {value!r}, a fresh graph gets {fresh!r}")
    semantics = _semantics(engine)
    if wrong and not kept:
        # Wrong, but wrong the same way on a fresh graph: no state was kept;
        # the gradients on shared nodes are wrong anyway (other checks say why).
        return Check(
            name, "accumulation", PASS,
            "a second backward() over shared nodes gets what a fresh graph gets "
            f"(both wrong here: {'; '.join(wrong)}; see the other failures); "
            f"semantics: {semantics}",
            examples=1,
        ), semantics  # fmt: skip
    if wrong:
        message = (
            "after gradients were reset, a second backward() over a graph that "
            f"shares nodes (t = x*y) with the first gave {'; '.join(kept or wrong)}: "
            "state kept from the first backward changes the second (a visited "
            "set stored on the nodes, or in a default argument?)"
        )
        return Check(name, "accumulation", FAIL, message, examples=1), semantics
    return Check(
        name,
        "accumulation",
        PASS,
        f"fresh gradients; semantics: {semantics}",
        examples=1,
    ), semantics


# The graph of the worker's `semantics` recipe (gradcheck.internal.worker.recipes),
# rebuilt here to show it and to predict what kept gradients would give.
SEMANTICS_X = 1.5


# The two graphs are built once per process, as every engine gets the same.
@cache
def _shared_graph() -> Graph:
    """(x*y)*y + x: the second graph of the `repeated_backward` recipe."""
    b = GraphBuilder()
    xs, ys = b.var("x"), b.var("y")
    b.op("add", b.op("mul", b.op("mul", xs, ys), ys), xs)
    return b.build()


@cache
def semantics_graph() -> Graph:
    """t = x*x; out = t*t + t, as the `semantics` recipe builds it."""
    b = GraphBuilder()
    t = b.op("mul", b.var("x"), b.var("x"))
    b.op("add", b.op("mul", t, t), t)
    return b.build()


def _semantics(engine: Engine) -> str:
    """What calling backward() twice on one graph does to a leaf gradient."""
    answer = engine.recipe("semantics", {})
    result = answer.get("result")
    if not result or result["twice"] is None:
        return "unknown (the second backward() raised)"
    once, twice = result["once"], result["twice"]
    if not once:
        return "unknown"
    ratio = twice / once
    rel = relative_tolerance(engine.unit_roundoff)
    if math.isclose(ratio, 2.0, rel_tol=rel):
        return "linear: a second backward() adds the same gradient again (as PyTorch)"
    if math.isclose(ratio, 1.0, rel_tol=rel):
        return "reset: every backward() starts from zero"
    graph = semantics_graph()
    message = (
        f"non-linear: on {graph.to_text()} at x = {SEMANTICS_X}, a second "
        f"backward() multiplies x's gradient by {ratio:.4g} ({once!r} after one "
        f"call, {twice!r} after two)"
    )
    kept = kept_gradients_predict(graph, {"x": SEMANTICS_X})
    if any(math.isclose(twice, p, rel_tol=max(rel, 1e-9)) for p in kept):
        message += (
            ", as keeping the intermediate gradients and propagating them again "
            "predicts"
        )
    return message


def kept_gradients_predict(graph: Graph, point: Mapping[str, float]) -> list[float]:
    """The leaf gradient of `graph`'s first variable after two backward() calls.

    The second call keeps every gradient of the first and propagates each
    node's whole gradient again; the output is seeded `= 1` or `+= 1` (one
    prediction each).
    """
    ref = reference(graph, point)
    partials = ref.symbolic.partials
    first = [ref.adjoint(i) for i in range(len(graph.nodes))]
    leaf = next(i for i, node in enumerate(graph.nodes) if node.op == "var")
    predictions = []
    for seed in (1.0, first[-1] + 1.0):
        grads = list(first)
        grads[-1] = seed
        for c in range(len(graph.nodes) - 1, -1, -1):
            for k, a in enumerate(graph.nodes[c].args):
                grads[a] += float(partials[c][k]) * grads[c]
        predictions.append(grads[leaf])
    return predictions


# -- nn probes -----------------------------------------------------------

NN_CHECKS = ("zero-grad", "parameters", "training-loop")


def nn_probes(engine: Engine, rng: random.Random) -> list[Check]:
    """6. Zeroing, parameters() and a two-step training loop of the engine's MLP."""
    if engine.network is None:
        return [Check(n, "zero-grad", SKIP, "the engine has no MLP") for n in NN_CHECKS]
    seed = rng.random()
    return [
        _zero_grad_check(engine, seed),
        _parameters_check(engine, seed),
        _training_loop_check(engine, seed),
    ]


def _run(
    engine: Engine, recipe: str, seed: float, name: str, doing: str
) -> Check | dict[str, Any]:
    answer = engine.recipe(recipe, {"seed": seed})
    if "skip" in answer:
        return Check(name, "zero-grad", SKIP, f"skipped: {answer['skip']}")
    if "result" not in answer:
        return _crash(engine, name, answer, doing, "zero-grad")
    result: dict[str, Any] = answer["result"]
    return result


def _zero_grad_check(engine: Engine, seed: float) -> Check:
    name = "zero-grad"
    result = _run(
        engine, "zero_grad", seed, name, "building the MLP and zeroing its gradients"
    )
    if isinstance(result, Check):
        return result
    built, how = result["built"], result["zeroing"]
    grads, before, after = result["grads"], result["before"], result["after"]
    count = len(grads)
    changed = sum(1 for a, b in zip(before, after, strict=True) if a != b)
    left = sum(1 for g in grads if g not in (None, 0.0))
    if changed:
        return Check(
            name, "zero-grad", FAIL,
            f"{how} changed .data of {changed} of {count} parameters of {built}: "
            "it must reset .grad and leave .data alone",
            examples=1,
        )  # fmt: skip
    if left:
        return Check(
            name, "zero-grad", FAIL,
            f"after {how}, {left} of {count} parameters of {built} still have a "
            "nonzero gradient: it does not reset every parameter",
            examples=1,
        )  # fmt: skip
    return Check(
        name,
        "zero-grad",
        PASS,
        f"{count} parameters of {built} reset ({how})",
        examples=1,
    )


def _parameters_check(engine: Engine, seed: float) -> Check:
    name = "parameters"
    result = _run(engine, "parameters", seed, name, "walking the MLP's graph")
    if isinstance(result, Check):
        return result
    if not result["walkable"]:
        return Check(name, "zero-grad", SKIP, "cannot find the operands of a Value")
    missing, persistent = result["missing"], result["persistent"]
    if missing:
        shown = ", ".join(f"{d:.4g}" for d in missing[:4])
        return Check(
            name, "zero-grad", FAIL,
            f"parameters() misses {len(missing)} of the {persistent} leaves "
            f"that persist across forward passes (data {shown}, ...), e.g. the "
            "biases: their gradients are never zeroed nor updated",
            examples=1,
        )  # fmt: skip
    repeated = _repeated_check(result.get("repeated") or [])
    if repeated is not None:
        return repeated
    return Check(
        name, "zero-grad", PASS,
        f"parameters() covers all {persistent} persistent leaves of {result['built']}",
        examples=1,
    )  # fmt: skip


def _repeated_check(repeated: list[dict[str, Any]]) -> Check | None:
    """parameters() returning one Value several times, or None when it does not.

    The hint names a mutable default argument only when the worker found
    the repeated Value to be the default of a class's `__init__` parameter.
    """
    if not repeated:
        return None
    first = repeated[0]
    count = int(first["count"])
    others = len(repeated) - 1
    more = f" ({others} more Values are repeated too)" if others else ""
    message = (
        f"the same Value (data {float(first['data']):.4g}) is returned {count} "
        f"times by parameters(): an SGD step updates it {count} times{more}"
    )
    if first.get("default"):
        owner, parameter = first["default"]
        message += (
            f"; it is the default of `{parameter}` in {owner}.__init__, a mutable "
            "default argument built once when the function is defined, so every "
            f"{owner} shares it: default to None and build a new Value inside "
            "__init__"
        )
    return Check("parameters", "zero-grad", FAIL, message, examples=1)


def _training_loop_check(engine: Engine, seed: float) -> Check:
    name = "training-loop"
    u = engine.unit_roundoff
    result = _run(engine, "training_loop", seed, name, "running two training steps")
    if isinstance(result, Check):
        return result
    how = result["zeroing"]
    step1, step2 = _floats(result["step1"]), _floats(result["step2"])
    fresh, without = _floats(result["fresh"]), _floats(result["without"])
    if len(fresh) != len(step2):
        return Check(
            name,
            "zero-grad",
            FAIL,
            "two MLPs of one shape have different parameter counts",
        )
    wrong = [
        k
        for k, (a, b) in enumerate(zip(step2, fresh, strict=True))
        if not _close(a, b, u)
    ]
    builds = result["again"]
    if builds and not isinstance(builds[0], list):
        builds = [builds]  # one build, as a worker of an older layout answers
    unstable = sorted(
        {
            k
            for build in builds
            for k, (a, b) in enumerate(zip(fresh, _floats(build), strict=False))
            if not _close(a, b, u)
        }
    )
    if wrong and unstable:
        return Check(
            name, "zero-grad", INCONCLUSIVE,
            f"two fresh models with the same weights get different gradients "
            f"({len(unstable)} of {len(fresh)} parameters): the engine's gradients "
            "depend on how the graph was built (see the other failures), so step 2 "
            "against a fresh model proves nothing about zeroing",
            examples=1,
        )  # fmt: skip
    if not wrong:
        leak = max(
            (abs(w - f) for w, f in zip(without, fresh, strict=True)), default=0.0
        )
        return Check(
            name, "zero-grad", PASS,
            f"step 2 after {how} equals a fresh model on {len(step2)} parameters; "
            "without zeroing the gradients would carry a stale part from the "
            f"previous step (up to {leak:.3g} here)",
            examples=1,
        )  # fmt: skip
    stale = [k for k in wrong if _close(step2[k], fresh[k] + step1[k], u)]
    if stale:
        message = (
            f"{len(stale)} of {len(step2)} parameters carry a stale gradient: after "
            f"{how}, step 2's gradient equals step 1's plus step 2's, so the previous "
            "step leaks into the update"
        )
    else:
        message = (
            f"{len(wrong)} of {len(step2)} parameter gradients of step 2 differ from "
            "a fresh model with the same weights"
        )
    return Check(name, "zero-grad", FAIL, message, examples=1)


def _floats(values: list[float | None]) -> list[float]:
    return [0.0 if v is None else float(v) for v in values]


def _close(
    a: float | None,
    b: float | None,
    unit_roundoff: float = 2.0**-53,
    abs_tol: float | None = None,
) -> bool:
    """Equal to the engine's precision; a missing gradient (None) never is.

    `abs_tol` defaults to a floor of 1e-12 scaled with the precision.
    """
    if a is None or b is None:
        return False
    rel = relative_tolerance(unit_roundoff)
    floor = 1e-12 * max(1.0, rel / 1e-9) if abs_tol is None else abs_tol
    return math.isclose(a, b, rel_tol=rel, abs_tol=floor)
