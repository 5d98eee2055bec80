"""After loading: which form an engine's method computes, and its precision.

One method name can stand for several ops of the table: `gelu()` is the erf
form or the tanh approximation, and `leaky_relu()` carries a slope of its
own. Both are read off the engine's forward values (one-op graphs run in the
worker, no backward), so the engine is then held to the op it computes, not
to one the checker guessed. Storage below float64 is reported here as a
limit: the tolerances already scale with it (`refs.tolerance`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gradcheck.internal.checking.answers import Run
from gradcheck.internal.expr.graph import Graph, GraphBuilder
from gradcheck.internal.expr.ops import LEAKY_SLOPE, OPS, SPELLINGS
from gradcheck.internal.refs import form_matching as forms
from gradcheck.internal.refs.tolerance import UNIT
from gradcheck.report import FAIL, Check, Limit

if TYPE_CHECKING:
    from gradcheck.internal.checking.engine_client import Engine

# How the storage is named in the limit, by unit roundoff.
_FORMATS = {2.0**-24: "float32", 2.0**-11: "float16", 2.0**-8: "bfloat16"}


@dataclass
class Forms:
    """What form detection decided, for the engine and for the report."""

    chosen: dict[str, str] = field(default_factory=dict)  # method -> op
    constants: dict[str, tuple[float, ...]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)  # value failures
    notes: list[str] = field(default_factory=list)


def detect_forms(engine: Engine) -> Forms:
    """Pick each shared method's form and measure leaky_relu's slope.

    Updates `engine.supported`, `engine.unsupported`, `engine.op_constants`
    and `engine.notes`; returns what was decided, with a failing "value"
    check for a method that matches no form (its ops are then left out of
    `supported`, so that one wrong forward is not reported under every probe).
    """
    found = Forms()
    for method, names in SPELLINGS.items():
        shared = [
            n
            for n in names
            if n in engine.supported and OPS[n].arity == 1 and not OPS[n].takes_constant
        ]
        if len(shared) >= 2:
            _choose(engine, method, shared, found)
    if "leaky_relu" in engine.supported:
        _measure_slope(engine, found)
    engine.op_constants.update(found.constants)
    engine.form_checks.extend(found.checks)
    engine.notes.extend(found.notes)
    return found


def storage_limit(engine: Engine) -> Limit | None:
    """float32 (or narrower) storage as a limit; None for float64."""
    u = engine.unit_roundoff
    if u <= UNIT:
        return None
    shown = str(engine.storage.get("type", "float"))
    name = _FORMATS.get(u, shown)
    # How it was decided (a dtype, or values that round exactly as it does);
    # never from an error, which is judged at float64 instead.
    about = [shown] if name not in shown else []
    if engine.storage.get("evidence"):
        about.append(str(engine.storage["evidence"]))
    about.append(f"unit roundoff {u:.1g}")
    return Limit(
        name="precision",
        category="value",
        message=(
            f"values are stored as {name} ({'; '.join(about)}): gradients are "
            "judged at that precision; relative errors below about "
            f"{forms.MATCH_ULPS * u:.0e} cannot be told from rounding"
        ),
        bound=u,
        hint="store Python floats (float64) to be checked at float64 precision",
    )


def _one_op(name: str, constant: float | None = None) -> Graph:
    b = GraphBuilder()
    b.op(name, b.var("x"), constant=constant)
    return b.build()


def _forward(
    engine: Engine, graph: Graph, inputs: tuple[float, ...]
) -> dict[float, float | str]:
    """The engine's output at each input, or the text of what it raised."""
    results = engine.run_many([(graph, {"x": x}, False) for x in inputs])
    out: dict[float, float | str] = {}
    for x, result in zip(inputs, results, strict=True):
        out[x] = result.data[-1] if isinstance(result, Run) else str(result)
    return out


def _choose(engine: Engine, method: str, names: list[str], found: Forms) -> None:
    values = _forward(engine, _one_op(names[0]), forms.FORM_PROBES)
    numbers = {x: v for x, v in values.items() if isinstance(v, float)}
    faults = [v for v in values.values() if isinstance(v, str)]
    tolerance = forms.match_tolerance(engine.unit_roundoff)
    form = None if faults else forms.identify(method, numbers, tolerance)
    if form is not None:
        found.chosen[method] = form
        for other in names:
            if other != form:
                engine.unsupported[other] = f"{method}() computes the {_label(form)}"
        engine.supported = tuple(
            n for n in engine.supported if n not in names or n == form
        )
        found.notes.append(f"{method}() computes the {_label(form)}")
        return
    engine.supported = tuple(n for n in engine.supported if n not in names)
    if faults:
        message = f"{method}() raised {faults[0]} on a plain input"
        category = "crash"
    else:
        shown = "; ".join(
            f"{method}({x:g}) = {y!r}, "
            + ", ".join(f"{_label(n)} {forms.exact_value(n, x)!r}" for n in names)
            for x, y in numbers.items()
        )
        message = f"{method}() matches none of its forms: {shown}"
        category = "value"
    found.checks.append(Check(f"forms[{method}]", category, FAIL, message, examples=1))


def _label(name: str) -> str:
    """gelu_erf -> "erf form"."""
    return name.split("_", 1)[1] + " form" if "_" in name else name


def _measure_slope(engine: Engine, found: Forms) -> None:
    probe = forms.SLOPE_PROBE
    # The method's own default, if it has one: the worker then calls it as
    # users do, without a slope (see `worker.op_calls._leaky_relu`).
    asked = LEAKY_SLOPE if engine.slope_default is None else engine.slope_default
    value = _forward(engine, _one_op("leaky_relu", asked), (probe,))[probe]
    if isinstance(value, str):
        reason = f"leaky_relu() raised {value} at x = {probe:g}"
        engine.supported = tuple(n for n in engine.supported if n != "leaky_relu")
        found.checks.append(
            Check("forms[leaky_relu]", "crash", FAIL, reason, examples=1)
        )
        return
    slope = _tidy(forms.slope(value, probe), engine.unit_roundoff)
    if not (math.isfinite(slope) and 0.0 < slope < 1.0):
        engine.supported = tuple(n for n in engine.supported if n != "leaky_relu")
        found.checks.append(
            Check(
                "forms[leaky_relu]",
                "value",
                FAIL,
                f"leaky_relu({probe:g}) is {value!r}: a slope of {slope!r}, but a "
                "leaky relu has a slope between 0 and 1 for negative inputs",
                examples=1,
            )
        )
        return
    found.constants["leaky_relu"] = (slope,)
    found.notes.append(
        f"leaky_relu(): slope {slope!r}, measured from leaky_relu({probe:g}) = "
        f"{value!r}; the engine is held to it"
    )


def _tidy(slope: float, unit_roundoff: float) -> float:
    """The shortest decimal within rounding of a slope (0.2, not 0.2000000029)."""
    if not math.isfinite(slope):
        return slope
    for digits in range(1, 16):
        short = round(slope, digits)
        if abs(short - slope) <= 4 * unit_roundoff * abs(slope):
            return short
    return slope
