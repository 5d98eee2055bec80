"""The mutant catalogue: every mutant applies, imports, and is really buggy.

The correct engines (the lecture-style `BASE_ENGINE` and the tape engine in
`tests/engines/`) are checked by hand and against mpmath; each mutant gets a
tiny program on which it gives a different answer from the base engine (or
raises), with both answers worked out by hand where that is easy.
"""

from __future__ import annotations

import importlib.util
import math
import random
import re
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mpmath
import pytest

from gradcheck.cli.mutants import mutant_depth
from gradcheck.mutants import BASE_ENGINE, CATEGORIES, MUTANTS, Mutant, mutant_named

VOCABULARY = (
    "value",
    "local-derivative",
    "accumulation",
    "propagation",
    "zero-grad",
    "crash",
)
TAPE_ENGINE = Path(__file__).parent / "engines" / "tape_engine.py"
NAMES = [m.name for m in MUTANTS]


def load(name: str, source: str) -> types.ModuleType:
    """Compile and run `source` in a fresh module (nothing shared between tests)."""
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def load_tape() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("tape_engine", TAPE_ENGINE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300)


# -- (a), (b): the catalogue itself ------------------------------------------


def test_categories_are_the_checker_vocabulary() -> None:
    assert CATEGORIES == VOCABULARY


@pytest.mark.parametrize("mutant", MUTANTS, ids=NAMES)
def test_edits_apply_and_change_the_engine(mutant: Mutant) -> None:
    source = mutant.source()
    assert source != BASE_ENGINE
    assert mutant.edits
    for _old, new in mutant.edits:
        assert new in source


def test_an_edit_that_does_not_match_exactly_once_is_refused() -> None:
    missing = Mutant("x", "value", "Nothing.", (("no such text", "y"),))
    with pytest.raises(ValueError, match="found it 0 times"):
        missing.source()
    repeated = Mutant("x", "value", "Twice.", (("out._backward = _backward", ""),))
    with pytest.raises(ValueError, match="exactly"):
        repeated.source()
    no_op = Mutant("x", "value", "Same.", (("def backward", "def backward"),))
    with pytest.raises(ValueError, match="change nothing"):
        no_op.source()


def test_names_are_unique_kebab_case() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for name in NAMES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", name), name


def test_other_categories_are_in_the_vocabulary() -> None:
    for mutant in MUTANTS:
        assert set(mutant.also) <= set(VOCABULARY) - {mutant.category}


def test_enough_mutants_in_every_category() -> None:
    assert len(MUTANTS) >= 34
    counts = Counter(m.category for m in MUTANTS)
    assert set(counts) == set(VOCABULARY)
    assert min(counts.values()) >= 3
    assert counts["local-derivative"] >= 10
    assert counts["accumulation"] >= 8


@pytest.mark.parametrize("mutant", MUTANTS, ids=NAMES)
def test_description_is_one_sentence(mutant: Mutant) -> None:
    text = mutant.description
    assert text.endswith(".")
    assert ". " not in text
    assert "\n" not in text


def test_mutant_named() -> None:
    assert mutant_named("mul-grad-overwrites").category == "accumulation"
    with pytest.raises(KeyError, match="known mutants"):
        mutant_named("no-such-mutant")


def test_diff_shows_the_edit() -> None:
    diff = mutant_named("tanh-one-minus-t").diff()
    assert "-            self.grad += (1 - t**2) * out.grad" in diff
    assert "+            self.grad += (1 - t) * out.grad" in diff


# -- (c): everything imports --------------------------------------------------


def test_base_engine_imports() -> None:
    module = load("base_engine", BASE_ENGINE)
    for name in ("Value", "Module", "Neuron", "Layer", "MLP"):
        assert hasattr(module, name)


@pytest.mark.parametrize("mutant", MUTANTS, ids=NAMES)
def test_mutant_imports(mutant: Mutant) -> None:
    module = load(mutant.module_name, mutant.source())
    assert callable(module.Value)
    assert callable(module.MLP)


def test_write_gives_an_importable_file(tmp_path: Path) -> None:
    mutant = mutant_named("mul-grad-overwrites")
    path = mutant.write(tmp_path)
    assert path == tmp_path / "mul_grad_overwrites.py"
    assert path.read_text(encoding="utf-8") == mutant.source()
    spec = importlib.util.spec_from_file_location("mul_grad_overwrites", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = module.Value(3.0)
    (x * x).backward()
    assert x.grad == 3.0  # the bug: 2x would be right


# -- (d): the two correct engines ---------------------------------------------


@pytest.fixture(params=["base", "tape"])
def engine(request: pytest.FixtureRequest) -> types.ModuleType:
    if request.param == "base":
        return load("base_engine", BASE_ENGINE)
    return load_tape()


def test_lecture_example(engine: types.ModuleType) -> None:
    V = engine.Value
    a, b, c, f = V(2.0), V(-3.0), V(10.0), V(-2.0)
    e = a * b
    d = e + c
    L = d * f
    L.backward()
    assert L.data == -8.0
    assert [a.grad, b.grad, c.grad, f.grad] == [6.0, -4.0, -2.0, 4.0]


def test_reuse(engine: types.ModuleType) -> None:
    V = engine.Value
    a = V(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    b = V(3.0)
    (b * b).backward()
    assert b.grad == 6.0


def test_micrograd_issue_2_graph(engine: types.ModuleType) -> None:
    V = engine.Value
    a = V(1.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad == 4.0


def test_diamond(engine: types.ModuleType) -> None:
    # u feeds both v = tanh(u) and w = u * u: dL/du = (1 - tanh(u)**2) + 2u.
    V = engine.Value
    a = V(0.25)
    u = a * 3
    L = u.tanh() + u * u
    L.backward()
    expected_u = (1 - math.tanh(0.75) ** 2) + 1.5
    assert close(u.grad, expected_u)
    assert close(a.grad, 3 * expected_u)


@pytest.mark.heavy
def test_deep_chain(engine: types.ModuleType) -> None:
    V = engine.Value
    x = V(0.5)
    y = x
    for _ in range(3000):
        y = y * 1.0 + 1.0
    y.backward()
    assert y.data == 3000.5
    assert x.grad == 1.0


def test_int_data(engine: types.ModuleType) -> None:
    V = engine.Value
    a, b = V(2), V(3)
    L = a * b + a
    L.backward()
    assert L.data == 8
    assert (a.grad, b.grad) == (4, 2)


def test_tape_engine_repeated_backward_is_linear() -> None:
    V = load_tape().Value
    a = V(2.0)
    u = a * a
    L = u * u
    L.backward()
    L.backward()
    assert a.grad == 2 * 4 * 2.0**3
    assert u.grad == 2 * 2 * 4.0


def test_tape_engine_keeps_ints_and_starts_at_int_zero() -> None:
    V = load_tape().Value
    x = V(2)
    assert x.grad == 0 and isinstance(x.grad, int)
    assert isinstance((x * 3).data, int)


Unary = Callable[[Any], Any]

# (name, engine expression, mpmath function, points): each op, both operand
# orders for binary ops with a number.
UNARY_CASES: list[tuple[str, Unary, Unary, tuple[float, ...]]] = [
    ("x+c", lambda x: x + 1.5, lambda x: x + 1.5, (0.7, -1.3)),
    ("c+x", lambda x: 1.5 + x, lambda x: 1.5 + x, (0.7, -1.3)),
    ("x-c", lambda x: x - 1.5, lambda x: x - 1.5, (0.7, -1.3)),
    ("c-x", lambda x: 1.5 - x, lambda x: 1.5 - x, (0.7, -1.3)),
    ("x*c", lambda x: x * 1.5, lambda x: x * 1.5, (0.7, -1.3)),
    ("c*x", lambda x: 1.5 * x, lambda x: 1.5 * x, (0.7, -1.3)),
    ("x/c", lambda x: x / 1.5, lambda x: x / 1.5, (0.7, -1.3)),
    ("c/x", lambda x: 1.5 / x, lambda x: 1.5 / x, (0.7, -1.3)),
    ("-x", lambda x: -x, lambda x: -x, (0.7, -1.3)),
    ("x**2", lambda x: x**2, lambda x: x**2, (0.7, -1.3)),
    ("x**3", lambda x: x**3, lambda x: x**3, (0.7, -1.3)),
    ("x**-1", lambda x: x**-1, lambda x: x**-1, (0.7, -1.3)),
    ("x**0.5", lambda x: x**0.5, mpmath.sqrt, (0.7, 1.9)),
    ("x**-2.5", lambda x: x**-2.5, lambda x: x**-2.5, (0.7, 1.9)),
    ("tanh", lambda x: x.tanh(), mpmath.tanh, (0.7, -1.9)),
    ("exp", lambda x: x.exp(), mpmath.exp, (0.7, -1.9)),
    ("log", lambda x: x.log(), mpmath.log, (0.7, 1.9)),
    ("relu", lambda x: x.relu(), lambda x: max(x, 0), (0.7, -1.9)),
    ("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + mpmath.exp(-x)), (0.7, -1.9)),
]


def assert_matches(got: float, want: Any) -> None:
    want = float(want)
    assert math.isclose(got, want, rel_tol=1e-13, abs_tol=1e-15), (got, want)


@pytest.mark.parametrize(
    ("build", "reference", "points"),
    [case[1:] for case in UNARY_CASES],
    ids=[case[0] for case in UNARY_CASES],
)
def test_each_op_against_mpmath(
    engine: types.ModuleType,
    build: Unary,
    reference: Unary,
    points: tuple[float, ...],
) -> None:
    for point in points:
        x = engine.Value(point)
        out = build(x)
        out.backward()
        with mpmath.workdps(40):
            assert_matches(out.data, reference(mpmath.mpf(point)))
            assert_matches(x.grad, mpmath.diff(reference, mpmath.mpf(point)))


Binary = Callable[[Any, Any], Any]
BINARY_CASES: list[tuple[str, Binary]] = [
    ("add", lambda x, y: x + y),
    ("sub", lambda x, y: x - y),
    ("mul", lambda x, y: x * y),
    ("div", lambda x, y: x / y),
]


@pytest.mark.parametrize(
    "op", [c[1] for c in BINARY_CASES], ids=[c[0] for c in BINARY_CASES]
)
def test_binary_ops_against_mpmath(engine: types.ModuleType, op: Binary) -> None:
    for px, py in ((0.7, -1.3), (-2.9, 0.45)):
        x, y = engine.Value(px), engine.Value(py)
        out = op(x, y)
        out.backward()
        with mpmath.workdps(40):
            mx, my = mpmath.mpf(px), mpmath.mpf(py)
            assert_matches(out.data, op(mx, my))
            assert_matches(x.grad, mpmath.diff(op, (mx, my), (1, 0)))
            assert_matches(y.grad, mpmath.diff(op, (mx, my), (0, 1)))


def test_base_engine_sigmoid_and_tanh_do_not_overflow(engine: types.ModuleType) -> None:
    for x in (-800.0, 800.0):
        for fn in ("sigmoid", "tanh"):
            v = engine.Value(x)
            out = getattr(v, fn)()
            out.backward()
            assert math.isfinite(out.data) and math.isfinite(v.grad)


def test_base_mlp() -> None:
    module = load("base_engine", BASE_ENGINE)
    random.seed(7)
    mlp = module.MLP(3, [4, 4, 1])
    out = mlp([2.0, 3.0, -1.0])
    assert isinstance(out, module.Value)
    assert len(mlp.parameters()) == 4 * 4 + 4 * 5 + 1 * 5
    out.backward()
    assert any(p.grad != 0.0 for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())
    assert isinstance(module.MLP(2, (3, 2))([1.0, 2.0]), list)


# -- (e): every mutant really is buggy -----------------------------------------

Program = Callable[[types.ModuleType], tuple[float, ...]]


def grads(build: Callable[..., Any], *inputs: float) -> Program:
    """Program: the gradients of `build(*leaves)` with respect to its leaves."""

    def program(module: types.ModuleType) -> tuple[float, ...]:
        leaves = [module.Value(x) for x in inputs]
        build(*leaves).backward()
        return tuple(leaf.grad for leaf in leaves)

    return program


def forward(build: Callable[..., Any], *inputs: float) -> Program:
    """Program: the forward value of `build(*leaves)`."""

    def program(module: types.ModuleType) -> tuple[float, ...]:
        return (build(*[module.Value(x) for x in inputs]).data,)

    return program


def second_backward(module: types.ModuleType) -> tuple[float, ...]:
    """Backward over a graph, then over a new graph sharing its node u."""
    a = module.Value(2.0)
    u = a * 3
    u.tanh().backward()
    a.grad = u.grad = 0.0
    (u * 2).backward()
    return (a.grad,)


def deep_chain(module: types.ModuleType) -> tuple[float, ...]:
    x = module.Value(0.5)
    y = x
    for _ in range(3000):
        y = y + 1
    y.backward()
    return (x.grad,)


def stale_grads_after_zero_grad(module: types.ModuleType) -> tuple[float, ...]:
    random.seed(3)
    mlp = module.MLP(2, [3, 1])
    mlp([1.0, -2.0]).backward()
    mlp.zero_grad()
    return (max(abs(p.grad) for p in mlp.parameters()),)


def parameter_count(module: types.ModuleType) -> tuple[float, ...]:
    return (len(module.MLP(2, [3, 1]).parameters()),)


def diamond(a: Any) -> Any:
    """u = 3a feeds two ops: dL/da = 3 (2u + 2) = 42 at a = 2."""
    u = a * 3
    return u * u + u * 2


@dataclass(frozen=True)
class Manifest:
    program: Program
    right: tuple[float, ...]
    # The buggy answer: a value worked out by hand, an exception the mutant
    # raises, or None when it depends on set order (then: only "not right").
    wrong: tuple[float, ...] | type[BaseException] | None


T = math.tanh(0.5)
DT = 1 - T**2
E = math.exp(0.5)
S = 1 / (1 + math.exp(-0.5))
MUL = (-3.0, 2.0)  # d(ab)/da, d(ab)/db at a = 2, b = -3

MANIFESTS: dict[str, Manifest] = {
    # value
    "rsub-forward-reversed": Manifest(forward(lambda x: 5 - x, 2.0), (3.0,), (-3.0,)),
    "rtruediv-forward-reversed": Manifest(
        forward(lambda x: 1 / x, 4.0), (0.25,), (4.0,)
    ),
    "sigmoid-negative-branch-flipped": Manifest(
        forward(lambda x: x.sigmoid(), -1.0),
        (1 / (1 + math.e),),
        (1 / (1 + 1 / math.e),),
    ),
    "log-forward-base-10": Manifest(
        forward(lambda x: x.log(), 2.0), (math.log(2.0),), (math.log10(2.0),)
    ),
    # local-derivative
    "tanh-one-minus-t": Manifest(grads(lambda x: x.tanh(), 0.5), (DT,), (1 - T,)),
    "tanh-one-plus-t-squared": Manifest(
        grads(lambda x: x.tanh(), 0.5), (DT,), (1 + T**2,)
    ),
    "tanh-precedence": Manifest(
        grads(lambda x: x.tanh() * 3, 0.5), (3 * DT,), (1 - 3 * T**2,)
    ),
    "tanh-derivative-from-input": Manifest(
        grads(lambda x: x.tanh(), 0.5), (DT,), (0.75,)
    ),
    "tanh-finite-difference": Manifest(grads(lambda x: x.tanh(), 0.5), (DT,), None),
    "exp-uses-input": Manifest(grads(lambda x: x.exp(), 0.5), (E,), (0.5,)),
    "exp-missing-upstream": Manifest(grads(lambda x: x.exp() * 3, 0.5), (3 * E,), (E,)),
    "pow-exponent-not-decremented": Manifest(
        grads(lambda x: x**3, 2.0), (12.0,), (24.0,)
    ),
    "pow-uses-output": Manifest(grads(lambda x: x**3, 2.0), (12.0,), (32.0,)),
    "mul-both-to-self": Manifest(
        grads(lambda a, b: a * b, 2.0, -3.0), MUL, (-1.0, 0.0)
    ),
    "mul-own-value": Manifest(grads(lambda a, b: a * b, 2.0, -3.0), MUL, (2.0, -3.0)),
    "mul-self-grad-for-out-grad": Manifest(
        grads(lambda a, b: a * b, 2.0, -3.0), MUL, (0.0, 0.0)
    ),
    "div-backward-copied-from-mul": Manifest(
        grads(lambda a, b: a / b, 3.0, 2.0), (0.5, -0.75), (2.0, 3.0)
    ),
    "div-quotient-rule-sign": Manifest(
        grads(lambda a, b: a / b, 3.0, 2.0), (0.5, -0.75), (0.5, 0.75)
    ),
    "div-denominator-not-squared": Manifest(
        grads(lambda a, b: a / b, 3.0, 2.0), (0.5, -0.75), (0.5, -1.5)
    ),
    "relu-mask-from-grad": Manifest(grads(lambda x: x.relu(), 2.0), (1.0,), (0.0,)),
    "relu-no-mask": Manifest(grads(lambda x: x.relu(), -2.0), (0.0,), (1.0,)),
    "relu-no-backward": Manifest(grads(lambda x: x.relu(), 2.0), (1.0,), (0.0,)),
    "log-missing-upstream": Manifest(grads(lambda x: x.log() * 3, 2.0), (1.5,), (0.5,)),
    "log-epsilon-guard": Manifest(
        grads(lambda x: x.log(), 2.0), (0.5,), (1 / (2 + 1e-7),)
    ),
    "sigmoid-plus-instead-of-times": Manifest(
        grads(lambda x: x.sigmoid(), 0.5), (S * (1 - S),), (S * (1 - S) + 1,)
    ),
    "sigmoid-derivative-from-input": Manifest(
        grads(lambda x: x.sigmoid(), 0.5), (S * (1 - S),), (0.25,)
    ),
    # accumulation
    "add-grad-overwrites": Manifest(grads(lambda a: a + a, 3.0), (2.0,), (1.0,)),
    "mul-grad-overwrites": Manifest(grads(lambda a: a * a, 3.0), (6.0,), (3.0,)),
    "tanh-grad-overwrites": Manifest(
        grads(lambda x: x.tanh() + x, 0.5), (1 + DT,), (DT,)
    ),
    "exp-grad-overwrites": Manifest(grads(lambda x: x.exp() + x, 0.5), (E + 1,), (E,)),
    "pow-grad-overwrites": Manifest(grads(lambda x: x**3 + x, 2.0), (13.0,), (12.0,)),
    "topo-no-visited-set": Manifest(grads(diamond, 2.0), (42.0,), None),
    "visited-keyed-by-data": Manifest(
        grads(lambda a, b: a * b + b * a, 2.0, 3.0), (6.0, 4.0), (3.0, 2.0)
    ),
    "persistent-visited-set": Manifest(second_backward, (6.0,), (0.0,)),
    "visited-flag-on-nodes": Manifest(second_backward, (6.0,), (0.0,)),
    "preorder-stack-walk": Manifest(grads(diamond, 2.0), (42.0,), None),
    "push-to-children-no-topo": Manifest(grads(diamond, 2.0), (42.0,), None),
    # propagation
    "root-not-seeded": Manifest(grads(lambda a, b: a * b, 2.0, -3.0), MUL, (0.0, 0.0)),
    "root-seeded-after-loop": Manifest(
        grads(lambda a, b: a * b, 2.0, -3.0), MUL, (0.0, 0.0)
    ),
    "topo-walked-forwards": Manifest(
        grads(lambda x: x.tanh().exp(), 0.5), (math.exp(T) * DT,), (0.0,)
    ),
    "recursive-topo": Manifest(deep_chain, (1.0,), RecursionError),
    # zero-grad
    "zero-grad-noop": Manifest(stale_grads_after_zero_grad, (0.0,), None),
    "zero-grad-resets-data": Manifest(stale_grads_after_zero_grad, (0.0,), None),
    "parameters-omit-bias": Manifest(parameter_count, (13,), (9,)),
    "layer-parameters-return-in-loop": Manifest(parameter_count, (13,), (7,)),
    # crash
    "exp-backward-nameerror": Manifest(grads(lambda x: x.exp(), 0.5), (E,), NameError),
    "relu-backward-compares-value": Manifest(
        grads(lambda x: x.relu(), 2.0), (1.0,), TypeError
    ),
    "sigmoid-backward-math-on-value": Manifest(
        grads(lambda x: x.sigmoid(), 0.5), (S * (1 - S),), TypeError
    ),
    "pow-exponent-dot-data": Manifest(
        grads(lambda x: x**3, 2.0), (12.0,), AttributeError
    ),
    "rtruediv-misspelt": Manifest(forward(lambda x: 1 / x, 2.0), (0.5,), TypeError),
    "sub-needs-missing-neg": Manifest(
        forward(lambda x, y: x - y, 2.0, 0.5), (1.5,), TypeError
    ),
}


def same(got: tuple[float, ...], want: tuple[float, ...]) -> bool:
    return len(got) == len(want) and all(
        close(g, w) for g, w in zip(got, want, strict=True)
    )


def test_every_mutant_has_a_manifest() -> None:
    assert set(MANIFESTS) == set(NAMES)


@pytest.mark.parametrize("mutant", MUTANTS, ids=NAMES)
def test_mutant_manifests_its_bug(mutant: Mutant) -> None:
    manifest = MANIFESTS[mutant.name]
    base = load("base_engine", BASE_ENGINE)
    assert same(manifest.program(base), manifest.right)

    buggy = load(mutant.module_name, mutant.source())
    if isinstance(manifest.wrong, type):
        assert mutant.category in ("crash", "propagation")
        with pytest.raises(manifest.wrong):
            manifest.program(buggy)
        return
    got = manifest.program(buggy)
    assert not same(got, manifest.right), f"{mutant.name} gave the right answer {got}"
    if manifest.wrong is not None:
        assert same(got, manifest.wrong), f"{mutant.name}: {got} != {manifest.wrong}"


@pytest.mark.parametrize("name", ["tanh-finite-difference", "log-epsilon-guard"])
def test_almost_right_mutants_are_off_by_about_1e_minus_7(name: str) -> None:
    manifest = MANIFESTS[name]
    mutant = mutant_named(name)
    (got,) = manifest.program(load(mutant.module_name, mutant.source()))
    (right,) = manifest.right
    assert 1e-9 < abs(got - right) / abs(right) < 1e-5


@pytest.mark.heavy
@pytest.mark.parametrize(
    "mutant",
    [m for m in MUTANTS if m.category in ("accumulation", "local-derivative")],
    ids=[m.name for m in MUTANTS if m.category in ("accumulation", "local-derivative")],
)
def test_gradient_mutants_keep_forward_values(mutant: Mutant) -> None:
    # A gradient bug must not also be a value bug, or the category is muddled.
    base = load("base_engine", BASE_ENGINE)
    buggy = load(mutant.module_name, mutant.source())
    programs = [
        lambda V: V(0.5) + 2.0 - V(-1.25) * 3.0 / V(1.5),
        lambda V: 1.0 - V(0.3) ** 2 + 2.0 / V(0.7),
        lambda V: V(0.4).tanh() + V(-0.6).exp() + V(1.7).log(),
        lambda V: V(-0.8).relu() + V(0.8).relu() + V(-0.9).sigmoid() + V(0.9).sigmoid(),
    ]
    for program in programs:
        assert program(buggy.Value).data == program(base.Value).data


# -- (f): running the gallery cheaply ------------------------------------------


def test_session_gallery_checks_each_mutant_once(gallery: Any) -> None:
    calls: list[tuple[str, int, int, int]] = []

    def fake_check(target: Any, *, examples: int, seed: int, max_depth: int) -> Any:
        calls.append((target.name, examples, seed, max_depth))
        return {"checks": [target.name]}

    first = gallery.check("m", "src", examples=2, seed=1, run=fake_check)
    first["checks"].append("changed by a test")
    again = gallery.check("m", "src", examples=2, seed=1, run=fake_check)
    other = gallery.check("m", "src", examples=3, seed=1, run=fake_check)
    depth = mutant_depth(None)
    assert calls == [("m", 2, 1, depth), ("m", 3, 1, depth)]
    assert again == {"checks": ["m"]}  # a copy: one test cannot spoil another's
    assert other == {"checks": ["m"]}


@pytest.mark.heavy
def test_known_category_cuts_shrinking_short(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradcheck.internal.checking.random_graphs as rg
    from gradcheck.internal.checking.engine_client import load_engine, load_source

    monkeypatch.setattr(rg, "KNOWN_SHRINK_BUDGET", 3)
    mutant = mutant_named("rsub-forward-reversed")
    with load_engine(load_source(mutant.name, mutant.source())) as engine:
        check = rg.run_random_graphs(
            engine, seed=3, examples=25, max_nodes=30, known_categories={"value"}
        )
    assert check.status == "fail" and check.category == "value"
    assert check.counterexample is not None
    assert check.message.endswith(rg.CUT_SHORT)


def test_the_gallery_searches_depth_as_deep_as_a_finding_needs() -> None:
    """The deep probe's chain, or a mutant's own min_depth when deeper."""
    from gradcheck.internal.checking.limits import NORMAL_DEPTH
    from gradcheck.internal.checking.probes import DEEP

    assert mutant_depth(None) == max(DEEP, NORMAL_DEPTH)
    assert mutant_depth(100) == max(DEEP, NORMAL_DEPTH)
    assert mutant_depth(DEEP * 4) == DEEP * 4
    deep = [m for m in MUTANTS if m.min_depth]
    assert deep, "a mutant whose flaw is its depth limit"
    assert all(mutant_depth(m.min_depth) >= m.min_depth for m in deep)
