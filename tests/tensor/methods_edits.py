"""`methods_engine.py` (a correct tensor engine with ops as methods) with one
text edit planted, loaded as engine source: the tests' buggy variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gradcheck.internal.checking.engine_client import load_source

METHODS = Path(__file__).parent / "methods_engine.py"


def edited(old: str, new: str, name: str) -> Any:
    text = METHODS.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must appear once in {METHODS.name}"
    return load_source(name, text.replace(old, new))
