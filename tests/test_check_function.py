"""`check_function(f, *inputs)`: a learner's function, traced once, checked on
their engine; and what f may not contain, each a one-line `FunctionError`."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import gradcheck
from gradcheck import FunctionError, check_function
from gradcheck.assertions import assert_function_gradients

ENGINES = Path(__file__).resolve().parent / "function_engines"


def _engine(name: str) -> types.ModuleType:
    """A test engine imported under its file name, as a learner's would be."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ENGINES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


Good = _engine("good_engine").Value
Buggy = _engine("buggy_engine").Value


def _in(cls: type, source: str, name: str = "f") -> Any:
    """`source` defined in a namespace where `Value` is `cls`: a notebook cell."""
    namespace: dict[str, Any] = {"Value": cls, "math": math, "__name__": "cell"}
    exec(compile(source, "<cell>", "exec"), namespace)  # test code, not user text
    return namespace[name]


LEARNER = "def f(x, y):\n    return (x * y + x).tanh()\n"
REUSE = "def f(x):\n    return x * x + x\n"
CONSTANTS = "def f(x, y):\n    return Value(2.0) * x + 3 * y - x / 2.5 + 1.5 - y**2\n"


@pytest.mark.parametrize(
    ("source", "inputs"),
    [
        (LEARNER, (0.5, -1.5)),
        (REUSE, (0.7,)),
        (CONSTANTS, (0.5, -1.5)),
        ("def f(x):\n    return (2 - x).exp() + 1 / x + (-x).relu()\n", (0.75,)),
        ("def f(a, b):\n    return sum([a, b, a * b]).sigmoid().log()\n", (0.3, 0.4)),
    ],
)
def test_a_correct_engine_passes(source: str, inputs: tuple[float, ...]) -> None:
    report = check_function(_in(Good, source), *inputs)
    assert report.ok, str(report)
    assert report.engine.endswith("good_engine:Value")
    variables = report.results[0].graph.variables
    assert [r.variable for r in report.results[0].gradients] == list(variables)


def test_the_traced_graph_keeps_reuse_and_constants() -> None:
    report = check_function(_in(Good, CONSTANTS), 0.5, -1.5)
    graph = report.results[0].graph
    assert graph.to_text() == "2*x + 3*y - x/2.5 + 1.5 - y**2"
    assert graph.variable_uses("x") == 2
    assert {n.constant for n in graph.nodes if n.op == "const"} == {2.0}


def test_a_buggy_engine_fails_with_the_wrong_gradient_named() -> None:
    report = check_function(_in(Buggy, REUSE), 0.7)
    assert report.status == "fail"
    [row] = report.results[0].gradients
    assert row.variable == "x" and not row.ok
    assert row.backprop == pytest.approx(0.7)  # x*x overwrote: x, not 2x, + 1 lost
    text = str(report)
    assert text.startswith("f(x) on buggy_engine:Value: FAIL")
    assert "d/dx: engine 0.7" in text and "WRONG" in text
    assert "<table>" in report._repr_html_() and "from buggy_engine" in (
        report._repr_html_()
    )
    assert report.to_dict()["function"] == "f(x)"


def test_the_snippet_pasted_where_the_engine_lives_shows_the_wrong_gradient() -> None:
    report = check_function(_in(Buggy, LEARNER), 0.5, -1.5)
    example = report.results[0].counterexample
    assert example is not None and example.reproduce is not None
    snippet = example.reproduce
    assert snippet.splitlines()[0] == "from buggy_engine import Value"
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=ENGINES,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    printed = {}
    for line in done.stdout.splitlines():
        name, got, _, expected = line.split()
        printed[name] = (float(got), float(expected))
    rows = {row.variable: row for row in example.gradients}
    got, expected = printed["x.grad"]
    assert got == rows["x"].backprop  # the engine's wrong number
    assert expected == pytest.approx(float(rows["x"].reference), rel=1e-15)
    assert abs(got - expected) > 0.1


def test_inputs_may_be_the_engines_values_and_name_the_engine() -> None:
    f = _in(Good, REUSE)
    report = check_function(f, Good(0.7))
    assert report.ok and report.results[0].point == {"x": 0.7}


def test_the_engine_never_runs_in_the_checker_process() -> None:
    """The class counts its instances; only the forked worker makes any."""
    made = _engine("good_engine").MADE
    before = len(made)
    report = check_function(_in(Good, CONSTANTS), 0.5, -1.5)
    assert report.ok
    assert len(made) == before


def test_closures_and_helpers_of_the_same_module_are_rebuilt() -> None:
    source = (
        "def square(v):\n    return v * v\n"
        "def make(cls):\n"
        "    def f(x):\n        return square(x) + cls(1.5) * x\n"
        "    return f\n"
        "f = make(Value)\n"
    )
    report = check_function(_in(Good, source), 0.5, engine=Good)
    assert report.ok
    assert report.results[0].graph.to_text() == "x*x + 1.5*x"


def _plain(source: str) -> Any:
    """A function from a namespace with no engine in it."""
    namespace: dict[str, Any] = {"__name__": "plain"}
    exec(compile(f"f = {source}", "<cell>", "exec"), namespace)
    return namespace["f"]


def test_a_builtin_engine_when_f_names_none() -> None:
    report = check_function(_plain("lambda x, y: (x * y).tanh() + x**2"), 0.5, -1.5)
    assert report.ok
    assert "lambda" in report.function


def test_several_engines_in_reach_and_none_named_is_ambiguous() -> None:
    namespace: dict[str, Any] = {"A": Good, "B": Buggy, "__name__": "cell"}
    exec("def f(x):\n    return x * x\n", namespace)
    with pytest.raises(
        gradcheck.UsageError, match=r"several engine classes are in reach of f \(A, B\)"
    ):
        check_function(namespace["f"], 0.5)
    assert not check_function(namespace["f"], 0.5, engine=namespace["B"]).ok


def test_unused_inputs_are_noted() -> None:
    report = check_function(_plain("lambda x, y: x * 2.0"), 0.5, 1.0)
    assert report.ok
    assert report.notes == [
        "y does not reach the output of <lambda>(x, y): its gradient is not checked"
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x):\n    return x.softsign()\n", r"f\(x\) calls \.softsign\(\), which"),
        (
            "def f(x):\n    return x if x.data > 0 else -x\n",
            r"f\(x\) reads \.data, a number tracing does not have",
        ),
        (
            "def f(x):\n    return x if x > 0 else -x\n",
            r"f\(x\) compares a value \(`>`\)",
        ),
        (
            "def f(x):\n    return x * 2 if x else x\n",
            r"f\(x\) branches on a value",
        ),
        (
            "def f(x):\n    return Value(math.tanh(x))\n",
            r"f\(x\) converts a value to a number",
        ),
        ("def f(x):\n    return 2.0\n", r"f\(x\) returns a float, not a value"),
        ("def f(x):\n    return [x, x]\n", r"f\(x\) returns a list"),
        ("def f(x):\n    return x + 'a'\n", r"f\(x\) applies \+ to a str"),
        ("def f(x):\n    return x + Value('a')\n", r"builds a constant from str"),
        ("def f(x):\n    x.grad = 0\n    return x\n", r"f\(x\) sets \.grad"),
        ("def f(x):\n    return x // 2\n", r"f\(x\) raised TypeError: .*while traced"),
        (
            "def f(x):\n    taps = []\n    return taps[1] * x\n",
            r"f\(x\) raised IndexError: .* at <cell>:3 while traced",
        ),
        ("def f(x, y):\n    return x\n", r"f takes more inputs than the 1 given"),
    ],
)
def test_what_f_may_not_contain_is_a_one_line_error(source: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as caught:
        check_function(_in(Good, source), 0.5)
    assert "\n" not in str(caught.value)


def test_methods_called_through_the_class_are_traced() -> None:
    # `Value.tanh(x)` is `x.tanh()`, as Python allows: not a missing method.
    source = "def f(x, y):\n    return Value.tanh(Value.__mul__(x, y))\n"
    report = check_function(_in(Good, source), 0.5, -1.25)
    assert report.ok, str(report)
    with pytest.raises(FunctionError, match="has no attribute 'nothing'"):
        check_function(_in(Good, "def f(x):\n    return Value.nothing(x)\n"), 0.5)


def test_numpy_is_refused() -> None:
    np = pytest.importorskip("numpy")

    def f(x: Any) -> Any:
        return np.tanh(x)

    with pytest.raises(FunctionError, match="calls numpy's tanh"):
        check_function(f, 0.5, engine=Good)


def test_values_built_outside_f_are_refused_before_anything_runs() -> None:
    namespace: dict[str, Any] = {"Value": Good, "w": Good(0.25), "__name__": "cell"}
    exec("def f(x):\n    return w * x\n", namespace)
    with pytest.raises(FunctionError, match="uses w, a Value built outside it"):
        check_function(namespace["f"], 0.5)


def test_the_engine_through_a_module_is_refused() -> None:
    module = _engine("good_engine")
    namespace: dict[str, Any] = {"eng": module, "__name__": "cell"}
    exec("def f(x):\n    return x * eng.Value(2.0)\n", namespace)
    with pytest.raises(FunctionError, match="through the module eng"):
        check_function(namespace["f"], 0.5, engine=module.Value)


def test_not_a_function() -> None:
    with pytest.raises(gradcheck.UsageError, match="needs a function"):
        check_function("x*x", 0.5)  # type: ignore[arg-type]
    with pytest.raises(gradcheck.UsageError, match="at least one input"):
        check_function(lambda: 1.0)


def test_assert_function_gradients() -> None:
    assert assert_function_gradients(_in(Good, LEARNER), 0.5, -1.5).ok
    with pytest.raises(AssertionError, match="wrong gradients") as caught:
        assert_function_gradients(_in(Buggy, REUSE), 0.7)
    assert "from buggy_engine import Value" in str(caught.value)


NOTEBOOK = """
import gradcheck

{engine}

def f(x, y):
    return (x * y + x).tanh()

report = gradcheck.check_function(f, 0.5, -1.5, seed=0)
print(report.status)
exec(report.results[0].counterexample.reproduce)  # the snippet, pasted in a cell
"""


def test_in_a_notebook_the_snippet_pasted_in_a_cell_shows_the_wrong_gradient(
    tmp_path: Path,
) -> None:
    """A script is a notebook's kernel here: Value lives in `__main__`."""
    engine = (ENGINES / "buggy_engine.py").read_text(encoding="utf-8")
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK.format(engine=engine), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    status, *printed = done.stdout.splitlines()
    assert status == "fail"
    grads = {line.split()[0]: line.split() for line in printed}
    _, got, _, expected = grads["x.grad"]
    assert float(expected) == pytest.approx(-0.470007424403189)
    assert float(got) == pytest.approx(-1.410022273209567)


def test_isinstance_with_the_engine_class_and_a_debug_print_are_traced() -> None:
    source = (
        "def wrap(v):\n"
        "    return v if isinstance(v, Value) else Value(v)\n"
        "def f(x):\n"
        "    print(f'tracing {x}')\n"
        "    return wrap(x) * wrap(2.5)\n"
    )
    report = check_function(_in(Good, source), 0.5)
    assert report.ok and report.results[0].expression == "x*2.5"


def test_the_identity_and_one_op_graphs() -> None:
    assert check_function(_in(Good, "def f(x):\n    return x\n"), 0.5).ok
    assert check_function(_in(Good, "def f(x):\n    return -x\n"), 0.5).ok


def test_the_snippet_speaks_the_engines_own_spelling() -> None:
    """`Scalar`, `.value`, `.gradient`, `backprop()` and `requires_grad=True`."""
    scalar = _engine("scalar_engine").Scalar
    namespace: dict[str, Any] = {"Scalar": scalar, "__name__": "cell"}
    exec("def f(x, y):\n    return (x * y + x).tanh() * Scalar(2.0)\n", namespace)
    report = check_function(namespace["f"], 0.5, -1.5)
    assert report.status == "fail"
    example = report.results[0].counterexample
    assert example is not None and example.reproduce is not None
    code = example.reproduce
    assert code.splitlines()[:2] == [
        "from scalar_engine import Scalar",
        "x = Scalar(0.5, requires_grad=True)",
    ]
    assert "out.backprop()" in code and "x.gradient" in code
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ENGINES,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {row.variable: row for row in example.gradients}
    printed = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    _, got, _, expected = printed["x.gradient"]
    assert float(got) == rows["x"].backprop
    assert float(expected) == pytest.approx(float(rows["x"].reference), rel=1e-15)
    assert not rows["x"].ok


MODEL = """
class Neuron:
    def __init__(self):
        self.w = Value(0.5)
    def __call__(self, x):
        return self.w * x
    def activated(self, x):
        return (self.w * x).tanh()
model = Neuron()
def f(x):
    return model(x)
def g(x):
    return model.activated(x)
"""


def test_values_inside_other_objects_are_named_when_the_engine_meets_them() -> None:
    """A model's weight built outside f: the engine's own code meets a traced
    value, and the error says so (whichever way it shows)."""
    for name in ("f", "g"):
        with pytest.raises(FunctionError, match="pass such values as inputs"):
            check_function(_in(Good, MODEL, name), 0.5)
