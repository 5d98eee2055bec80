"""Notebooks are read by nbformat: every version it converts, one-line errors.

The behaviour of the hand-written reader it replaced is pinned by
tests/test_sources.py; these tests cover what nbformat adds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.internal.worker.notebook_cells import code_cells
from gradcheck.internal.worker.source_model import SourceError

HERE = Path(__file__).parent / "notebooks"
LIMIT = 10 * 1024 * 1024


def _write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_a_v3_notebook_is_converted_and_keeps_jupyters_cell_numbers() -> None:
    cells = code_cells(str(HERE / "syntax_v3.ipynb"), LIMIT)
    raw = json.loads((HERE / "syntax_v3.ipynb").read_text(encoding="utf-8"))
    flat = [c for sheet in raw["worksheets"] for c in sheet["cells"]]
    want = [
        (n, "".join(c["input"]))
        for n, c in enumerate(flat, start=1)
        if c["cell_type"] == "code"
    ]
    assert cells == want


def test_a_v4_notebook_without_cell_ids_reads_without_warnings(
    tmp_path: Path,
) -> None:
    # pytest turns warnings into errors here: nbformat's advice about missing
    # ids (a schema matter, not ours) must not reach the user.
    document = {
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["x = 1\n", "y = 2\n"],
            },
        ],
    }
    assert code_cells(_write(tmp_path, document), LIMIT) == [(2, "x = 1\ny = 2\n")]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"nbformat": 9, "cells": []}, "is not a notebook: nbformat version 9"),
        ({"nbformat": 4, "metadata": {}}, "is not a notebook: no cells"),
        ("text", "is not a notebook"),
    ],
)
def test_what_nbformat_cannot_read_is_a_one_line_error_naming_the_file(
    tmp_path: Path, document: object, message: str
) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(SourceError, match=message) as info:
        code_cells(path, LIMIT)
    assert path in str(info.value) and len(str(info.value).splitlines()) == 1


def test_nbformat_is_imported_only_when_a_notebook_is_read(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from gradcheck.internal.worker import sources\n"
        "sources.definitions_only('class Value:\\n    pass\\n', 'engine.py')\n"
        "before = 'nbformat' in sys.modules\n"
        f"sources.notebook_source({str(HERE / 'magics.ipynb')!r})\n"
        "print(before, 'nbformat' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True"]
