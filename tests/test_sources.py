"""Notebooks and failing .py files become engine source (internal.worker.sources).

Each fixture in tests/notebooks/ is one way learners lay out an engine. Every
test runs the produced source and differentiates `Value(2.0) * Value(3.0)`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from gradcheck.internal.worker import sources
from gradcheck.internal.worker.sources import (
    Source,
    SourceError,
    class_candidates,
    definitions_only,
    notebook_source,
)

HERE = Path(__file__).parent / "notebooks"
_spec = importlib.util.spec_from_file_location(
    "make_notebooks", HERE / "make_notebooks.py"
)
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


def run(src: Source) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "engine_under_test"}
    exec(compile(src.text, src.filename, "exec"), ns)
    return ns


def check_product(ns: dict[str, Any]) -> None:
    value = ns["Value"]
    a, b = value(2.0), value(3.0)
    c = a * b
    c.backward()
    assert (c.data, a.grad, b.grad) == (6.0, 3.0, 2.0)


def nb(name: str, pick: str | None = None) -> Source:
    return notebook_source(str(HERE / name), pick)


def write(tmp_path: Path, cells: list[tuple[str, str]]) -> str:
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(make.v4(cells)), encoding="utf-8")
    return str(path)


def has_note(src: Source, text: str) -> bool:
    return any(text in note for note in src.notes)


@pytest.mark.parametrize("name", sorted(make.NOTEBOOKS))
def test_fixtures_match_their_writer(name: str) -> None:
    on_disk = json.loads((HERE / name).read_text(encoding="utf-8"))
    assert on_disk == make.NOTEBOOKS[name]()


def test_last_definition_wins_and_a_stub_last_is_named() -> None:
    src = nb("redefinitions.ipynb")
    ns = run(src)
    assert ns["Value"](2.0) * ns["Value"](3.0) is None  # the stub's __mul__
    assert "Value from cell 10 (of 3 definitions: cells 3, 7, 10)" in src.notes
    assert has_note(src, "Value in cell 10 looks like an exercise stub")
    assert has_note(src, "pick another with :Value@N, e.g. :Value@7")
    assert src.text.count("class Value") == 1


def test_pick_a_cell_uses_that_definition() -> None:
    src = nb("redefinitions.ipynb", "Value@7")
    ns = run(src)
    check_product(ns)
    assert src.cells_used == [2, 4, 7]
    assert "Value from cell 7, as picked (of 2 definitions: cells 3, 7)" in src.notes
    assert not has_note(src, "stub")
    # Value.relu_old = relu_old ran on cell 3's Value, which is not the engine.
    assert not hasattr(ns["Value"], "relu_old")
    assert "used cells 2, 4, 7" in src.notes


def test_pick_by_name_only_checks_the_class_exists() -> None:
    assert "class Value" in nb("redefinitions.ipynb", "Value").text


@pytest.mark.parametrize(
    ("name", "pick", "message"),
    [
        (
            "redefinitions.ipynb",
            "Value@5",
            "cell 5 does not define class Value; it is defined in cells 3, 7, 10",
        ),
        ("redefinitions.ipynb", "Nope", "no class Nope in"),
        ("redefinitions.ipynb", "Value@x", "bad class choice"),
        ("syntax_v3.ipynb", "Broken", "only in cells that do not parse: cell 5"),
    ],
)
def test_bad_picks_are_one_line_errors(name: str, pick: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as info:
        nb(name, pick)
    assert "\n" not in str(info.value)


def test_methods_attached_in_a_later_cell_count() -> None:
    src = nb("later_methods.ipynb")
    ns = run(src)
    check_product(ns)
    value = ns["Value"]
    x = value(0.5)
    y = x.tanh()
    y.backward()
    assert x.grad == pytest.approx(1 - y.data**2)
    assert (3 * value(2.0)).data == 6.0  # setattr(Value, "__rmul__", mul)
    assert "markdown ran" not in src.text  # code in a markdown cell is not code
    assert has_note(src, "left out 3 statements that run things: 1 loop")
    assert src.cells_used == [1, 3, 4, 5]


def test_helper_39_cells_after_its_use_and_a_far_import() -> None:
    src = nb("far_cells.ipynb")
    check_product(run(src))
    assert src.cells_used == [3, 42, 44]
    assert has_note(src, "19 prints, 19 assignments from calls")


def test_magics_shell_escapes_and_help_lines_are_dropped() -> None:
    src = nb("magics.ipynb")
    ns = run(src)
    check_product(ns)
    assert ns["double"](ns["Value"](2.0)).data == 4.0  # indented %time -> pass
    assert ns["square"](ns["Value"](3.0)).data == 9.0  # %%writefile x.py body
    assert "skipped cell 6: %%bash cell is not Python" in src.notes
    assert "cell 9: %%writefile helpers.py body read as Python" in src.notes
    assert has_note(src, "dropped IPython magics, shell escapes and help lines")
    assert "get_ipython" not in src.text
    assert "pip" not in src.text


def test_cells_that_do_not_parse_are_skipped_and_named_v3() -> None:
    src = nb("syntax_v3.ipynb")
    check_product(run(src))
    assert src.cells_used == [3]
    assert has_note(src, "skipped cell 2: SyntaxError line 1")
    assert has_note(src, "skipped cell 4: SyntaxError line 2")
    assert has_note(src, "skipped cell 5: SyntaxError line 2")


def test_training_plots_and_main_blocks_are_left_out() -> None:
    src = nb("training.ipynb")
    ns = run(src)  # the training cell raises if it runs
    check_product(ns)
    assert "model" not in ns and "pred" not in ns
    assert (ns["EPS"], ns["xs"], ns["ys"], ns["losses"]) == (
        1e-8,
        [[2.0, 3.0], [1.0, -1.0]],
        [1.0, -1.0],
        [],
    )
    assert has_note(src, "left out 8 statements that run things: 1 loop")
    assert has_note(src, "2 plots or drawings")
    assert has_note(src, '1 if __name__ == "__main__" block')
    assert has_note(src, "pred (cell 10) needs model")
    assert ns["Neuron"](2)([1.0, 1.0]).data is not None  # random came along


def test_missing_modules_do_not_block_unused_or_call_time_uses() -> None:
    src = nb("missing_import.ipynb")
    ns = run(src)
    check_product(ns)
    assert "Value from cell 2 (of 2 definitions: cells 2, 5)" in src.notes
    assert has_note(src, "left out class Value (cell 5): it needs dn")
    assert has_note(src, "left out class TorchValue (cell 4): it needs torchy")
    assert (
        "import of definitely_not_installed_xyz (cell 1) failed: module not "
        "installed; the definitions do not need it"
    ) in src.notes
    assert has_note(src, "torchy is used by function compare_with_torch")
    with pytest.raises(NameError):
        ns["compare_with_torch"](ns["Value"](1.0))


def test_extending_a_class_keeps_the_earlier_definition(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            ("code", make.FULL_VALUE),
            (
                "code",
                "class Value(Value):\n    def double(self):\n        return self * 2\n",
            ),
        ],
    )
    src = notebook_source(path)
    ns = run(src)
    check_product(ns)
    assert ns["Value"](4.0).double().data == 8.0
    assert src.cells_used == [1, 2]


def test_definition_time_names_defined_later_are_moved_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            ("code", "@register\ndef f(x, eps=EPS):\n    return eps\n"),
            ("code", "EPS = 0.5\nSEEN = []\n"),
            (
                "code",
                "def register(func):\n"
                "    SEEN.append(func.__name__)\n"
                "    return func\n",
            ),
            ("code", make.FULL_VALUE),
        ],
    )
    ns = run(notebook_source(path))
    assert ns["f"](1.0) == 0.5
    assert ns["SEEN"] == ["f"]


def test_import_guards_and_attachments_after_a_pick_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            (
                "code",
                "try:\n    import definitely_not_installed_xyz as fast\n"
                "except ImportError:\n    fast = None\n",
            ),
            ("code", make.FULL_VALUE),
            ("code", "Value.label = 'picked'"),
            ("code", make.STUB_VALUE),
        ],
    )
    ns = run(notebook_source(path, "Value@2"))
    check_product(ns)
    assert ns["fast"] is None
    assert ns["Value"].label == "picked"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "invalid JSON at line 1"),
        (b"[1, 2]", "is not a notebook"),
        (b'{"cells": [{"cell_type": "markdown", "source": "hi"}]}', "no code cells"),
        (b'{"cells": [{"cell_type": "code", "source": 3}]}', "cell 1 has no text"),
        (
            b'{"metadata": {"kernelspec": {"language": "R"}}, "cells": []}',
            "is a R notebook",
        ),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_notebooks_are_one_line_errors(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        notebook_source(str(path))


def test_missing_file_and_size_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        notebook_source(str(tmp_path / "absent.ipynb"))
    monkeypatch.setattr(sources, "MAX_BYTES", 100)
    with pytest.raises(SourceError, match="are refused"):
        nb("redefinitions.ipynb")
    with pytest.raises(SourceError, match="is over"):
        definitions_only("x = 1\n" * 100, "big.py")


def test_definitions_only_on_a_file_that_trains_and_imports_a_missing_module() -> None:
    path = HERE / "messy_engine.py"
    src = definitions_only(path.read_text(encoding="utf-8"), str(path))
    ns = run(src)
    value = ns["Value"]
    a, b = value(2.0), value(3.0)
    c = a * b
    c.backward()
    assert (a.grad, b.grad) == (3.0, 2.0)
    assert ns["Value"](0.5).tanh().data == pytest.approx(0.46211715726)
    assert src.cells_used == []
    assert has_note(src, "left out 4 statements that run things: 1 loop")
    assert has_note(src, "import of definitely_not_installed_xyz (line 8) failed")
    assert "weights" not in ns


def test_definitions_only_refuses_text_that_does_not_parse() -> None:
    with pytest.raises(
        SourceError, match=r"cannot read x\.py: cannot parse: SyntaxError line 2"
    ):
        definitions_only("x = 1\ndef f(:\n", "x.py")


def test_class_candidates() -> None:
    text = (
        "class Value: pass\n"
        "if True:\n    class Scalar: pass\n"
        "try:\n    class Node: pass\nexcept Exception:\n    class Fallback: pass\n"
        "class Value: pass\n"
        "def f():\n    class Inner: pass\n"
    )
    assert class_candidates(text) == ["Value", "Scalar", "Node", "Fallback"]
    with pytest.raises(SourceError, match="SyntaxError line 1"):
        class_candidates("class (:")
