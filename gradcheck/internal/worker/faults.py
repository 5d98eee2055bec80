"""An engine's exception as plain data: type, one-line message, where raised."""

from __future__ import annotations

import traceback
import types
from pathlib import Path
from typing import Any

# Frames in the worker's own files are not "where the engine raised".
WORKER_DIR = str(Path(__file__).resolve().parent)


def describe_error(err: BaseException, cause: str | None = None) -> dict[str, Any]:
    """An engine exception as plain data: type, message, where it was raised."""
    where = None
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if not frame.filename.startswith(WORKER_DIR):
            where = {
                "file": frame.filename,
                "line": frame.lineno,
                "function": frame.name,
            }
            break
    out: dict[str, Any] = {
        "type": type(err).__name__,
        "message": one_line(err),
        "where": where,
        "base": not isinstance(err, Exception),
    }
    if cause:
        out["cause"] = cause
    return out


def one_line(err: BaseException) -> str:
    name = type(err).__name__
    try:
        text = str(err)
    except BaseException:  # an engine's __str__ may raise anything
        text = ""
    lines = f"{name}: {text}".splitlines() if text else []
    return lines[0][:500] if lines else name


def innermost(err: BaseException) -> types.TracebackType | None:
    """The traceback entry where `err` was raised (its last frame), if any."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb
