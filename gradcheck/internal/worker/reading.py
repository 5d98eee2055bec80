"""Numbers out of an engine's values: `.data` read as a float.

A `.data` may be a float, a numpy scalar, a 0-d array, or (a bug) another
engine value holding the number: it is unwrapped up to `NESTING` deep, and
how deep is reported, so the op's derivative can still be judged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradcheck.internal.worker.api import Api

_float = float
# How deep a Value held in `.data` is unwrapped (Value(Value(Value(x)))).
NESTING = 8


def raw_data(value: Any, api: Api) -> Any:
    raw = getattr(value, api.data)
    return raw() if api.data_is_method else raw


def is_value(result: Any, api: Api) -> bool:
    try:
        read_data(api, result)
    except BaseException:
        return False
    return True


def read_data(api: Api, value: Any) -> float:
    """`.data` as a float, from inside a Value held there (`Value(Value(t))`)."""
    return _number(api, raw_data(value, api))


def data_reader(api: Api) -> Callable[[Any], float]:
    """`read_data` for one program's many nodes, a plain float `.data` taken as is.

    The same result as `read_data`, attribute read once; the checks of what
    else a `.data` may hold are skipped for an exact float, which is most.
    """
    if api.data_is_method:
        return lambda value: read_data(api, value)
    name = api.data

    def read(value: Any) -> float:
        raw = getattr(value, name)
        return raw if type(raw) is _float else _number(api, raw)

    return read


def _number(api: Api, raw: Any) -> float:
    """A raw `.data` as a float, unwrapped from the Values it sits in."""
    for _ in range(NESTING):
        if not _holds_value(raw, api):
            break
        raw = raw_data(raw, api)
    return _float(raw)


def nesting(value: Any, api: Api) -> int:
    """How many Values deep the number in `value.data` sits (0: not nested)."""
    try:
        raw = raw_data(value, api)
        depth = 0
        while depth < NESTING and _holds_value(raw, api):
            raw = raw_data(raw, api)
            depth += 1
    except BaseException:
        return 0
    return depth


def _holds_value(raw: Any, api: Api) -> bool:
    """Whether a `.data` is itself an engine value (not a number, not an array)."""
    if isinstance(raw, int | float) or hasattr(raw, "dtype"):
        return False
    try:
        inner = getattr(raw, api.data)
    except BaseException:
        return False
    return inner is not None and (api.data_is_method or not callable(inner))
