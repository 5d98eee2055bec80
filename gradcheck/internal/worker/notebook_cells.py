"""Read the code cells of a notebook and strip what only IPython understands.

Notebooks are JSON; reading them needs no nbformat, so the worker stays
standard library only. v4 and v3 (worksheets) layouts are read, and each cell
keeps the number Jupyter shows for it (1-based over all cells). A cell that does
not parse as it is loses its magics, shell escapes and help lines here.
"""

from __future__ import annotations

import ast
import json
import os
import re

from gradcheck.internal.worker.source_model import SourceError

# Cell magics whose body is Python: drop the magic line, keep the body.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_MAGIC_LINE = re.compile(r"^(\s*)(?:[%!]|[\w.,\s]+=\s*[%!])")
_HELP_LINE = re.compile(r"^\s*\?{0,2}[A-Za-z_][\w.]*(?:\(\))?\?{0,2}\s*$")


def _read_bytes(path: str, max_bytes: int) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise SourceError(
                f"{path} is {size // (1024 * 1024)} MB; files over "
                f"{max_bytes // (1024 * 1024)} MB are refused"
            )
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)  # a file that grew meanwhile
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror or err}") from err
    if len(data) > max_bytes:
        raise SourceError(
            f"{path} is over {max_bytes // (1024 * 1024)} MB; such files are refused"
        )
    return data


def _text_of(value: object, path: str, number: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    raise SourceError(f"{path} is not a notebook: cell {number} has no text source")


def code_cells(path: str, max_bytes: int) -> list[tuple[int, str]]:
    """(cell number, code) for each code cell; numbers count all cells.

    Files over `max_bytes` are refused before they are read.
    """
    raw = _read_bytes(path, max_bytes)
    try:
        notebook = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise SourceError(f"cannot read {path}: not UTF-8 text") from err
    except json.JSONDecodeError as err:
        raise SourceError(
            f"cannot read {path}: invalid JSON at line {err.lineno} column {err.colno}"
        ) from err
    if not isinstance(notebook, dict):
        raise SourceError(f"{path} is not a notebook: no cells")
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        language = ""
        for key, inner in (("kernelspec", "language"), ("language_info", "name")):
            info = metadata.get(key)
            if isinstance(info, dict) and isinstance(info.get(inner), str):
                language = info[inner]
        if language and not language.lower().startswith("python"):
            raise SourceError(f"{path} is a {language} notebook, not a Python one")
    if isinstance(notebook.get("cells"), list):
        cells, source_key = notebook["cells"], "source"
    elif isinstance(notebook.get("worksheets"), list):
        cells, source_key = [], "input"
        for sheet in notebook["worksheets"]:
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                cells.extend(sheet["cells"])
    else:
        raise SourceError(f"{path} is not a notebook: no cells")
    found = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        if str(cell.get("language", "python")).lower() != "python":
            continue
        found.append((number, _text_of(cell.get(source_key, ""), path, number)))
    if not found:
        raise SourceError(f"{path} has no code cells")
    return found


def clean_cell(text: str) -> tuple[str | None, bool, str]:
    """(Python text or None, whether IPython lines were dropped, a notice)."""
    try:
        ast.parse(text)
        return text, False, ""
    except (SyntaxError, ValueError, RecursionError):
        pass
    lines = text.splitlines()
    dropped = False
    notice = ""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        magic = words[0] if words else ""
        if magic in ("writefile", "file") and words[-1].endswith(".py"):
            notice = f"%%{magic} {words[-1]} body read as Python"
        elif magic not in _PYTHON_CELL_MAGICS:
            return None, True, f"%%{magic} cell is not Python"
        lines[first] = ""
        dropped = True
    for i, line in enumerate(lines):
        match = _MAGIC_LINE.match(line)
        is_help = "?" in line and _HELP_LINE.match(line) is not None
        if match is None and not is_help:
            continue
        indent = re.match(r"\s*", line)
        width = indent.group(0) if indent else ""
        lines[i] = f"{width}pass" if width else ""
        dropped = True
    return "\n".join(lines) + "\n", dropped, notice
