"""Verdicts on depth and range: a lecture engine passes with its limits, and a
wrong derivative hiding outside a narrow range is an error on every seed.

The engines are `engines/verdicts/lecture.py` (recursive topological sort,
`c - x` as `c + (-x)`, tanh and sigmoid through exp) and one-line edits of it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gradcheck import check_engine
from gradcheck.internal.checking.chains import chain_graph, chain_links, chain_pairs
from gradcheck.internal.checking.limits import depth_pairs
from gradcheck.internal.checking.verdict import beyond_limits
from gradcheck.internal.expr.ops import CHAIN_PAIRS, OPS
from gradcheck.internal.expr.parser import parse
from gradcheck.internal.refs.points import SPREAD
from gradcheck.internal.refs.references import reference
from gradcheck.mutants import apply_edits
from gradcheck.report import EngineReport

LECTURE = Path(__file__).parent / "engines" / "verdicts" / "lecture.py"
SEEDS = range(5)
# Every family but the random graphs, which the bugs here do not need.
PROBES = [
    "defined",
    "value",
    "local-derivative",
    "accumulation",
    "propagation",
    "depth",
    "deep-chain",
    "range",
]

EDITS: dict[str, tuple[str, str]] = {
    "tanh_beyond_12": (
        "self.grad += (1 - t**2) * out.grad",
        "self.grad += (1e-6 if abs(self.data) > 12 else 1 - t**2) * out.grad",
    ),
    "exp_below_minus_5": (
        "self.grad += out.data * out.grad",
        "self.grad += (0.0 if self.data < -5 else out.data) * out.grad",
    ),
    "sigmoid_at_minus_10": (
        "self.grad += s * (1 - s) * out.grad",
        "self.grad += (s if self.data <= -10 else s * (1 - s)) * out.grad",
    ),
    "sigmoid_below_minus_10": (
        "self.grad += s * (1 - s) * out.grad",
        "self.grad += (s if self.data < -10 else s * (1 - s)) * out.grad",
    ),
    "log_beyond_10": (
        "self.grad += (1 / self.data) * out.grad",
        "self.grad += (1 / (self.data + 1) if self.data > 10 else 1 / self.data)"
        " * out.grad",
    ),
    "log_clamped": (
        'out = Value(math.log(self.data), (self,), "log")',
        'out = Value(math.log(max(self.data, 1e-10)), (self,), "log")',
    ),
    # tanh as (e^x - e^-x)/(e^x + e^-x): overflows at +710 and at -710.
    "tanh_exp_both_sides": (
        "e = math.exp(2 * self.data)\n        t = (e - 1) / (e + 1)",
        "p, m = math.exp(self.data), math.exp(-self.data)\n"
        "        t = (p - m) / (p + m)",
    ),
    "neg_broken": ("        return self * -1\n", "        return self * -1.0001\n"),
    "mul_off_5e_4": (
        'out = Value(self.data * other.data, (self, other), "*")',
        'out = Value(self.data * other.data * (1 + 5e-4), (self, other), "*")',
    ),
}
# The op each bug is in, and the categories its failure may carry.
BLAMED = {
    "tanh_beyond_12": "tanh",
    "exp_below_minus_5": "exp",
    "sigmoid_at_minus_10": "sigmoid",
    "sigmoid_below_minus_10": "sigmoid",
    "log_beyond_10": "log",
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verdicts")
    base = LECTURE.read_text(encoding="utf-8")
    files = {"lecture": LECTURE}
    for name, edit in EDITS.items():
        path = folder / f"{name}.py"
        path.write_text(apply_edits(base, (edit,), name), encoding="utf-8")
        files[name] = path
    return files


def run(path: Path, seed: int, checks: list[str] | None = None) -> EngineReport:
    return check_engine(str(path), examples=0, seed=seed, checks=checks or PROBES)


def engine_precision(report: EngineReport) -> str | None:
    """The storage-format limit's message, if the report has one."""
    return next((x.message for x in report.limits if x.name == "precision"), None)


def limit_names(report: EngineReport) -> set[str]:
    return {limit.name for limit in report.limits}


@pytest.mark.heavy(seconds=4)
@pytest.mark.parametrize("seed", [0, 3])
def test_the_recursive_lecture_engine_passes_with_its_limits(
    engines: dict[str, Path], seed: int
) -> None:
    report = check_engine(str(engines["lecture"]), examples=30, seed=seed)
    assert [(c.name, c.message) for c in report.failures] == []
    assert report.ok
    names = limit_names(report)
    assert {"depth", "range[tanh]", "range[sigmoid]", "precision[tanh]"} <= names
    deep = next(c for c in report.checks if c.name.startswith("deep-chain["))
    depth = next(limit for limit in report.limits if limit.name == "depth")
    # The deep chain runs below the measured bound, on the searched chain.
    assert deep.status == "pass"
    assert int(deep.name[len("deep-chain[") : -1]) < (depth.bound or 0)


@pytest.mark.heavy(seconds=6)
@pytest.mark.parametrize("name", sorted(BLAMED))
def test_a_derivative_wrong_outside_a_narrow_range_is_an_error_on_every_seed(
    engines: dict[str, Path], name: str
) -> None:
    op = BLAMED[name]
    for seed in SEEDS:
        report = run(engines[name], seed)
        assert not report.ok, (name, seed)
        named = [c for c in report.failures if f"[{op}]" in c.name]
        assert named, (seed, [(c.name, c.message) for c in report.failures])
        assert named[0].category == "local-derivative", named[0].message
        # Never a limit: no float64 rounding makes these errors.
        assert f"range[{op}]" not in limit_names(report)


@pytest.mark.heavy(seconds=3)
def test_a_broken_neg_does_not_shorten_the_depth(engines: dict[str, Path]) -> None:
    report = run(engines["neg_broken"], 0)
    assert any(c.name == "local-derivative[neg]" for c in report.failures)
    depth = next(c for c in report.checks if c.name == "depth")
    assert depth.status == "pass", depth.message
    limit = next(limit for limit in report.limits if limit.name == "depth")
    assert (limit.bound or 0) > 500
    # A wrong value in neg stops the range probes of no other op.
    assert {"range[tanh]", "range[sigmoid]"} <= limit_names(report)


def test_the_chain_links_come_from_the_op_table() -> None:
    assert CHAIN_PAIRS, "the op table defines no chain links"
    for (first, c1), (second, c2) in CHAIN_PAIRS:
        assert OPS[first].undo == (c1, second, c2)
    pairs = chain_pairs(OPS)
    assert pairs == CHAIN_PAIRS
    # The Graph and the link list are one chain, pairs in turn.
    graph = chain_graph(pairs, 12)
    ops = [node.op for node in graph.nodes[1:]]
    assert ops == [op for op, _ in chain_links(pairs, 12)]
    assert ops[:2] == [pairs[0][0][0], pairs[0][1][0]]


class _Ops:
    def __init__(self, supported: tuple[str, ...]) -> None:
        self.supported = supported


def test_depth_chains_leave_out_ops_that_failed() -> None:
    engine = _Ops(("add", "mul", "neg", "mul_const", "rsub"))
    every = depth_pairs(engine)  # type: ignore[arg-type]
    assert {p[0][0] for p in every} == {"neg", "mul_const", "rsub"}
    without = depth_pairs(engine, ["add", "mul", "mul_const", "rsub"])  # type: ignore[arg-type]
    assert {p[0][0] for p in without} == {"mul_const", "rsub"}


def test_the_probe_points_cover_the_normal_range_on_both_sides() -> None:
    assert min(SPREAD) == -10.0 and max(SPREAD) == 10.0
    assert any(-8 < x < -4 for x in SPREAD) and any(4 < x < 8 for x in SPREAD)
    for op in ("tanh", "sigmoid", "exp"):
        points = OPS[op].far_points
        assert any(x > 10 for x in points) and any(x < -10 for x in points), op


@pytest.mark.heavy(seconds=2)
def test_a_wrong_product_in_a_lecture_engine_is_named_as_the_product(
    engines: dict[str, Path],
) -> None:
    """neg is `self * -1` here: the wrong `*` must be named, not `-x`."""
    report = run(engines["mul_off_5e_4"], 0, ["value"])
    value = next(c for c in report.checks if c.name == "value")
    assert value.status == "fail" and value.counterexample is not None
    assert value.counterexample.graph.ops_used() == {"mul"}
    assert engine_precision(report) is None


@pytest.mark.heavy(seconds=2)
def test_ops_built_from_a_wrong_star_blame_the_star(gallery: Any) -> None:
    """`-`, neg and `x * 3` call `*`: their overwrite hints name `*`, not `-`."""
    from gradcheck.internal.checking.hint_words import blamed_symbol
    from gradcheck.mutants import mutant_named

    report = gallery.mutant(mutant_named("mul-grad-overwrites"), examples=25, seed=3)
    blamed = {c.name: blamed_symbol(c.message) for c in report.failures}
    assert blamed.get("accumulation[mul]") == "*"
    assert {s for s in blamed.values() if s is not None} == {"*"}, blamed


@pytest.mark.heavy(seconds=3)
def test_a_clamped_log_is_a_limit_whose_hint_names_the_clamp(
    engines: dict[str, Path],
) -> None:
    report = run(engines["log_clamped"], 0, ["range"])
    assert report.ok, [(c.name, c.message) for c in report.failures]
    [limit] = [x for x in report.limits if x.name == "precision[log]"]
    assert "log(1e-10)" in limit.hint and "max(x, 1e-10)" in limit.hint, limit.hint
    # The lecture's tanh is inexact near 0 too, but not from a clamp.
    report = run(engines["lecture"], 0, ["range"])
    [tanh] = [x for x in report.limits if x.name == "precision[tanh]"]
    assert "1e-" not in tanh.hint, tanh.hint


@pytest.mark.heavy(seconds=2)
def test_a_range_limit_is_measured_on_each_side_that_fails(
    engines: dict[str, Path],
) -> None:
    report = run(engines["tanh_exp_both_sides"], 0, ["range"])
    assert report.ok, [(c.name, c.message) for c in report.failures]
    found = {
        (limit.bound or 0) > 0: limit for limit in report.limits
        if limit.name == "range[tanh]"
    }  # fmt: skip
    assert set(found) == {True, False}
    assert 709 < (found[True].bound or 0) < 712
    assert -712 < (found[False].bound or 0) < -709
    # The words follow the measured bound: exp(x) and exp(-x), not exp(2x).
    assert "x ≥" in found[True].message and "exp(x)" in found[True].message
    assert "x ≤" in found[False].message and "exp(-x)" in found[False].message
    # The lecture's exp(2x) overflows near 355, on one side only.
    lecture = [x for x in run(engines["lecture"], 0, ["range"]).limits]
    tanh = [x for x in lecture if x.name == "range[tanh]"]
    assert len(tanh) == 1 and "exp(2x)" in tanh[0].message
    sigmoid = next(x for x in lecture if x.name == "range[sigmoid]")
    assert "exp(-x)" in sigmoid.message


def test_an_example_past_either_measured_bound_is_not_judged() -> None:
    engine = SimpleNamespace(range_bounds={"tanh": (710.2, -710.2)})
    for x, past in ((-1000.0, True), (1000.0, True), (500.0, False)):
        graph, point = parse("tanh(x)"), {"x": x}
        ref = reference(graph, point)
        assert bool(beyond_limits(engine, graph, ref)) is past, x  # type: ignore[arg-type]


@pytest.mark.heavy(seconds=3)
def test_under_strict_a_limit_makes_the_status_fail_everywhere(
    engines: dict[str, Path],
) -> None:
    from cli_runner import run_cli

    report = check_engine(
        str(engines["lecture"]), examples=0, seed=0, checks=["range"], strict=True
    )
    assert report.limits and report.status == "fail" and report.exit_code() == 1
    code, out, _ = run_cli(
        "engine", str(engines["lecture"]), "--strict", "--only", "depth", "-q"
    )
    assert code == 1 and out.startswith("FAIL "), out
    assert "(errors under --strict)" in out


@pytest.mark.heavy(seconds=3)
def test_only_range_shows_the_limits_that_family_found(
    engines: dict[str, Path],
) -> None:
    from cli_runner import run_cli

    code, out, err = run_cli("engine", str(engines["lecture"]), "--only", "range")
    assert (code, err) == (0, ""), err
    assert "range[tanh]" in out and "no such check ran" not in out
