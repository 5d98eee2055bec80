"""JUnit XML and DOT output of engine reports and counterexamples."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from gradcheck.internal.checking.check import check_engine
from gradcheck.internal.checking.engine_client import load_source
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.output.dot import (
    MAX_NODES,
    counterexample_dot,
    safe_name,
    write_dot,
)
from gradcheck.internal.output.junit import (
    expression_suite,
    junit_suites,
    junit_tree,
    load_error_suite,
    module_name,
    mutants_suite,
    write_junit,
)
from gradcheck.mutants import mutant_named
from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    SKIP,
    Check,
    Counterexample,
    EngineReport,
)

# -- a structural validator of the JUnit format Jenkins and GitLab read ----------
# (after Jenkins' junit-10 XSD: required attributes, allowed children, order)

_INT = r"\d+"
_TIME = r"\d+(\.\d+)?"
_ATTRS = {
    "testsuites": ({}, {"name", "tests", "failures", "errors", "time"}),
    "testsuite": (
        {"name": None, "tests": _INT},
        {"failures", "errors", "skipped", "time", "timestamp", "hostname", "id"},
    ),
    "properties": ({}, set()),
    "property": ({"name": None, "value": None}, set()),
    "testcase": ({"name": None}, {"classname", "time", "status", "assertions"}),
    "failure": ({}, {"message", "type"}),
    "error": ({}, {"message", "type"}),
    "skipped": ({}, {"message"}),
    "system-out": ({}, set()),
    "system-err": ({}, set()),
}
# Allowed children in order; a child may repeat only where listed twice.
_CHILDREN = {
    "testsuites": ["testsuite"],
    "testsuite": ["properties", "testcase", "system-out", "system-err"],
    "properties": ["property"],
    "testcase": ["skipped", "error", "failure", "system-out", "system-err"],
}
_ONCE = {"properties", "skipped"}


def junit_problems(root: ET.Element) -> list[str]:
    """Everything in `root` that a JUnit consumer would reject; [] when valid."""
    import re

    problems: list[str] = []
    if root.tag != "testsuites":
        return [f"root is <{root.tag}>, not <testsuites>"]
    stack = [root]
    while stack:
        node = stack.pop()
        required, optional = _ATTRS.get(node.tag, (None, set()))
        if required is None:
            problems.append(f"unknown element <{node.tag}>")
            continue
        for key, pattern in required.items():
            if key not in node.attrib:
                problems.append(f"<{node.tag}> lacks {key}=")
            elif pattern and not re.fullmatch(pattern, node.attrib[key]):
                problems.append(f"<{node.tag} {key}={node.attrib[key]!r}>")
        for key in set(node.attrib) - set(required) - optional:
            problems.append(f"<{node.tag}> has unknown attribute {key}=")
        for key in ("tests", "failures", "errors", "skipped"):
            if key in node.attrib and not re.fullmatch(_INT, node.attrib[key]):
                problems.append(f"<{node.tag} {key}={node.attrib[key]!r}>")
        if "time" in node.attrib and not re.fullmatch(_TIME, node.attrib["time"]):
            problems.append(f"<{node.tag} time={node.attrib['time']!r}>")
        order = _CHILDREN.get(node.tag, [])
        last = -1
        seen: set[str] = set()
        for child in node:
            if child.tag not in order:
                problems.append(f"<{child.tag}> inside <{node.tag}>")
                continue
            position = order.index(child.tag)
            if position < last or (child.tag in _ONCE and child.tag in seen):
                problems.append(f"<{child.tag}> out of order in <{node.tag}>")
            last, _ = position, seen.add(child.tag)
            stack.append(child)
        if node.tag == "testcase":
            outcomes = [c.tag for c in node if c.tag in ("skipped", "error", "failure")]
            if len(outcomes) > 1:
                problems.append(f"testcase {node.get('name')} has {outcomes}")
    return problems + _count_problems(root)


def _count_problems(root: ET.Element) -> list[str]:
    problems = []
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        for key, value in counted.items():
            total[key] += value
            if suite.get(key, str(value)) != str(value):
                problems.append(f"suite {suite.get('name')}: {key}= is not {value}")
    for key, value in total.items():
        if root.get(key, str(value)) != str(value):
            problems.append(f"testsuites: {key}= is not {value}")
    return problems


@pytest.fixture(scope="module")
def buggy_report() -> EngineReport:
    module = load_source("mul-overwrites", mutant_named("mul-grad-overwrites").source())
    return check_engine(module, examples=0, seed=2)


@pytest.mark.heavy
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
    # The appended skip, and any inconclusive check (training-loop can be,
    # when this engine's set order makes two fresh models disagree).
    not_run = [c.name for c in buggy_report.checks if c.status in (SKIP, INCONCLUSIVE)]
    assert "skipped-probe" in not_run
    assert [c.get("name") for c in skipped] == not_run
    assert suite.get("skipped") == str(len(not_run))
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["seed"] == "2"
    assert junit_problems(root) == []


def test_junit_validates_crashes_are_errors_and_totals_add_up() -> None:
    report = EngineReport("dir/my-engine.py", 4, [], {})
    report.engine_file = "/abs/dir/my-engine.py"  # type: ignore[attr-defined]
    report.checks += [
        Check("value", "value", "pass", "fine"),
        Check("local-derivative[tanh]", "local-derivative", FAIL, "wrong"),
        Check("deep-chain", "crash", FAIL, "RecursionError"),
        Check("zero-grad", "zero-grad", SKIP, "no MLP"),
        Check("random-graphs", "propagation", "inconclusive", "0 verified"),
    ]
    root = junit_tree(report).getroot()
    assert junit_problems(root) == []
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("5", "1")
    assert (suite.get("errors"), suite.get("skipped")) == ("1", "2")
    assert root.get("errors") == "1" and root.get("tests") == "5"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    error = cases["deep-chain"].find("error")
    assert error is not None and error.get("type") == "crash"
    assert cases["local-derivative[tanh]"].find("failure") is not None
    assert {c.get("classname") for c in cases.values()} == {
        "gradcheck.engine.my_engine"
    }
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["engine_file"] == "/abs/dir/my-engine.py"


def test_junit_limits_fail_only_when_strict() -> None:
    class Limit:
        name, message, hint = "depth", "RecursionError from depth 1,003", "a stack"

    report = EngineReport("e.py", 1, [], {})
    report.limits = [Limit()]  # type: ignore[attr-defined]
    relaxed = junit_tree(report).getroot()
    strict = junit_tree(report, strict=True).getroot()
    assert junit_problems(relaxed) == junit_problems(strict) == []
    assert relaxed.get("failures") == "0" and strict.get("failures") == "1"
    out = relaxed.find("testsuite/testcase/system-out")
    assert out is not None and "1,003" in (out.text or "")


@pytest.mark.heavy
def test_junit_for_several_engines_expressions_and_mutants() -> None:
    from gradcheck.internal.checking.check import check_expression

    engine = EngineReport("a.py", 1, [], {})
    engine.checks.append(Check("value", "value", "pass", "ok"))
    expressions = check_expression("x*y", {"x": 1.0, "y": 2.0}, seed=1)
    rows = [
        {"name": "m1", "expected": "value", "found": "value", "caught": True},
        {"name": "m2", "expected": "value", "found": None, "caught": False},
        {"name": "m3", "expected": "value", "found": "error", "caught": False,
         "hint": "the checker failed"},
    ]  # fmt: skip
    suites = [
        load_error_suite("b.py", "cannot import"),
        expression_suite(expressions),
        mutants_suite(rows, 1),
    ]
    from gradcheck.internal.output.junit import engine_suite

    root = junit_suites([engine_suite(engine), *suites]).getroot()
    assert junit_problems(root) == []
    assert root.get("tests") == "6" and root.get("errors") == "2"
    assert root.get("failures") == "1"


# -- validated against Jenkins' own schema (tests/data/junit-10.xsd) ------------

XSD = Path(__file__).parent / "data" / "junit-10.xsd"


@pytest.fixture(scope="module")
def jenkins_schema() -> Any:
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(XSD))


def _failing_report() -> EngineReport:
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    example = Counterexample(b.build(), {"x": 1.5}, 2.25, "2.25", [], 0, "use +=")
    report = EngineReport("<script>bad</script>.py", 5, ["mul"], {})
    report.checks += [
        Check("value", "value", "pass", "ok", None, 3, seconds=0.25),
        Check("accumulation[mul]", "accumulation", FAIL, "x*x \x1b[31m", example),
        Check("deep-chain", "crash", FAIL, "RecursionError"),
        Check("zero-grad", "zero-grad", SKIP, "no MLP"),
        Check("random-graphs", "propagation", INCONCLUSIVE, "0 verified"),
    ]
    report.seconds = 1234.5
    return report


def test_every_outcome_validates_against_jenkins_junit_10_xsd(
    jenkins_schema: Any, tmp_path: Path
) -> None:
    from gradcheck.internal.output.junit import (
        engine_suite,
        input_error_suite,
        write_xml,
    )

    class Limit:
        name, message, hint = "depth", "RecursionError from depth 1,003", "a stack"

    limited = EngineReport("e.py", 1, [], {})
    limited.limits = [Limit()]  # type: ignore[list-item]
    passing = EngineReport("good.py", 1, ["add"], {})
    passing.checks.append(Check("value", "value", "pass", "ok", None, 3))
    rows = [
        {"name": "m1", "expected": "value", "found": "value", "caught": True,
         "seconds": 1.5},
        {"name": "m2", "expected": "value", "found": None, "caught": False,
         "seconds": 2.25},
        {"name": "m3", "expected": "value", "found": "error", "caught": False,
         "hint": "the checker failed", "seconds": 0.5},
    ]  # fmt: skip
    runs = {
        "pass": [engine_suite(passing)],
        "fail": [engine_suite(_failing_report())],
        "limits": [engine_suite(limited), engine_suite(limited, strict=True)],
        "load": [load_error_suite("gone.py", "engine file not found: gone.py")],
        "input": [input_error_suite([("x +", "unexpected end"), ("usage", "no")])],
        "mutants": [mutants_suite(rows, 1)],
        "nothing": [],
    }
    for name, suites in runs.items():
        path = write_xml(junit_suites(suites), tmp_path / f"{name}.xml")
        jenkins_schema.validate(str(path))  # raises with the reason if not valid
        assert junit_problems(ET.parse(path).getroot()) == [], name
    root = ET.parse(tmp_path / "mutants.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("time") == "4.250" == root.get("time")
    assert "skipped" not in root.attrib  # junit-10.xsd has no skipped there
    root = ET.parse(tmp_path / "fail.xml").getroot()
    assert root.get("time") == "1234.500" and root.get("errors") == "1"


def test_the_xsd_rejects_what_jenkins_rejects(jenkins_schema: Any) -> None:
    suite = '<testsuite name="s" tests="0" failures="0" errors="0"/>'
    assert jenkins_schema.is_valid(f"<testsuites>{suite}</testsuites>")
    assert not jenkins_schema.is_valid(f'<testsuites skipped="0">{suite}</testsuites>')


def test_a_bad_expression_among_several_still_writes_junit(
    tmp_path: Path, jenkins_schema: Any
) -> None:
    from gradcheck.cli import main

    path = tmp_path / "junit.xml"
    argv = ["x*y", "x +", "sin(", "--at", "x=1,y=2", "--junit-xml", str(path)]
    assert main(argv) == 2
    jenkins_schema.validate(str(path))
    cases = ET.parse(path).getroot().findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == ["x +", "sin("]
    assert all(c.find("error") is not None for c in cases)
    engine = ["engine", str(tmp_path / "gone.py"), "--junit-xml", str(path)]
    assert main(engine) == 2
    jenkins_schema.validate(str(path))
    (case,) = ET.parse(path).getroot().iter("testcase")
    error = case.find("error")
    assert error is not None and "gone.py" in (error.get("message") or "")


def test_the_validator_rejects_broken_junit() -> None:
    bad = ET.fromstring(
        '<testsuites tests="2"><testsuite tests="x"><testcase classname="c">'
        "<failure/><skipped/></testcase><properties/></testsuite></testsuites>"
    )
    problems = junit_problems(bad)
    assert "<testsuite> lacks name=" in problems
    assert "<testcase> lacks name=" in problems
    assert any("out of order" in p for p in problems)
    assert any("has ['failure', 'skipped']" in p for p in problems)
    assert "testsuites: tests= is not 1" in problems


def test_module_names_have_no_path_dots_or_slashes() -> None:
    assert module_name(None) == "micrograd"
    assert module_name("dir/sub.d/my-engine.py") == "my_engine"
    assert module_name("pkg.mod:Scalar") == "pkg_mod_Scalar"
    assert module_name("nb.ipynb:Value@12") == "nb_Value_12"
    assert module_name("3d.py") == "_3d"


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


@pytest.mark.heavy
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


@pytest.mark.heavy
def test_report_counterexamples_render(buggy_report: EngineReport) -> None:
    examples = [c.counterexample for c in buggy_report.failures if c.counterexample]
    assert examples
    for example in examples:
        assert "fillcolor" in counterexample_dot(example)
