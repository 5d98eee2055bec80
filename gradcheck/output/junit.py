"""JUnit XML for CI dashboards, written with the standard library only.

One `<testcase>` per check; a failing check carries its message and the same
readable explanation the command line prints, a skipped check a `<skipped>`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from gradcheck.output.render import explain_check
from gradcheck.report import FAIL, SKIP, EngineReport

# Characters XML 1.0 cannot hold at all (escape codes from an engine's message).
_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID.sub("?", text)


def junit_tree(report: EngineReport, suite: str = "gradcheck") -> ET.ElementTree:
    """The XML tree of `report`: one testsuite, one testcase per check."""
    failures = sum(1 for c in report.checks if c.status == FAIL)
    skipped = sum(1 for c in report.checks if c.status == SKIP)
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(report.checks)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{report.seconds:.3f}",
    )
    properties = ET.SubElement(node, "properties")
    ET.SubElement(properties, "property", name="engine", value=report.engine)
    ET.SubElement(properties, "property", name="seed", value=str(report.seed))
    for key, value in report.info.items():
        ET.SubElement(properties, "property", name=key, value=value)
    for check in report.checks:
        case = ET.SubElement(
            node,
            "testcase",
            classname=f"{suite}.{report.engine}",
            name=check.name,
            time=f"{check.seconds:.3f}",
        )
        if check.status == FAIL:
            failure = ET.SubElement(
                case, "failure", message=check.message, type=check.category
            )
            failure.text = explain_check(check) + (
                f"\nseed: {report.seed} (rerun with --seed {report.seed})"
            )
        elif check.status == SKIP:
            ET.SubElement(case, "skipped", message=check.message)
    for element in root.iter():
        element.attrib = {k: _clean(v) for k, v in element.attrib.items()}
        if element.text:
            element.text = _clean(element.text)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: EngineReport, path: str | Path) -> Path:
    """Write `report` as JUnit XML to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(report).write(target, encoding="utf-8", xml_declaration=True)
    return target
