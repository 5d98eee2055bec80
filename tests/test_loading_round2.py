"""What learners write, round two (issue 18): each pattern loads or names its cause.

Every engine and notebook here is ours, written in the test's tmp folder, one
pattern each. Engines load in a worker process (`load_engine`), never in this
one; a few tests read only the source that a notebook becomes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradcheck.errors import EngineError
from gradcheck.internal.checking.constant_shift import (
    op_def_suggestion,
    op_def_text,
    shift_hint,
    shifted_constant,
)
from gradcheck.internal.checking.engine_client import Engine, load_engine
from gradcheck.internal.expr.ops import OPS
from gradcheck.internal.refs.declarations import declared_ops
from gradcheck.internal.worker.sources import notebook_source

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "make_notebooks", ROOT / "tests" / "notebooks" / "make_notebooks.py"
)
assert _spec is not None and _spec.loader is not None
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)

# d/dx of t*t + t with t = x*x, at x = 1.5 (the `semantics` recipe): 4x^3 + 2x.
SEMANTICS_GRAD = 16.5


def engine_text(
    cls: str = "Value",
    init_extra: str = "",
    params: str = "",
    backward: str = "method",
    grad_guard: str = "",
) -> str:
    """A lecture-shaped engine with `+`, `*` and an iterative backward.

    `backward="function"` puts backward at module level as `backward(root)`;
    `grad_guard` is a condition under which `_backward` closures do nothing.
    """
    guard = (
        f"if {grad_guard}:\n                return\n            " if grad_guard else ""
    )
    walk = """
    order, seen, stack = [], set(), [(ROOT, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in node._prev)
    ROOT.grad = 1.0
    for node in reversed(order):
        node._backward()
"""
    body = f"""
class {cls}:
    def __init__(self, data, _children=(){params}):
        self.data = data
        self.grad = 0.0
        self._prev = tuple(_children)
        self._backward = lambda: None
{textwrap.indent(init_extra, " " * 8)}

    def _wrap(self, other):
        return other if isinstance(other, {cls}) else {cls}(other)

    def __add__(self, other):
        other = self._wrap(other)
        out = {cls}(self.data + other.data, (self, other))

        def _backward():
            {guard}self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._wrap(other)
        out = {cls}(self.data * other.data, (self, other))

        def _backward():
            {guard}self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__
"""
    if backward == "method":
        method = "\n    def backward(self):" + textwrap.indent(
            walk.replace("ROOT", "self"), "    "
        )
        return body + method
    return (
        body
        + "\n\ndef backward(root):"
        + textwrap.indent(walk.replace("ROOT", "root"), "")
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def notebook(path: Path, cells: list[str]) -> Path:
    """A v4 notebook of code cells (cell numbers are 1-based)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = make.v4([("code", textwrap.dedent(c)) for c in cells])
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def loaded() -> Iterator[list[Engine]]:
    """Engines loaded by the test, closed after it."""
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.close()


def load(engines: list[Engine], target: str, **options: Any) -> Engine:
    engine = load_engine(target, **options)
    engines.append(engine)
    return engine


def gradient_works(engine: Engine) -> bool:
    answer = engine.recipe("semantics", {})
    return answer.get("result", {}).get("once") == SEMANTICS_GRAD


# -- notebooks: the lecture's worked example ------------------------------------

LECTURE_CELLS = [
    "import math",
    "def f(x):\n    return 3*x**2 - 4*x + 5",
    "a = 2.0\nb = -3.0\nc = 10.0",
    engine_text(),
    "a = Value(2.0)\nb = Value(-3.0)\nc = Value(10.0)",
    "f = Value(-2.0)",
    "e = a*b; d = e + c; L = d*f",
    "L.backward()",
]


def test_the_worked_example_after_def_f_is_left_out(tmp_path: Path) -> None:
    src = notebook_source(str(notebook(tmp_path / "lecture.ipynb", LECTURE_CELLS)))
    assert "e = a*b" not in src.text and "L = d*f" not in src.text
    assert "def f(x)" not in src.text  # f was rebound by a left-out cell 6
    assert "a = 2.0" not in src.text
    assert any("3 computations on earlier results" in n for n in src.notes)


def test_the_worked_example_notebook_loads_in_a_worker(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    engine = load(loaded, str(notebook(tmp_path / "lecture.ipynb", LECTURE_CELLS)))
    assert engine.class_name == "Value"
    assert gradient_works(engine)


def test_a_definition_needing_a_name_a_left_out_cell_rebinds_goes_too(
    tmp_path: Path,
) -> None:
    cells = [
        engine_text(),
        "def act(x):\n    return x",
        "act = Value(1.0)",
        "def use(fn=act):\n    return fn",
    ]
    src = notebook_source(str(notebook(tmp_path / "nb.ipynb", cells)))
    assert "def use" not in src.text and "def act" not in src.text
    assert any(
        "left out function use (cell 4): it needs act, which cell 3 rebinds" in n
        for n in src.notes
    ), src.notes


def test_constants_and_aliases_are_still_definitions(tmp_path: Path) -> None:
    cells = [engine_text(), "EPS = 1e-8\nN = 2 ** 10\nNEG = -1.0\nNumber = int | float"]
    src = notebook_source(str(notebook(tmp_path / "nb.ipynb", cells)))
    for kept in ("EPS = 1e-8", "N = 2 ** 10", "NEG = -1.0", "Number = int | float"):
        assert kept in src.text


# -- notebooks: `from __future__` and failing statements ------------------------

FUTURE_VALUE = "from __future__ import annotations\n" + engine_text().replace(
    "def __add__(self, other):", "def __add__(self, other: Value) -> Value:"
)


def test_from_future_in_a_cell_is_hoisted_and_the_notebook_loads(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    path = notebook(
        tmp_path / "nb.ipynb", ["import math", FUTURE_VALUE, "x = Value(1.0)"]
    )
    src = notebook_source(str(path))
    assert src.text.splitlines()[1] == "from __future__ import annotations"
    assert "class Value" in src.text
    engine = load(loaded, str(path))
    assert gradient_works(engine)
    picked = load(loaded, f"{path}:Value@2")
    assert picked.class_name == "Value"


def test_a_statement_that_fails_is_skipped_with_its_cell_and_line(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    cells = [
        engine_text(),
        "EPS = 1e-8\nSCALE = [1.0, 2.0][5]",
        "class Broken:\n    ratio = 1 / 0",
    ]
    engine = load(loaded, str(notebook(tmp_path / "nb.ipynb", cells)))
    assert gradient_works(engine)
    notes = "\n".join(engine.notes)
    assert "skipped cell 2, line 2 (SCALE = [1.0, 2.0][5]): IndexError" in notes
    assert "skipped cell 3, line 1 (class Broken:): ZeroDivisionError" in notes


# -- a package the notebook imports ---------------------------------------------


def _repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "micrograd" / "__init__.py", "")
    write(repo / "micrograd" / "engine.py", engine_text() + "\nOWN_MARKER = 1\n")
    return repo


def test_a_notebook_in_a_subfolder_uses_the_repositorys_own_package(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    repo = _repository(tmp_path)
    path = notebook(
        repo / "notebooks" / "deep" / "x.ipynb",
        ["import math", "from micrograd.engine import Value"],
    )
    engine = load(loaded, str(path))
    assert engine.file == str(repo / "micrograd" / "engine.py")
    assert any("resolves to" in n and str(repo) in n for n in engine.notes)


def test_a_file_in_a_subfolder_uses_the_repositorys_own_package(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    repo = _repository(tmp_path)
    path = write(repo / "scripts" / "train.py", "from micrograd.engine import Value\n")
    engine = load(loaded, str(path))
    assert engine.file == str(repo / "micrograd" / "engine.py")


def test_the_bundled_micrograd_never_stands_in_for_a_users(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    path = notebook(repo / "x.ipynb", ["from micrograd.engine import Value"])
    with pytest.raises(EngineError) as caught:
        load_engine(str(path))
    message = str(caught.value)
    assert "micrograd" in message and "never used in place of yours" in message
    assert "\n" not in message


# -- .py files and packages -----------------------------------------------------


def test_a_sibling_that_does_not_parse_falls_back_to_the_files_definitions(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    package = tmp_path / "pkg"
    write(package / "__init__.py", "")
    write(package / "nn.py", "def layer(:\n    pass\n")
    engine_file = write(
        package / "engine.py", "from .nn import layer\n" + engine_text()
    )
    engine = load(loaded, str(engine_file))
    assert gradient_works(engine)
    notes = "\n".join(engine.notes)
    assert "SyntaxError" in notes and "nn.py" in notes
    assert "definitions only" in notes


def test_a_syntax_error_in_the_file_itself_is_one_line_naming_it(
    tmp_path: Path,
) -> None:
    broken = write(tmp_path / "engine.py", engine_text() + "\ndef oops(:\n")
    with pytest.raises(EngineError) as caught:
        load_engine(str(broken))
    message = str(caught.value)
    assert "engine.py" in message and "SyntaxError" in message and "line" in message
    assert "\n" not in message


# -- constructor flags ----------------------------------------------------------

REQ_GRAD = engine_text(
    cls="Var",
    params=", req_grad=False",
    init_extra="self.req_grad = req_grad or any(c.req_grad for c in _children)",
).replace(
    "    def backward(self):\n",
    "    def backward(self):\n        assert self.req_grad, 'no grad'\n",
)
DAG = engine_text(
    params=", dag=False",
    init_extra="self.dag = dag or any(c.dag for c in _children)",
    grad_guard="not out.dag",
)


@pytest.mark.parametrize(
    ("text", "flag", "without"),
    [(REQ_GRAD, "req_grad", "raised AssertionError"), (DAG, "dag", "at 0")],
    ids=["req_grad-asserts", "dag-does-nothing"],
)
def test_a_tracking_flag_is_found_used_and_reported(
    tmp_path: Path, loaded: list[Engine], text: str, flag: str, without: str
) -> None:
    engine = load(loaded, str(write(tmp_path / "flagged.py", text)))
    assert engine.api["constructor"] == f"{flag}=True"
    assert without in engine.api["constructor why"]
    assert gradient_works(engine)


def test_api_overrides_the_detected_flag(tmp_path: Path, loaded: list[Engine]) -> None:
    path = write(tmp_path / "flagged.py", DAG)
    engine = load(loaded, str(path), api={"dag": "false"})
    assert engine.api["constructor"] == "dag=False"
    assert "constructor why" not in engine.api
    assert not gradient_works(engine)


# -- class detection ------------------------------------------------------------


def test_a_var_class_with_a_module_level_backward_is_found(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    text = "class Helper:\n    pass\n\n" + engine_text(cls="Var", backward="function")
    engine = load(loaded, str(write(tmp_path / "engine.py", text)))
    assert engine.class_name == "Var"
    assert engine.api["backward"] == "backward(root) (a module function)"
    assert any("checking Var" in n for n in engine.notes)
    assert gradient_works(engine)


def test_a_node_class_imported_from_a_sibling_is_found(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    write(tmp_path / "autodiff.py", engine_text(cls="Node"))
    model = write(tmp_path / "model.py", "from autodiff import Node\n\nLAYERS = 2\n")
    engine = load(loaded, str(model))
    assert engine.class_name == "Node"
    assert gradient_works(engine)


# -- a missing dependency -------------------------------------------------------


def test_a_missing_module_the_class_needs_is_named_with_pip_install(
    tmp_path: Path,
) -> None:
    text = "from typing_ext_not_here_xyz import Self\n\n" + engine_text(
        cls="Scalar"
    ).replace("def _wrap(self, other):", "def _wrap(self, other) -> Self:")
    path = write(tmp_path / "scalar.py", text)
    with pytest.raises(EngineError) as caught:
        load_engine(f"{path}:Scalar")
    message = str(caught.value)
    assert "typing_ext_not_here_xyz" in message
    assert "pip install typing_ext_not_here_xyz" in message
    assert "\n" not in message


def test_a_missing_module_used_when_an_op_runs_is_named_too(tmp_path: Path) -> None:
    text = "import numpy_not_here_xyz as np\n\n" + engine_text().replace(
        "self.data + other.data", "np.add(self.data, other.data)"
    )
    with pytest.raises(EngineError, match="pip install numpy_not_here_xyz"):
        load_engine(str(write(tmp_path / "engine.py", text)))


def test_a_missing_module_in_a_notebook_names_the_cell(tmp_path: Path) -> None:
    cells = [
        "import numpy_not_here_xyz as np",
        engine_text().replace(
            "self.data * other.data", "np.multiply(self.data, other.data)"
        ),
    ]
    with pytest.raises(EngineError) as caught:
        load_engine(str(notebook(tmp_path / "nb.ipynb", cells)))
    assert "class Value (cell 2) needs module numpy_not_here_xyz" in str(caught.value)


# -- a read-only gradient -------------------------------------------------------

READ_ONLY = (
    engine_text()
    .replace("self.grad", "self._derivative")
    .replace("other.grad", "other._derivative")
    .replace("out.grad", "out._derivative")
    .replace("ROOT.grad", "ROOT._derivative")
    .replace("self._derivative = 1.0", "self._derivative = 1.0")
    + "\n    @property\n    def derivative(self):\n        return self._derivative\n"
)


def test_a_read_only_derivative_is_reset_through_its_attribute(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    engine = load(loaded, str(write(tmp_path / "engine.py", READ_ONLY)))
    assert engine.api["grad"].startswith(".derivative (a read-only property")
    assert "._derivative" in engine.api["grad"]
    answer = engine.recipe("repeated_backward", {"x": 2.0, "y": 3.0})
    assert "result" in answer, answer


def _no_backing_attribute() -> str:
    """A read-only `derivative` over a dict entry: nothing to write through."""
    return (
        READ_ONLY.replace("self._derivative", "self._store['d']")
        .replace("other._derivative", "other._store['d']")
        .replace("out._derivative", "out._store['d']")
        .replace("node._derivative", "node._store['d']")
        .replace("self._store['d'] = 0.0", "self._store = {'d': 0.0}")
    )


def test_gradients_that_cannot_be_reset_are_said_so_in_the_api(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    text = _no_backing_attribute()
    engine = load(loaded, str(write(tmp_path / "engine.py", text)))
    assert "cannot be reset" in engine.api["grad"]


def test_a_probe_needing_a_reset_is_skipped_not_blamed_on_the_engine(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    text = _no_backing_attribute()
    engine = load(loaded, str(write(tmp_path / "engine.py", text)))
    answer = engine.recipe("repeated_backward", {"x": 2.0, "y": 3.0})
    assert "error" not in answer
    assert "cannot reset gradients" in answer["skip"]


# -- a constant inside the function ---------------------------------------------


def test_a_log_with_an_epsilon_inside_is_solved_from_one_point() -> None:
    assert shifted_constant("log", [(0.07, math.log(0.07 + 1e-6))]) == 1e-6
    # The numbers: log(0.07) from an engine computing log(x + 1e-6).
    assert shifted_constant("log", [(0.07, -2.659245751320532)]) == 1e-6
    assert shifted_constant("sqrt", [(2.0, math.sqrt(2.0 + 1e-8))]) == 1e-8
    assert shifted_constant("tanh", [(0.3, math.tanh(0.3 - 1e-7))]) == -1e-7


def test_an_unround_shift_needs_two_agreeing_points() -> None:
    c = 1.2345e-6
    one = [(0.07, math.log(0.07 + c))]
    assert shifted_constant("log", one) is None
    two = [*one, (0.5, math.log(0.5 + c))]
    assert shifted_constant("log", two) == pytest.approx(c, rel=1e-4)
    disagree = [*one, (0.5, math.log(0.5 + 3 * c))]
    assert shifted_constant("log", disagree) is None


@pytest.mark.parametrize(
    ("op", "pairs"),
    [
        ("log", [(0.07, math.log(0.07))]),  # right: no shift
        ("log", [(0.07, 2 * math.log(0.07))]),  # wrong, not a shift
        ("log", [(1.0, math.log(1.0 + 0.5))]),  # a shift, but not small
        ("relu", [(0.5, 0.5 + 1e-6)]),  # no inverse here
        ("exp", [(0.5, -1.0)]),  # no x with exp(x) = -1
    ],
)
def test_values_that_are_not_a_small_shift_get_no_suggestion(
    op: str, pairs: list[tuple[float, float]]
) -> None:
    assert shifted_constant(op, pairs) is None
    assert shift_hint(op, pairs) == ""


def test_the_suggested_op_def_declares_exactly_the_engines_value() -> None:
    c = shifted_constant("log", [(0.07, math.log(0.07 + 1e-6))])
    assert c is not None
    assert op_def_text("log", c) == "log=log(x + 1e-06)"
    assert op_def_text("sqrt", -1e-8) == "sqrt=sqrt(x - 1e-08)"
    hint = op_def_suggestion("log", c)
    assert "--op-def 'log=log(x + 1e-06)'" in hint
    name, _, definition = op_def_text("log", c).partition("=")
    with declared_ops({name: definition}):
        declared = float(OPS["log"].apply_mp([0.07], None))
    assert declared == pytest.approx(math.log(0.07 + 1e-6), rel=1e-15)


def test_an_engine_class_that_fails_to_define_is_the_error_with_cell_and_line(
    tmp_path: Path,
) -> None:
    cells = [
        "import math",
        engine_text().replace("    def _wrap", "    LIMIT = 1 / 0\n\n    def _wrap"),
    ]
    with pytest.raises(EngineError) as caught:
        load_engine(str(notebook(tmp_path / "nb.ipynb", cells)))
    message = str(caught.value)
    assert "nb.ipynb" in message
    assert "cell 2, line 2 (class Value:): ZeroDivisionError" in message
    assert "\n" not in message


def test_a_left_out_call_that_wraps_a_name_does_not_end_it(tmp_path: Path) -> None:
    cells = [engine_text(), "import functools\nValue = functools.total_ordering(Value)"]
    src = notebook_source(str(notebook(tmp_path / "nb.ipynb", cells)))
    assert "class Value" in src.text


def test_a_missing_module_only_a_drawing_method_uses_still_loads(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    text = "import graphviz_not_here_xyz as gv\n" + engine_text().replace(
        "    def _wrap",
        "    def draw(self):\n        return gv.Digraph()\n\n    def _wrap",
    )
    engine = load(loaded, str(write(tmp_path / "engine.py", text)))
    assert gradient_works(engine)
    assert any("graphviz_not_here_xyz" in n for n in engine.notes)


# -- end to end -----------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize(
    "name",
    ["lecture.ipynb", "req_grad.py", "dag.py", "module_backward.py", "read_only.py"],
)
def test_each_pattern_passes_a_whole_check(tmp_path: Path, name: str) -> None:
    from gradcheck.internal.checking.check import check_engine

    if name.endswith(".ipynb"):
        target = notebook(tmp_path / name, LECTURE_CELLS)
    else:
        text = {
            "req_grad.py": REQ_GRAD,
            "dag.py": DAG,
            "module_backward.py": engine_text(cls="Var", backward="function"),
            "read_only.py": READ_ONLY,
        }[name]
        target = write(tmp_path / name, text)
    report = check_engine(str(target), examples=3, seed=0, ops=["add", "mul"])
    assert report.ok, [(c.name, c.message) for c in report.failures]


def test_a_class_needing_a_failed_relative_import_names_both_lines(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    write(package / "__init__.py", "")
    text = "from .base import Base\n" + engine_text().replace(
        "class Value:", "class Value(Base):"
    )
    with pytest.raises(EngineError) as caught:
        load_engine(str(write(package / "engine.py", text)))
    message = str(caught.value)
    assert "engine.py: line 3 (class Value(B" in message
    assert "the import of Base failed, line 1: ModuleNotFoundError" in message
    assert "pip install" not in message and "\n" not in message


def test_a_subclass_beside_its_engine_class_leaves_one_candidate(
    tmp_path: Path, loaded: list[Engine]
) -> None:
    text = engine_text(cls="Var") + "\n\nclass Const(Var):\n    pass\n"
    engine = load(loaded, str(write(tmp_path / "engine.py", text)))
    assert engine.class_name == "Var"
    assert gradient_works(engine)


def test_refusing_the_bundled_micrograd_is_undone_after_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib
    import sys
    import types

    from gradcheck.internal.worker.import_paths import (
        BUILTIN_ROOT,
        BUNDLED,
        bundled_refused,
    )

    # The bundled package as already imported: a module from gradcheck's own
    # micrograd folder (under tox, `import micrograd` may find the checkout's).
    micrograd = types.ModuleType(BUNDLED)
    micrograd.__file__ = str(BUILTIN_ROOT / BUNDLED / "__init__.py")
    monkeypatch.setitem(sys.modules, BUNDLED, micrograd)
    # Only gradcheck's own folder on the path: the import finds the bundled one.
    monkeypatch.setattr(sys, "path", [str(BUILTIN_ROOT)])
    finders = list(sys.meta_path)
    with bundled_refused():
        assert "micrograd" not in sys.modules
        with pytest.raises(ModuleNotFoundError, match="never used in place of yours"):
            importlib.import_module("micrograd")
    assert sys.modules["micrograd"] is micrograd
    assert sys.meta_path == finders


def test_a_package_without_value_points_at_its_module_that_has_one(
    tmp_path: Path,
) -> None:
    # `gradcheck engine micrograd` on the lecture's package: Value is in
    # micrograd.engine, which the error now names.
    from cli_runner import run_cli

    package = tmp_path / "lecturepkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "engine.py").write_text("class Value:\n    pass\n", encoding="utf-8")
    code, _, err = run_cli("engine", "lecturepkg", cwd=tmp_path)
    assert code == 2, err
    assert "lecturepkg.engine defines one" in err, err


@pytest.mark.heavy(seconds=2)
def test_naming_the_built_in_micrograd_by_module_says_whose_it_is() -> None:
    with load_engine("micrograd.engine") as engine:
        assert any("gradcheck's own micrograd" in n for n in engine.notes)
    with load_engine(None) as engine:  # the built-in, asked for as such
        assert not any("gradcheck's own micrograd" in n for n in engine.notes)
