"""JUnit XML and DOT output of engine reports and counterexamples."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradcheck.checking.check import check_engine
from gradcheck.checking.engines import load_source
from gradcheck.expr.graph import GraphBuilder
from gradcheck.mutants import mutant_named
from gradcheck.output.dot import MAX_NODES, counterexample_dot, safe_name, write_dot
from gradcheck.output.junit import junit_tree, write_junit
from gradcheck.report import FAIL, SKIP, Check, Counterexample, EngineReport


@pytest.fixture(scope="module")
def buggy_report() -> EngineReport:
    module = load_source("mul-overwrites", mutant_named("mul-grad-overwrites").source())
    return check_engine(module, examples=0, seed=2)


def test_junit_has_one_testcase_per_check(
    buggy_report: EngineReport, tmp_path: Path
) -> None:
    buggy_report.checks.append(Check("skipped-probe", "zero-grad", SKIP, "no MLP"))
    path = write_junit(buggy_report, tmp_path / "deep" / "junit.xml")
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c.name for c in buggy_report.checks]
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == len(buggy_report.failures) == int(suite.get("failures", "-1"))
    failure = failed[0].find("failure")
    assert failure is not None
    assert failure.get("type") in ("accumulation", "local-derivative", "propagation")
    assert "seed: 2" in (failure.text or "")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == 1 and suite.get("skipped") == "1"
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["seed"] == "2"


def test_junit_escapes_awkward_text() -> None:
    report = EngineReport('e<&>"', 1, [], {})
    report.checks.append(Check("a<b>&c", "value", FAIL, 'x < y & "z" \x1b'))
    text = ET.tostring(junit_tree(report).getroot(), encoding="unicode")
    assert ET.fromstring(text).find("testsuite") is not None


def _example_with_divergence() -> Counterexample:
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    graph = b.build()
    return Counterexample(
        graph, {"x": 1.5}, 2.25, "2.25", [], 0, "overwritten",
        engine_grads=[1.5, 1.0], reference_adjoints=[3.0, 1.0],
    )  # fmt: skip


def test_dot_marks_the_diverging_node() -> None:
    text = counterexample_dot(_example_with_divergence(), "accumulation")
    assert text.startswith("digraph gradcheck {")
    lines = {line.split()[0]: line for line in text.splitlines() if "[label" in line}
    assert "fillcolor" in lines["n0"] and "penwidth=3" in lines["n0"]
    assert "fillcolor" not in lines["n1"]
    assert "n0 -> n1;" in text
    assert "grad 1.5" in lines["n0"] and "ref 3" in lines["n0"]


def test_dot_cuts_big_graphs_down() -> None:
    b = GraphBuilder()
    node = b.var("x")
    for _ in range(3 * MAX_NODES):
        node = b.op("tanh", node)
    graph = b.build()
    n = len(graph)
    example = Counterexample(
        graph, {"x": 0.5}, None, "0", [], n // 2, "deep",
        engine_grads=[0.0] * n, reference_adjoints=[1.0] * n,
    )  # fmt: skip
    text = counterexample_dot(example)
    assert text.count('label="{') < MAX_NODES
    assert "showing" in text


def test_write_dot_writes_dot_and_maybe_svg(tmp_path: Path) -> None:
    paths = write_dot(_example_with_divergence(), tmp_path, "local-derivative[mul]")
    assert paths[0] == tmp_path / "local-derivative-mul.dot"
    assert paths[0].read_text().startswith("digraph")
    if shutil.which("dot"):
        assert paths[1].suffix == ".svg" and "<svg" in paths[1].read_text()
    assert (
        write_dot(_example_with_divergence(), tmp_path, "x", svg=False)[-1].suffix
        == ".dot"
    )


def test_safe_names() -> None:
    assert safe_name("deep-chain[2500]") == "deep-chain-2500"
    assert safe_name("../../etc") == "etc"
    assert safe_name("[]") == "counterexample"


def test_report_counterexamples_render(buggy_report: EngineReport) -> None:
    examples = [c.counterexample for c in buggy_report.failures if c.counterexample]
    assert examples
    for example in examples:
        assert "fillcolor" in counterexample_dot(example)
