"""JUnit XML for CI dashboards, written with the standard library only.

The shape is the one Jenkins and GitLab read: `<testsuites>` with totals,
one `<testsuite>` per engine (or for the expressions, or the mutant gallery),
one `<testcase>` per check. A wrong value or gradient is a `<failure>`, a
crash an `<error>`, a skipped or inconclusive check `<skipped>`. The
classname is module-like (`gradcheck.engine.my_engine`), because Jenkins
splits classnames at dots; the engine's path goes in a property instead.

Every outcome writes a file: a target or an expression that cannot be
checked is an `<error>` testcase, so a dashboard never shows a green run
for input that was never checked. Attributes are those of Jenkins'
junit-10.xsd (the tests validate against it): `<testsuites>` has no
`skipped` count there, only each `<testsuite>` does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.internal.output.render import explain_check, explain_result, point_text
from gradcheck.report import FAIL, INCONCLUSIVE, SKIP, EngineReport, ExpressionReport

# Characters XML 1.0 cannot hold at all (escape codes from an engine's message).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")
CRASH = "crash"


def _clean(text: str) -> str:
    return _INVALID.sub("?", text)


def module_name(target: str | None) -> str:
    """A dot-free identifier for a target: `dir/my-engine.py:Value` -> `my_engine`."""
    spec = (target or "micrograd").strip()
    cls = ""
    head, sep, tail = spec.rpartition(":")
    if sep and head and re.fullmatch(r"[A-Za-z_][\w@]*", tail):
        spec, cls = head, tail
    if "/" in spec or "\\" in spec or spec.endswith((".py", ".ipynb")):
        spec = Path(spec.replace("\\", "/")).name
        for suffix in (".py", ".ipynb"):
            spec = spec.removesuffix(suffix)
    name = _NOT_NAME.sub("_", spec).strip("_") or "engine"
    if cls and cls != "Value":
        name += "_" + _NOT_NAME.sub("_", cls).strip("_")
    return "_" + name if name[0].isdigit() else name


@dataclass
class Case:
    """One testcase: outcome `pass`, `failure`, `error` or `skipped`."""

    name: str
    classname: str
    outcome: str = "pass"
    message: str = ""
    kind: str = ""
    text: str = ""
    seconds: float = 0.0
    output: str = ""


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def engine_suite(report: EngineReport, strict: bool = False) -> Suite:
    """One engine report as a suite: checks, then limits (failures if strict)."""
    classname = f"gradcheck.engine.{module_name(report.engine)}"
    suite = Suite(f"gradcheck.engine.{module_name(report.engine)}")
    suite.seconds = report.seconds
    file = getattr(report, "engine_file", None)
    suite.properties += [("engine", report.engine), ("seed", str(report.seed))]
    if file:
        suite.properties.append(("engine_file", str(file)))
    isolated = getattr(report, "isolated", None)
    if isolated is not None:
        suite.properties.append(("isolated", "yes" if isolated else "no"))
    suite.properties += [(k, str(v)) for k, v in report.info.items()]
    rerun = f"\nseed: {report.seed} (rerun with --seed {report.seed})"
    for check in report.checks:
        case = Case(check.name, classname, seconds=float(check.seconds or 0.0))
        if check.status == FAIL:
            case.outcome = "error" if check.category == CRASH else "failure"
            case.message, case.kind = check.message, check.category
            case.text = explain_check(check) + rerun
        elif check.status in (SKIP, INCONCLUSIVE):
            case.outcome, case.message = "skipped", check.message
            if check.status == INCONCLUSIVE:
                case.message = f"inconclusive: nothing verified: {check.message}"
        suite.cases.append(case)
    for item in getattr(report, "limits", None) or []:
        name = str(getattr(item, "name", "limit"))
        message = str(getattr(item, "message", ""))
        hint = getattr(item, "hint", None)
        case = Case(f"limit[{name}]", classname)
        text = message + (f"\nhint: {hint}" if hint else "")
        if strict:
            case.outcome, case.message, case.kind, case.text = (
                "failure",
                message,
                "limit",
                text,
            )
        else:
            case.output = f"limit (not an error without --strict): {text}"
        suite.cases.append(case)
    return suite


def load_error_suite(target: str | None, message: str) -> Suite:
    """A target that did not load: one `<error>` testcase named `load`."""
    classname = f"gradcheck.engine.{module_name(target)}"
    case = Case("load", classname, "error", message, "load-error", message)
    suite = Suite(classname, [case])
    if target:
        suite.properties.append(("engine_file", target))
    return suite


def input_error_suite(errors: Sequence[tuple[str, str]]) -> Suite:
    """Expressions (or options) that could not be checked: `<error>` each.

    `errors` pairs what was given (an expression, or `usage`) with the
    one-line message the command printed.
    """
    suite = Suite("gradcheck.expressions")
    for name, message in errors:
        suite.cases.append(
            Case(name, "gradcheck.expression", "error", message, "usage", message)
        )
    return suite


def expression_suite(report: ExpressionReport, seconds: float = 0.0) -> Suite:
    suite = Suite("gradcheck.expressions", seconds=seconds)
    suite.properties += [("engine", report.engine), ("seed", str(report.seed))]
    for result in report.results:
        name = f"{result.expression} at {point_text(result.point)}"
        case = Case(name, "gradcheck.expression")
        if result.status == FAIL:
            case.outcome = "error" if result.category == CRASH else "failure"
            case.message, case.kind = result.message, result.category or "value"
            case.text = explain_result(result)
        elif result.status != "pass":
            case.outcome, case.message = "skipped", f"inconclusive: {result.message}"
        suite.cases.append(case)
    return suite


def mutants_suite(rows: Sequence[dict[str, Any]], seed: int) -> Suite:
    """One testcase per mutant; the suite's time is the sum of theirs."""
    seconds = sum(float(row.get("seconds") or 0.0) for row in rows)
    suite = Suite("gradcheck.mutants", properties=[("seed", str(seed))])
    suite.seconds = seconds
    for row in rows:
        case = Case(row["name"], "gradcheck.mutants", seconds=row.get("seconds") or 0.0)
        if row.get("found") == "error":
            case.outcome, case.kind, case.message = (
                "error",
                "checker-error",
                row["hint"],
            )
            case.text = row["hint"]
        elif not row.get("caught"):
            case.outcome, case.kind = "failure", "missed"
            case.message = (
                f"expected {row['expected']}, found {row.get('found') or 'none'}"
            )
            case.text = f"{case.message}\n{row.get('description', '')}"
        suite.cases.append(case)
    return suite


def _counts(cases: Sequence[Case], skipped: bool = True) -> dict[str, str]:
    """Totals; `skipped` is left out on `<testsuites>`, which junit-10.xsd
    does not allow it on."""
    counts = {
        "tests": str(len(cases)),
        "failures": str(sum(c.outcome == "failure" for c in cases)),
        "errors": str(sum(c.outcome == "error" for c in cases)),
    }
    if skipped:
        counts["skipped"] = str(sum(c.outcome == "skipped" for c in cases))
    return counts


def junit_suites(suites: Sequence[Suite], name: str = "gradcheck") -> ET.ElementTree:
    """The XML tree: `<testsuites>` with totals around one suite each."""
    every = [case for suite in suites for case in suite.cases]
    total = sum(suite.seconds for suite in suites)
    root = ET.Element(
        "testsuites",
        {"name": name, **_counts(every, skipped=False), "time": f"{total:.3f}"},
    )
    for suite in suites:
        attributes = {"name": suite.name, **_counts(suite.cases)}
        attributes["time"] = f"{suite.seconds:.3f}"
        node = ET.SubElement(root, "testsuite", attributes)
        if suite.properties:
            properties = ET.SubElement(node, "properties")
            for key, value in suite.properties:
                ET.SubElement(properties, "property", name=key, value=value)
        for case in suite.cases:
            _testcase(node, case)
    for element in root.iter():
        element.attrib = {k: _clean(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _clean(element.text)
    ET.indent(root)
    return ET.ElementTree(root)


def _testcase(parent: ET.Element, case: Case) -> None:
    node = ET.SubElement(
        parent,
        "testcase",
        classname=case.classname,
        name=case.name,
        time=f"{case.seconds:.3f}",
    )
    if case.outcome in ("failure", "error"):
        child = ET.SubElement(node, case.outcome, message=case.message, type=case.kind)
        child.text = case.text
    elif case.outcome == "skipped":
        ET.SubElement(node, "skipped", message=case.message)
    if case.output:
        ET.SubElement(node, "system-out").text = case.output


def junit_tree(
    report: EngineReport, suite: str = "gradcheck", strict: bool = False
) -> ET.ElementTree:
    """The XML tree of one engine report."""
    return junit_suites([engine_suite(report, strict)], suite)


def write_xml(tree: ET.ElementTree, path: str | Path) -> Path:
    """Write `tree` to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tree.write(target, encoding="utf-8", xml_declaration=True)
    return target


def write_junit(report: EngineReport, path: str | Path, strict: bool = False) -> Path:
    """Write one engine report as JUnit XML to `path`."""
    return write_xml(junit_tree(report, strict=strict), path)
