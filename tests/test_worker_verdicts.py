"""What the worker decides about an engine, and how the checker reports it.

Issue 17 items 3, 7 and 9, and issue 18's last point:

* storage precision comes from values that round exactly as a format rounds
  (or from a dtype), never from an error: `*` off by one ulp or by 5e-4 is a
  wrong `*` judged at float64;
* a deliberate refusal (`raise` with its own message in the op's method, or
  NotImplementedError) is unsupported; an error from the arithmetic is a crash;
* an op whose result holds a Value in `.data` is a value error of that op,
  and its derivative is still judged;
* an op that hangs or kills the worker while ops are detected is a crash
  finding for that op, under `--time-limit`, not a load error.

Each engine is a variant of `tests/engines/verdicts_worker/scalar.py` (a
correct engine) made by replacing lines marked with a comment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import gradcheck
from gradcheck.internal.checking.check import check_engine
from gradcheck.internal.checking.engine_client import load_engine, load_source
from gradcheck.internal.checking.method_forms import storage_limit
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.output.json_doc import target_view
from gradcheck.internal.refs.tolerance import FLOAT32, UNIT
from gradcheck.mutants import BASE_ENGINE, apply_edits
from gradcheck.report import FAIL, PASS

ENGINE = Path(__file__).parent / "engines" / "verdicts_worker" / "scalar.py"
ROOT = str(Path(gradcheck.__file__).resolve().parents[1])
STORED = "    return x  # storage"
FLOAT32_RESULTS = {STORED: '    return struct.unpack("f", struct.pack("f", x))[0]'}
FLOAT32_EVERYWHERE = {**FLOAT32_RESULTS, "ROUND_LEAVES = False": "ROUND_LEAVES = True"}
FLOAT16_RESULTS = {STORED: '    return struct.unpack("e", struct.pack("e", x))[0]'}
BFLOAT16_RESULTS = {
    STORED: (
        "    m, e = math.frexp(x)\n"
        "    return math.ldexp(round(m * 256), e - 8) if x else x"
    )
}
MUL = "out = Value(self.data * o.data, (self, o))  # mul forward"
MUL_ONE_ULP = {
    MUL: "out = Value(math.nextafter(self.data * o.data, math.inf), (self, o))"
}
MUL_5E_4 = {MUL: "out = Value(self.data * o.data * (1 + 5e-4), (self, o))"}
TANH_BACKWARD = "self.grad += (1 - t * t) * out.grad  # tanh backward"
TANH_GRAD_1E_6 = {TANH_BACKWARD: "self.grad += (1 - t * t) * (1 + 1e-6) * out.grad"}


def variant(tmp_path: Path, name: str, *changes: dict[str, str]) -> str:
    """A copy of the scalar engine with marked lines replaced."""
    source = ENGINE.read_text()
    for change in changes:
        for old, new in change.items():
            assert old in source, old
            source = source.replace(old, new)
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return str(path)


def failures(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.checks if c.status == FAIL}


# -- A. storage precision from evidence --------------------------------------------


def test_a_float64_engine_is_float64(tmp_path: Path) -> None:
    with load_engine(variant(tmp_path, "plain")) as engine:
        assert engine.unit_roundoff == UNIT
        assert storage_limit(engine) is None


@pytest.mark.parametrize(
    ("name", "change", "unit", "format_name"),
    [
        ("f32_results", FLOAT32_RESULTS, FLOAT32, "float32"),
        ("f32_leaves", FLOAT32_EVERYWHERE, FLOAT32, "float32"),
        ("f16_results", FLOAT16_RESULTS, 2.0**-11, "float16"),
        ("bf16_results", BFLOAT16_RESULTS, 2.0**-8, "bfloat16"),
    ],
)
def test_values_that_round_exactly_as_a_format_are_that_format(
    tmp_path: Path, name: str, change: dict[str, str], unit: float, format_name: str
) -> None:
    with load_engine(variant(tmp_path, name, change)) as engine:
        assert engine.unit_roundoff == unit
        limit = storage_limit(engine)
    assert limit is not None and limit.bound == unit
    assert format_name in limit.message
    assert f"exactly as {format_name} does" in limit.message  # the evidence


@pytest.mark.parametrize(
    ("name", "change"),
    [("mul_ulp", MUL_ONE_ULP), ("mul_5e4", MUL_5E_4)],
)
def test_a_wrong_product_is_not_a_storage_format(
    tmp_path: Path, name: str, change: dict[str, str]
) -> None:
    with load_engine(variant(tmp_path, name, change)) as engine:
        assert engine.unit_roundoff == UNIT
        assert storage_limit(engine) is None


def test_a_float32_engine_with_a_wrong_product_is_still_float32(
    tmp_path: Path,
) -> None:
    # Rounded leaves are evidence by themselves; the wrong `*` is judged at
    # float32 (5e-4 is far beyond float32 rounding).
    path = variant(tmp_path, "f32_bad_mul", FLOAT32_EVERYWHERE, MUL_5E_4)
    with load_engine(path) as engine:
        assert engine.unit_roundoff == FLOAT32


def test_float32_results_with_a_wrong_product_are_float32(tmp_path: Path) -> None:
    # Float64 leaves, every sum rounded exactly as float32: the storage; the
    # products match no format and are judged (at float32) as a wrong `*`.
    path = variant(tmp_path, "f32_results_bad_mul", FLOAT32_RESULTS, MUL_5E_4)
    with load_engine(path) as engine:
        assert engine.unit_roundoff == FLOAT32


def test_only_products_rounded_to_float32_is_float64(tmp_path: Path) -> None:
    # Sums kept at float64: the storage is float64, and a `*` that rounds its
    # result to float32 is a wrong `*` (an error of 3e-8), not a format.
    change = {
        MUL: (
            'out = Value(struct.unpack("f", struct.pack("f", self.data * o.data))[0],'
            " (self, o))"
        )
    }
    with load_engine(variant(tmp_path, "mul_f32", change)) as engine:
        assert engine.unit_roundoff == UNIT


@pytest.mark.heavy(seconds=4)
def test_a_product_off_by_one_ulp_does_not_hide_a_tanh_gradient_bug(
    tmp_path: Path,
) -> None:
    path = variant(tmp_path, "ulp_tanh", MUL_ONE_ULP, TANH_GRAD_1E_6)
    report = check_engine(path, examples=20, seed=0)
    assert report.status == FAIL
    failed = failures(report)
    assert "local-derivative[tanh]" in failed, sorted(failed)
    assert "tanh" in failed["local-derivative[tanh]"].message
    assert not [limit for limit in report.limits if limit.name == "precision"]


@pytest.mark.heavy(seconds=4)
def test_a_product_off_by_5e_4_is_a_wrong_value_of_mul(tmp_path: Path) -> None:
    path = variant(tmp_path, "mul_5e4", MUL_5E_4)
    report = check_engine(path, examples=10, seed=0, checks=["value"])
    check = next(c for c in report.checks if c.name == "value")
    assert check.status == FAIL, check.message
    assert check.counterexample is not None
    assert "*" in check.counterexample.expression, check.counterexample.expression
    assert "*" in check.message, check.message
    assert not [limit for limit in report.limits if limit.name == "precision"]


@pytest.mark.heavy(seconds=6)
@pytest.mark.parametrize(
    ("name", "change"),
    [("f32_results", FLOAT32_RESULTS), ("f32_leaves", FLOAT32_EVERYWHERE)],
)
def test_a_correct_struct_float32_engine_passes_at_float32(
    tmp_path: Path, name: str, change: dict[str, str]
) -> None:
    report = check_engine(variant(tmp_path, name, change), examples=20, seed=0)
    assert {n: c.message for n, c in failures(report).items()} == {}
    assert report.status == PASS
    [limit] = [limit for limit in report.limits if limit.name == "precision"]
    assert limit.bound == FLOAT32


# -- B. deliberate refusals --------------------------------------------------------


POW_REFUSES = {
    "return NotImplemented  # pow refusal": (
        'raise ValueError("Only int/float exponents are supported")'
    )
}


def test_a_deliberate_refusal_is_unsupported_with_its_message(tmp_path: Path) -> None:
    with load_engine(variant(tmp_path, "pow_refuses", POW_REFUSES)) as engine:
        assert "pow_var" not in engine.broken
        assert "Only int/float exponents are supported" in engine.unsupported["pow_var"]
        assert "pow" in engine.supported  # x ** 2 still works


def test_a_refusal_in_an_engine_given_as_text_is_unsupported() -> None:
    # No file to read the `raise` from: the bytecode says it.
    source = ENGINE.read_text()
    for old, new in POW_REFUSES.items():
        source = source.replace(old, new)
    with load_engine(load_source("pow_refuses", source)) as engine:
        assert "Only int/float exponents are supported" in engine.unsupported["pow_var"]


def test_not_implemented_is_unsupported(tmp_path: Path) -> None:
    change = {
        "out = Value(math.log(self.data), (self,))": (
            'raise NotImplementedError("log is left as an exercise")'
        )
    }
    with load_engine(variant(tmp_path, "log_todo", change)) as engine:
        assert "log" not in engine.broken and "log" not in engine.supported
        assert "log is left as an exercise" in engine.unsupported["log"]


@pytest.mark.parametrize(
    ("name", "change", "error"),
    [
        (  # Python raises, not a `raise` statement: a crash
            "tanh_typo",
            {"t = math.tanh(self.data)": "t = math.tanh(self.dat)"},
            "AttributeError",
        ),
        (  # float ** Value inside the arithmetic: a crash
            "exp_mixed",
            {
                "e = math.exp(self.data)  # exp forward": (
                    "e = math.exp(self.data) ** self"
                )
            },
            "TypeError",
        ),
        (  # a raise after the arithmetic has started (another method ran)
            "tanh_raises_late",
            {
                "out = Value(t, (self,))  # tanh forward": (
                    'out = self * 1.0\n        raise ValueError("tanh is not ready")'
                )
            },
            "ValueError",
        ),
    ],
)
def test_an_error_from_the_arithmetic_stays_a_crash(
    tmp_path: Path, name: str, change: dict[str, str], error: str
) -> None:
    with load_engine(variant(tmp_path, name, change)) as engine:
        op = "tanh" if name.startswith("tanh") else "exp"
        assert op not in engine.unsupported
        assert engine.broken[op]["type"] == error


POW_FORWARD = "out = Value(self.data**k, (self,))"


def pow_guard(line: str) -> dict[str, str]:
    """`__pow__` that does `line` for a non-integer exponent, before computing."""
    guard = f"if not isinstance(k, int):\n            {line}\n        "
    return {POW_FORWARD: guard + POW_FORWARD}


POW_INTEGERS_ONLY = pow_guard(
    'raise ValueError("Only integer exponents are supported")'
)


@pytest.mark.heavy(seconds=3)
def test_a_constant_refused_on_purpose_is_unsupported_for_that_constant(
    tmp_path: Path,
) -> None:
    path = variant(tmp_path, "pow_integers_only", POW_INTEGERS_ONLY)
    with load_engine(path) as engine:
        assert "pow" in engine.supported and "pow" not in engine.broken
        assert engine.op_constants["pow"] == (2.0, 3.0, -1.0, -2.0)
        assert "0.5, 1.5: Only integer exponents" in engine.refused_constants["pow"]
    for seed in (0, 1):
        report = check_engine(path, examples=40, seed=seed)
        assert report.ok, [(c.name, c.message) for c in report.failures]
        assert any("pow refuses some constants" in n for n in report.notes)
        checked = next(c for c in report.checks if c.name == "local-derivative[pow]")
        assert checked.status == PASS
    # A formula that needs a refused constant: an input error, not a crash.
    from cli_runner import run_cli

    code, out, err = run_cli("x**0.5", "--at", "x=2", "--engine", str(path))
    assert code == 2, out
    assert "does not support pow with 0.5 (it refuses 0.5, 1.5" in err, err
    assert run_cli("x**2", "--at", "x=2", "--engine", str(path)).code == 0


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("zero_division", "k = 1 / 0"),  # Python raises, not a `raise`
        ("attribute_typo", "k = k.numerater"),
        ("bare_assert", "assert isinstance(k, int)"),  # no message of its own
        ("recursion", "return self ** k"),
    ],
)
def test_a_constant_that_crashes_the_op_is_still_an_error(
    tmp_path: Path, name: str, line: str
) -> None:
    path = variant(tmp_path, name, pow_guard(line))
    with load_engine(path) as engine:
        assert "pow" not in engine.refused_constants
        assert "pow" not in engine.op_constants
    report = check_engine(path, examples=0, seed=0, checks=["local-derivative"])
    failed = failures(report)
    assert "local-derivative[pow]" in failed, sorted(failed)


# -- C. a Value inside .data -------------------------------------------------------


NESTED_TANH = {
    "out = Value(t, (self,))  # tanh forward": "out = Value(Value(t), (self,))"
}


def test_an_op_whose_data_is_a_value_is_supported_and_marked(tmp_path: Path) -> None:
    with load_engine(variant(tmp_path, "nested", NESTED_TANH)) as engine:
        assert "tanh" in engine.supported and "tanh" not in engine.broken
        assert ".data of tanh(x) is itself a Value" in engine.nested["tanh"]
        assert list(engine.nested) == ["tanh"]


@pytest.mark.heavy(seconds=3)
def test_a_value_inside_data_is_a_value_error_and_the_derivative_is_judged(
    tmp_path: Path,
) -> None:
    path = variant(tmp_path, "nested", NESTED_TANH)
    report = check_engine(
        path, examples=5, seed=0, checks=["defined", "value", "local-derivative"]
    )
    failed = failures(report)
    assert set(failed) == {"value[tanh]"}, sorted(failed)
    assert failed["value[tanh]"].category == "value"
    assert ".data of tanh(x) is itself a Value" in failed["value[tanh]"].message
    judged = next(c for c in report.checks if c.name == "local-derivative[tanh]")
    assert judged.status == PASS


@pytest.mark.heavy(seconds=3)
def test_a_nested_op_with_a_wrong_derivative_fails_its_derivative(
    tmp_path: Path,
) -> None:
    wrong = {TANH_BACKWARD: "self.grad += (1 - t) * out.grad"}
    path = variant(tmp_path, "nested_wrong", NESTED_TANH, wrong)
    report = check_engine(
        path, examples=5, seed=0, checks=["defined", "value", "local-derivative"]
    )
    failed = failures(report)
    assert {"value[tanh]", "local-derivative[tanh]"} <= set(failed), sorted(failed)


# -- D. an op that hangs or dies while ops are detected ----------------------------


HOSTILE_OPS = {
    "t = math.tanh(self.data)": "while True:\n            pass",
    "e = math.exp(self.data)  # exp forward": "os._exit(3)",
    "self.grad += out.grad / self.data  # log backward": "ctypes.string_at(0)",
    "import math\n": "import ctypes\nimport math\nimport os\n",
}


@pytest.mark.heavy(seconds=12)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals are Linux's")
def test_ops_that_hang_or_kill_the_worker_are_crash_findings(tmp_path: Path) -> None:
    path = variant(tmp_path, "hostile_ops", HOSTILE_OPS)
    command = [sys.executable, "-m", "gradcheck", "engine", path, "--json"]
    command += ["--examples", "3", "--seed", "1", "--time-limit", "1"]
    command += ["--ops", "add,mul,tanh,exp,log,relu"]
    started = time.monotonic()
    done = subprocess.run(
        command,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    elapsed = time.monotonic() - started
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, stderr[-2000:]
    document = target_view(json.loads(done.stdout))
    checks = {c["name"]: c for c in document["checks"]}
    tanh, exp = checks["defined[tanh]"], checks["defined[exp]"]
    assert (tanh["category"], tanh["status"]) == ("crash", "fail")
    assert tanh["message"].startswith("tanh did not answer within 1 s"), tanh
    assert (exp["category"], exp["status"]) == ("crash", "fail")
    assert exp["message"].startswith("the worker died in exp"), exp
    assert "os._exit(3)" in exp["message"]
    log = checks["local-derivative[log]"]
    assert (log["category"], log["status"]) == ("crash", "fail")
    assert "segmentation fault" in log["message"], log
    assert checks["local-derivative[relu]"]["status"] == "pass"
    assert elapsed < 60


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals are Linux's")
def test_the_worker_restarted_after_a_hang_still_wraps_constants(
    tmp_path: Path,
) -> None:
    # Values-only arithmetic (constants wrapped as leaves), and a tanh that
    # hangs while detected: the restarted worker must wrap constants too.
    values_only = {
        "    return x if isinstance(x, Value) else Value(x)": (
            "    if not isinstance(x, Value):\n"
            '        raise TypeError("only Values")\n'
            "    return x"
        ),
        "t = math.tanh(self.data)": "while True:\n            pass",
    }
    path = variant(tmp_path, "values_only_hang", values_only)
    started = time.monotonic()
    with load_engine(path, 1.0) as engine:
        assert time.monotonic() - started < 30
        assert "mixed arithmetic" in engine.capabilities
        assert engine.broken["tanh"]["message"].startswith(
            "tanh did not answer within 1 s"
        )
        assert "exp" in engine.supported  # detection went on after the restart
        b = GraphBuilder()
        b.op("add_const", b.var("x"), constant=3.0)
        run = engine.run(b.build(), {"x": 0.5})
    assert run.data[-1] == 3.5 and run.grads[0] == 1.0


# -- F. one Value returned several times by parameters() ----------------------------


OWN_BIAS = "        self.b = Value(random.uniform(-1, 1))\n"
SHARED_BIAS = {
    "default": [
        ("def __init__(self, nin):", "def __init__(self, nin, b=Value(0.0)):"),
        (OWN_BIAS, "        self.b = b\n"),
    ],
    "module-level": [
        ("class Neuron(Module):", "SHARED = Value(0.0)\n\n\nclass Neuron(Module):"),
        (OWN_BIAS, "        self.b = SHARED\n"),
    ],
}


@pytest.mark.parametrize("how", sorted(SHARED_BIAS))
def test_one_bias_shared_by_every_neuron_is_a_zero_grad_error(how: str) -> None:
    source = apply_edits(BASE_ENGINE, tuple(SHARED_BIAS[how]), how)
    engine = load_source(f"shared_bias_{how.replace('-', '_')}", source)
    report = check_engine(engine, examples=0, seed=0, checks=["parameters"])
    [failed] = report.failures
    assert (failed.name, failed.category) == ("parameters", "zero-grad")
    # MLP(3, [4, 4, 1]) has 9 neurons: one bias object, returned 9 times.
    assert "the same Value (data 0) is returned 9 times" in failed.message
    assert "an SGD step updates it 9 times" in failed.message
    # The mutable default is named only where it was found to be one.
    named = "default of `b` in Neuron.__init__, a mutable default argument"
    assert (named in failed.message) is (how == "default")


def test_a_model_with_its_own_biases_passes_the_parameters_check() -> None:
    report = check_engine(
        load_source("own_bias", BASE_ENGINE), examples=0, seed=0, checks=["parameters"]
    )
    assert [c.status for c in report.checks] == [PASS]
