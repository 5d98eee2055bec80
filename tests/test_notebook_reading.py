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


def _notebook(tmp_path: Path, *cells: str) -> str:
    return _write(
        tmp_path,
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"c{n}",
                    "metadata": {},
                    "execution_count": None,
                    "outputs": [],
                    "source": text,
                }
                for n, text in enumerate(cells)
            ],
        },
    )


_ENGINE = (
    "class Value:\n"
    "    def __init__(self, data, _children=()):\n"
    "        self.data, self.grad = data, 0.0\n"
    "        self._prev, self._backward = _children, lambda: None\n"
    "    def __add__(self, other):\n"
    "        out = Value(self.data + other.data, (self, other))\n"
    "        def _backward():\n"
    "            self.grad += out.grad\n"
    "            other.grad += out.grad\n"
    "        out._backward = _backward\n"
    "        return out\n"
    "    def __mul__(self, other):\n"
    "        out = Value(self.data * other.data, (self, other))\n"
    "        def _backward():\n"
    "            self.grad += other.data * out.grad\n"
    "            other.grad += self.data * out.grad\n"
    "        out._backward = _backward\n"
    "        return out\n"
    "    def backward(self):\n"
    "        topo, seen = [], set()\n"
    "        stack = [(self, False)]\n"
    "        while stack:\n"
    "            node, done = stack.pop()\n"
    "            if done:\n"
    "                topo.append(node)\n"
    "            elif id(node) not in seen:\n"
    "                seen.add(id(node))\n"
    "                stack.append((node, True))\n"
    "                stack.extend((c, False) for c in node._prev)\n"
    "        self.grad = 1.0\n"
    "        for node in reversed(topo):\n"
    "            node._backward()\n"
)


@pytest.mark.heavy
def test_a_value_only_in_a_cell_that_does_not_parse_names_the_cell(
    tmp_path: Path,
) -> None:
    from cli_runner import run_cli

    path = _notebook(tmp_path, "import math\n", _ENGINE.replace("):\n", ")\n", 1))
    code, out, err = run_cli("engine", path)
    assert code == 2, out
    assert err.strip().endswith(
        "class Value is only in cells that do not parse: cell 2"
    ), err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.heavy
def test_a_stub_last_keeps_the_advice_to_pick_the_real_one(tmp_path: Path) -> None:
    from cli_runner import run_cli

    stub = (
        "class Value:\n"
        "    def __init__(self, data):\n"
        "        self.data, self.grad = data, 0.0\n"
        "    def __add__(self, other):\n"
        "        raise NotImplementedError\n"
        "    def __mul__(self, other):\n"
        "        raise NotImplementedError\n"
        "    def backward(self):\n"
        "        pass\n"
    )
    path = _notebook(tmp_path, _ENGINE, stub)
    code, out, err = run_cli("engine", path)
    assert code == 2, out
    assert "looks like an exercise stub" in err and ":Value@1" in err, err
    code, out, err = run_cli("engine", f"{path}:Value@1", "-q")
    assert code == 0, out + err


def test_an_unreadable_notebook_is_named_once(tmp_path: Path) -> None:
    from cli_runner import run_cli

    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [', encoding="utf-8")
    code, _, err = run_cli("engine", str(path))
    assert code == 2
    assert err.count(str(path)) == 1, err
