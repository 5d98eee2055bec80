"""How an engine stores its values: from a dtype, or from exact rounding.

A dtype on `.data` (numpy float32) says it outright. Otherwise float64,
unless leaves and results round *exactly* as float32, float16 or bfloat16
round: an error is never taken for a format, since a wrong value must be
judged, and reported, at float64.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from gradcheck.internal.worker.api import Api
from gradcheck.internal.worker.reading import raw_data, read_data

_float = float
_pack, _unpack = struct.pack, struct.unpack
_frexp, _ldexp, _isfinite = math.frexp, math.ldexp, math.isfinite


def storage(
    cls: type, api: Api, ops: tuple[str, ...] = ("add", "mul")
) -> dict[str, Any]:
    """How values are stored: the type of .data and its unit roundoff.

    `.data` may be a float, a numpy scalar (numpy.float32, numpy.float64) or
    a 0-d array: it is read with float() and named by its type (and dtype),
    without importing numpy. A dtype says the storage outright. A Python
    float is float64 unless the values are rounded *exactly* as a narrower
    format rounds (`_measured_unit`): an error is never taken for a format,
    since a wrong value must be judged, and reported, at float64. `ops` are
    the operators that may be used to measure (those that did not crash).
    """
    leaf = api.make(cls, 0.1)
    raw = raw_data(leaf, api)
    kind = _kind(raw)
    unit = _dtype_unit(raw)
    product = None
    if "mul" in ops:
        try:  # float64 leaves with float32 results: the results' dtype
            product = raw_data(api.make(cls, 0.1) * api.make(cls, 0.3), api)
        except BaseException:  # mul is judged later as an op; here only storage
            product = None
    evidence = "the dtype of .data"
    if product is not None and _dtype_unit(product) is not None:
        unit = max(unit or 0.0, _dtype_unit(product) or 0.0)
        if _kind(product) != kind:
            kind = f"{kind}, results {_kind(product)}"
            evidence = "the dtype of results"
    if unit is None:
        unit, evidence = _measured_unit(cls, api, ops)
    return {"type": kind, "unit_roundoff": unit, "evidence": evidence}


def _kind(raw: Any) -> str:
    kind = type(raw).__name__
    dtype = getattr(raw, "dtype", None)
    if dtype is not None and str(dtype) != kind:
        kind = f"{kind}[{dtype}]"
    return kind


def _dtype_unit(raw: Any) -> float | None:
    """The unit roundoff a numpy (or ml_dtypes) dtype stores with; None: no dtype."""
    dtype = getattr(raw, "dtype", None)
    if dtype is None:
        return None
    return _DTYPE_UNITS.get(str(dtype), UNIT64)


UNIT64 = 2.0**-53
_DTYPE_UNITS = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}


def round_float32(x: float) -> float:
    try:
        return float(_unpack("<f", _pack("<f", x))[0])
    except (OverflowError, struct.error):
        return math.copysign(math.inf, x)


def round_float16(x: float) -> float:
    try:
        return float(_unpack("<e", _pack("<e", x))[0])
    except (OverflowError, struct.error):
        return math.copysign(math.inf, x)


def round_bits(x: float, bits: int) -> float:
    """`x` rounded to `bits` significant bits, half to even (bfloat16: 8).

    Normal numbers only (no subnormals, no overflow): enough for the probes.
    """
    if x == 0.0 or not _isfinite(x):
        return x
    mantissa, exponent = _frexp(x)  # 0.5 <= |mantissa| < 1
    return _ldexp(round(mantissa * (1 << bits)), exponent - bits)


def round_bfloat16(x: float) -> float:
    return round_bits(x, 8)


# name, rounding, unit roundoff
FORMATS = (
    ("float32", round_float32, 2.0**-24),
    ("float16", round_float16, 2.0**-11),
    ("bfloat16", round_bfloat16, 2.0**-8),
)
# Leaves and operand pairs for measuring: none of their sums and products is
# exact in any narrower format, so each one tells the formats apart.
_LEAVES = (0.1, 0.3, 0.7, 1.3, 1.1, -2.9, 0.37, 5.3)
_PAIRS = ((0.1, 0.3), (0.7, 1.3), (1.1, -2.9), (0.37, 5.3))
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "mul": lambda a, b: a * b,
    "add": lambda a, b: a + b,
}


def _measured_unit(cls: type, api: Api, ops: tuple[str, ...]) -> tuple[float, str]:
    """float64, unless values round exactly as a narrower format rounds.

    Two ways an engine stores a narrower format: its leaves are rounded
    (Value(0.1).data is float32's 0.1) and every result is rounded from
    those, or its leaves stay float64 and each result is rounded once (a
    struct round-trip after each op). Each is predicted exactly, per format,
    for several sums and products. Rounded leaves are evidence by
    themselves, so a majority of exact results is enough there (a wrong op
    is then judged at that format); with float64 leaves, see `_rounded_once`.
    """
    try:
        leaves = [(x, _float(read_data(api, api.make(cls, x)))) for x in _LEAVES]
    except BaseException:
        return UNIT64, "Value(x).data cannot be read as a number"
    results: dict[str, list[tuple[float, float, float]]] = {}
    for op in ("mul", "add"):
        if op not in ops:
            continue
        rows = results.setdefault(op, [])
        for a, b in _PAIRS:
            try:
                made = _ARITHMETIC[op](api.make(cls, a), api.make(cls, b))
                rows.append((a, b, _float(read_data(api, made))))
            except BaseException:
                continue
    for name, rounding, unit in FORMATS:
        if all(held == rounding(x) for x, held in leaves):
            hits = [
                held == rounding(_ARITHMETIC[op](rounding(a), rounding(b)))
                for op, rows in results.items()
                for a, b, held in rows
            ]
            if 2 * sum(hits) >= len(hits):
                return unit, f"leaves and results round exactly as {name} does"
        elif all(held == x for x, held in leaves) and _rounded_once(results, rounding):
            return unit, f"float64 leaves, every result rounded exactly as {name} does"
    return UNIT64, "values do not round as a narrower format rounds"


def _rounded_once(
    results: dict[str, list[tuple[float, float, float]]],
    rounding: Callable[[float], float],
) -> bool:
    """float64 leaves, each result rounded once to the format.

    One op kind (every sum, or every product) must round exactly as the
    format rounds the float64 result, and no kind may keep every result at
    float64: an engine whose sums are float64 has float64 storage, and its
    products, whatever their error, are a wrong `*`.
    """
    kinds = []
    for op, rows in results.items():
        if len(rows) < 3:
            continue
        f = _ARITHMETIC[op]
        kinds.append(
            (
                all(held == rounding(f(a, b)) for a, b, held in rows),
                all(held == f(a, b) for a, b, held in rows),
            )
        )
    return any(narrow for narrow, _ in kinds) and not any(wide for _, wide in kinds)
