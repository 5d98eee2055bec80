"""Every engine a learner writes loads: one engine of our own per pattern.

The engines are in tests/engines/variants/ (each a copy of `plain.py` with
one thing changed); they go through the command line, as a user runs them,
except where the library call is the point. The command line runs in this
process (tests/cli_runner.py); each engine still loads in its own worker
process, started in the folder and with the PYTHONPATH a user would have.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import cli_runner
import pytest

from gradcheck.errors import ExpressionError
from gradcheck.internal.checking.check import check_engine
from gradcheck.internal.checking.progress import TextProgress, in_notebook
from gradcheck.internal.expr.declared import declare_op
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.output.dot import have_dot
from gradcheck.internal.output.html import engine_html
from gradcheck.internal.output.json_doc import target_view
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.report import FAIL, Check, EngineReport, ExpressionReport

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ROOT / "tests" / "engines" / "variants"
NOTEBOOKS = ROOT / "tests" / "notebooks"


def run_cli(
    *args: str, cwd: Path = ROOT, ops: str | None = "add,mul"
) -> tuple[int, Any, str]:
    """`gradcheck engine ARGS --json`: exit code, the JSON document, stderr.

    Only `+` and `*` by default, which keeps a run to seconds; loading and
    detection are the same whatever the ops.
    """
    if ops is not None:
        args = (*args, "--ops", ops)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    code, out, err = cli_runner.run_cli(
        "engine", *args, "--seed", "0", "--json", cwd=cwd, env={"PYTHONPATH": path}
    )
    doc = json.loads(out)
    # one target per run: its entry (a load error's too) is the document here
    return code, target_view(doc) if "targets" in doc else doc, err


def failed(doc: dict[str, Any]) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["status"] == FAIL]


# -- API spellings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "role", "shown"),
    [
        ("value_attr", "data", ".value"),
        ("data_method", "data", ".data()"),
        ("gradient_attr", "grad", ".gradient"),
        ("derivative_attr", "grad", ".derivative"),
        ("grad_method", "grad", ".grad() (kept in ._g)"),
        ("spelled_backwards", "backward", ".backwards()"),
        ("spelled_backprop", "backward", ".backprop()"),
        ("spelled_back_propagate", "backward", ".back_propagate()"),
        ("spelled_backword", "backward", ".backword()"),
    ],
)
def test_each_api_spelling_is_detected_and_passes(
    engine: str, role: str, shown: str
) -> None:
    code, doc, err = run_cli(str(VARIANTS / f"{engine}.py"), "--examples", "3")
    assert code == 0, (doc, err)
    assert doc["api"][role] == shown
    assert doc["status"] == "pass"


def test_a_class_named_scalar_is_found_by_its_shape() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "scalar_shape.py"), "--examples", "3")
    assert code == 0
    assert any("checking Scalar" in note for note in doc["notes"])


def test_requires_grad_is_passed_to_the_constructor() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "requires_grad.py"), "--examples", "3")
    assert code == 0
    assert doc["api"]["constructor"] == "requires_grad=True"


# -- Value-only arithmetic ----------------------------------------------------


def test_value_only_arithmetic_still_finds_a_wrong_mul_derivative() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "value_only_bug.py"), "--examples", "3")
    assert code == 1
    assert "local-derivative[mul]" in failed(doc)
    assert "no mixed Value/number arithmetic" in json.dumps(doc)


def test_value_only_arithmetic_with_a_backward_that_does_nothing_fails() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "value_only_noop.py"), "--examples", "3")
    assert code == 1
    assert "local-derivative[mul]" in failed(doc)
    assert "no mixed Value/number arithmetic" in json.dumps(doc)


# -- imports ------------------------------------------------------------------


def test_a_micrograd_package_in_the_current_directory_is_the_one_checked() -> None:
    layout = VARIANTS / "karpathy_layout"
    code, doc, _ = run_cli(
        "micrograd.engine", "--examples", "3", cwd=layout, ops="add,mul,tanh"
    )
    assert doc["engine_file"] == str(layout / "micrograd" / "engine.py")
    assert code == 1  # the bundled engine would pass: this one has a tanh bug
    assert "local-derivative[tanh]" in failed(doc)


def test_sibling_imports_work() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "sibling" / "nn.py"), "--examples", "3")
    assert code == 0
    assert doc["engine_file"] == str(VARIANTS / "sibling" / "engine.py")


def test_an_unused_missing_module_loads_with_a_notice() -> None:
    code, doc, _ = run_cli(str(VARIANTS / "missing_import.py"), "--examples", "3")
    assert code == 0
    notes = " ".join(doc["notes"])
    assert "matplotlib_not_installed_xyz" in notes
    assert "definitions only" in notes


@pytest.mark.heavy
def test_training_at_import_past_the_timeout_loads_definitions_only() -> None:
    code, doc, _ = run_cli(
        str(VARIANTS / "trains_at_import.py"),
        "--examples",
        "3",
        "--import-timeout",
        "2",
    )
    assert code == 0
    notes = " ".join(doc["notes"])
    assert "more than 2 s" in notes
    assert "definitions only" in notes


# -- notebooks ----------------------------------------------------------------


def test_a_notebook_whose_last_value_is_a_stub_gives_one_json_error() -> None:
    code, doc, _ = run_cli(str(NOTEBOOKS / "redefinitions.ipynb"), "--examples", "3")
    assert code == 2
    assert doc["status"] == "error"
    assert "NotImplementedError" in doc["message"]


def test_a_notebook_with_a_picked_cell_passes_and_names_its_cells() -> None:
    target = f"{NOTEBOOKS / 'redefinitions.ipynb'}:Value@7"
    code, doc, _ = run_cli(target, "--examples", "3")
    assert code == 0
    assert "used cells 2, 4, 7" in doc["notes"]
    assert any("Value from cell 7, as picked" in note for note in doc["notes"])


# -- declared ops -------------------------------------------------------------

EPSILON_LOG = str(VARIANTS / "epsilon_log.py")


def test_an_epsilon_log_fails_as_log_and_passes_when_declared() -> None:
    table_log = OPS["log"]
    ops = ["add", "mul", "log"]
    plain = check_engine(EPSILON_LOG, examples=10, seed=0, ops=ops)
    assert "local-derivative[log]" in [c.name for c in plain.failures]
    with declared_ops({"log": "log(x + 1e-6)"}):
        declared = check_engine(EPSILON_LOG, examples=10, seed=0, ops=ops)
    assert declared.ok, declared.failures
    assert OPS["log"] is table_log


@pytest.mark.heavy
@pytest.mark.skipif(
    "op_defs" not in inspect.signature(check_engine).parameters,
    reason="check_engine does not take op_defs yet (the lead wires it)",
)
def test_op_def_on_the_command_line() -> None:
    code, doc, err = run_cli(
        EPSILON_LOG, "--examples", "3", "--op-def", "log=log(x + 1e-6)", ops=None
    )
    assert code == 0, (doc, err)


def test_a_declared_op_refers_to_the_table_not_to_itself() -> None:
    import mpmath

    with declared_ops({"log": "log(x + 1e-6)", "mul": "x*y + x*y - x*y"}):
        log, mul = OPS["log"], OPS["mul"]
        assert log.method == "log" and log.template == "log({0})"
        value = log.apply_mp([mpmath.mpf(2)], None)
        assert abs(value - mpmath.log(2 + mpmath.mpf(1e-6))) < 1e-14
        assert not log.in_domain([0.0], None)  # log(1e-6) is near the edge
        assert log.in_domain([1.0], None)
        assert mul.apply_sympy([3, 4], None) == 12


def test_the_table_is_restored_after_an_error() -> None:
    saved = dict(OPS)
    bad = {"exp": "exp(x)", "log": "log(x*y)"}
    with (
        pytest.raises(ExpressionError, match="only x may be used, not y"),
        declared_ops(bad),
    ):
        pass  # pragma: no cover
    assert saved == OPS
    with pytest.raises(ExpressionError, match="unknown op"):
        declare_op("logarithm", "log(x)")
    with pytest.raises(ExpressionError, match="--op-def log"):
        declare_op("log", "log(x")
    assert saved == OPS


# -- Jupyter ------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_report() -> EngineReport:
    engine = str(VARIANTS / "value_only_bug.py")
    return check_engine(engine, examples=5, seed=0, ops=["add", "mul"])


def test_reprs_are_short(failing_report: EngineReport) -> None:
    assert len(repr(failing_report)) < 600
    assert "fail" in repr(failing_report)
    check = failing_report.failures[0]
    assert repr(check).startswith("<Check local-derivative[mul] (local-derivative)")
    assert len(repr(check)) < 200
    assert repr(ExpressionReport("e", 0)) == "<ExpressionReport e: pass, 0 results>"


def test_html_has_the_table_and_the_failing_graph(failing_report: EngineReport) -> None:
    page = failing_report._repr_html_()
    assert page.count("<tr>") == len(failing_report.checks) + 1
    assert "local-derivative[mul]" in page
    if have_dot():
        assert "<svg" in page
    else:
        assert "install Graphviz" in page
    assert "<svg" in failing_report.failures[0]._repr_html_() or not have_dot()


def test_html_escapes_everything() -> None:
    report = EngineReport("<b>eng</b>", 0, [], {})
    report.checks.append(Check("value", "value", FAIL, "raised <script>x</script>"))
    report.notes.append("a & b")
    page = engine_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;eng&lt;/b&gt;" in page and "a &amp; b" in page


def test_text_progress_prints_lines_not_carriage_returns() -> None:
    out = io.StringIO()
    progress = TextProgress(out)
    for done in range(101):
        progress(done, 100)
    lines = out.getvalue().splitlines()
    assert lines[0] == "random graphs: 0/100" and lines[-1] == "random graphs: 100/100"
    assert len(lines) == 11 and "\r" not in out.getvalue()


def test_the_failing_graph_is_inlined_as_svg_when_dot_exists(
    failing_report: EngineReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "dot"  # stands in for Graphviz: reads DOT, writes an SVG
    fake.write_text(
        "#!/bin/sh\ncat > /dev/null\n"
        'echo \'<?xml version="1.0"?><!DOCTYPE svg><svg id="drawn"></svg>\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    page = failing_report._repr_html_()
    assert '<div><svg id="drawn"></svg>' in page
    assert "<?xml" not in page and "install Graphviz" not in page


MINITORCH = VARIANTS / "minitorch_layout"


@pytest.mark.parametrize(
    "target",
    ["minitorch_like.scalar", str(MINITORCH / "minitorch_like" / "scalar.py")],
)
def test_a_package_init_importing_a_missing_module_does_not_block(target: str) -> None:
    code, doc, err = run_cli(
        target, "--examples", "3", cwd=MINITORCH, ops="add,mul,tanh"
    )
    assert code == 0, (doc, err)
    assert doc["api"]["grad"] == ".derivative"
    notes = " ".join(doc["notes"])
    assert "numba_not_installed_xyz" in notes
    assert "relative imports resolve in minitorch_like" in notes


def test_expression_reports_render_as_a_table() -> None:
    from gradcheck.internal.expr.parser import parse
    from gradcheck.report import ExpressionResult

    result = ExpressionResult("x*y", parse("x*y"), {"x": 1.0}, 1.0, "1", [], FAIL)
    result.message = "d/dy <wrong>"
    report = ExpressionReport("eng", 0, [result])
    assert repr(report) == "<ExpressionReport eng: fail, 1 results, 1 failed>"
    page = report._repr_html_()
    assert "<code>x*y</code>" in page and "d/dy &lt;wrong&gt;" in page


def test_in_notebook_needs_a_kernel_and_no_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert not in_notebook(io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # any module stands in
    assert in_notebook(io.StringIO())
