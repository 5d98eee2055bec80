"""What every stage of turning a notebook into engine source shares.

The one exception the stages raise, the result they build, the parse that
reports a reason instead of raising, and the wording of cell and line numbers
(`cells 3, 5-7`), which both the errors and the notes use.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


class SourceError(Exception):
    """A notebook or file that cannot be turned into an engine module."""


@dataclass
class Source:
    """Python source of an engine module, and what was done to get it."""

    text: str
    filename: str
    notes: list[str] = field(default_factory=list)
    # Cells that gave kept definitions, numbered 1-based over all cells.
    cells_used: list[int] = field(default_factory=list)
    # (first line in `text`, where it came from: "cell 8, line 2" or "line 40")
    # for each kept statement, so a statement that fails can be skipped and named.
    parts: list[tuple[int, str]] = field(default_factory=list)
    # Kept classes shaped like an engine that need a module not installed.
    engine_needs: dict[str, list[str]] = field(default_factory=dict)


def parse_python(text: str) -> tuple[ast.Module | None, str]:
    """The module, or None and why: a cell that fails is skipped, not fatal."""
    try:
        return ast.parse(text), ""
    except SyntaxError as err:
        return None, f"SyntaxError line {err.lineno} ({err.msg})"
    except (ValueError, RecursionError) as err:
        return None, f"cannot parse ({type(err).__name__})"


def number_ranges(numbers: list[int]) -> str:
    """'3, 5, 9-12' for [3, 5, 9, 10, 11, 12]."""
    values = sorted(set(numbers))
    parts: list[str] = []
    start = prev = values[0] if values else 0
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ", ".join(parts) if values else ""


def places(place: str, numbers: list[int]) -> str:
    """'cell 5' or 'cells 5, 8-9'."""
    plural = "s" if len(set(numbers)) > 1 else ""
    return f"{place}{plural} {number_ranges(numbers)}"


def counted(count: int, singular: str, plural: str) -> str:
    """'1 loop' or '3 loops'."""
    return f"{count} {singular if count == 1 else plural}"
