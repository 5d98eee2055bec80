"""Read the code cells of a notebook and strip what only IPython understands.

nbformat, the library Jupyter itself uses, reads the notebook and converts
every version it knows (v3 worksheets, v4) to v4; it is imported only when a
notebook is read, so loading a `.py` engine does not pay for it. Each cell
keeps the number Jupyter shows for it (1-based over all cells). A cell that
does not parse as it is loses its magics, shell escapes and help lines here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import warnings
from typing import Any

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


def _read_notebook(text: str, path: str) -> Any:
    """The notebook as nbformat's v4 node, or a one-line `SourceError`.

    Not validated against the schema: learners' notebooks are often a little
    off it, and Jupyter opens them all the same.
    """
    import nbformat
    from nbformat.reader import NotJSONError, get_version, parse_json

    try:
        data = parse_json(text)  # type: ignore[no-untyped-call]
    except NotJSONError as err:
        cause = err.__cause__
        if isinstance(cause, json.JSONDecodeError):
            where = f" at line {cause.lineno} column {cause.colno}"
        else:
            where = ""
        raise SourceError(f"cannot read {path}: invalid JSON{where}") from err
    if not isinstance(data, dict):
        raise SourceError(f"{path} is not a notebook: no cells")
    # What nbformat needs and a hand-made notebook may lack: its version (read
    # from the layout: `worksheets` is v3) and the metadata of it and its cells.
    data.setdefault("nbformat", 3 if "worksheets" in data else 4)
    data.setdefault("metadata", {})
    for cell in data.get("cells") or []:
        if isinstance(cell, dict):
            cell.setdefault("metadata", {})
    major, minor = get_version(data)  # type: ignore[no-untyped-call]
    if major not in nbformat.versions:
        raise SourceError(f"{path} is not a notebook: nbformat version {major!r}")
    try:
        with warnings.catch_warnings():  # nbformat's advice about the schema
            warnings.simplefilter("ignore")
            node = nbformat.versions[major].to_notebook_json(data, minor=minor)
            return nbformat.convert(node, 4)  # type: ignore[no-untyped-call]
    except (AttributeError, KeyError) as err:
        raise SourceError(f"{path} is not a notebook: no {err.args[0]!s}") from err
    except (TypeError, ValueError) as err:  # nbformat's own errors are ValueErrors
        first = (str(err) or type(err).__name__).splitlines()[0]
        raise SourceError(f"{path} is not a notebook: {first}") from err


def code_cells(path: str, max_bytes: int) -> list[tuple[int, str]]:
    """(cell number, code) for each code cell; numbers count all cells.

    Files over `max_bytes` are refused before they are read.
    """
    raw = _read_bytes(path, max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceError(f"cannot read {path}: not UTF-8 text") from err
    notebook = _read_notebook(text, path)
    metadata = notebook.get("metadata")
    if isinstance(metadata, dict):
        language = ""
        for key, inner in (("kernelspec", "language"), ("language_info", "name")):
            info = metadata.get(key)
            if isinstance(info, dict) and isinstance(info.get(inner), str):
                language = info[inner]
        if language and not language.lower().startswith("python"):
            raise SourceError(f"{path} is a {language} notebook, not a Python one")
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        raise SourceError(f"{path} is not a notebook: no cells")
    found = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        found.append((number, _text_of(cell.get("source", ""), path, number)))
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
