"""`--gradescope` (Gradescope's results.json) and `--html` (one page for a run)."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gradcheck.cli import main
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.output.gradescope import results_document, write_gradescope
from gradcheck.internal.output.page import page_html, write_page
from gradcheck.mutants import mutant_named
from gradcheck.report import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    SKIP,
    Check,
    Counterexample,
    EngineReport,
    Limit,
)

HOSTILE = "<script>alert('x')</script>"

# The results.json format of Gradescope's "Autograder Specifications" page,
# as a JSON Schema: what its harness reads.
GRADESCOPE = {
    "type": "object",
    "required": ["score", "tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "status", "output"],
                "properties": {
                    "name": {"type": "string"},
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "visibility": {
                        "enum": [
                            "hidden",
                            "after_due_date",
                            "after_published",
                            "visible",
                        ]
                    },
                },
            },
        },
    },
}


def _example() -> Counterexample:
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    return Counterexample(b.build(), {"x": 1.5}, 2.25, "2.25", [], 0, "use +=")


def _report(name: str = "my_engine.py") -> EngineReport:
    report = EngineReport(name, 7, ["mul"], {"tanh": "no method"})
    failing = Check("accumulation[mul]", "accumulation", FAIL, HOSTILE, _example())
    failing.location = ("my_engine.py", 42)
    report.checks += [
        Check("value", "value", PASS, "ok", None, 3),
        failing,
        Check("accumulation[sub]", "accumulation", FAIL, "same", _example(),
              same_as="accumulation[mul]"),
        Check("zero-grad", "zero-grad", SKIP, "no MLP"),
        Check("random-graphs", "propagation", INCONCLUSIVE, "0 verified"),
    ]  # fmt: skip
    report.limits.append(Limit("depth", "propagation", "RecursionError at 1,003"))
    report.seconds = 2.4
    return report


def _validate(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(GRADESCOPE).validate(document)


# -- gradescope ------------------------------------------------------------------


def test_one_test_per_check_and_only_errors_cost_points() -> None:
    doc = results_document([("my_engine.py", _report())])
    _validate(doc)
    tests = {t["name"]: t for t in doc["tests"]}
    assert list(tests) == [
        "value", "accumulation[mul]", "accumulation[sub]", "zero-grad",
        "random-graphs", "limit[depth]",
    ]  # fmt: skip
    assert (tests["value"]["score"], tests["value"]["max_score"]) == (1.0, 1.0)
    failed = tests["accumulation[mul]"]
    assert (failed["score"], failed["max_score"], failed["status"]) == (0, 1, "failed")
    assert "my_engine.py, line 42" in failed["output"] and "seed: 7" in failed["output"]
    # one bug is one lost point; nothing judged, nothing at stake; limits free
    for name in ("accumulation[sub]", "zero-grad", "random-graphs", "limit[depth]"):
        assert tests[name]["max_score"] == 0, name
    assert (
        "counted once, under accumulation[mul]" in tests["accumulation[sub]"]["output"]
    )
    assert doc["score"] == 1.0 and "1 of 2 points" in doc["output"]
    assert doc["execution_time"] == 2
    assert all(t["visibility"] == "visible" for t in doc["tests"])


def test_strict_limits_cost_points_and_load_errors_fail() -> None:
    strict = results_document([("e.py", _report())], strict=True)
    limit = next(t for t in strict["tests"] if t["name"] == "limit[depth]")
    assert (limit["max_score"], limit["status"]) == (1.0, "failed")
    doc = results_document([("gone.py", "engine file not found: gone.py")])
    _validate(doc)
    (load,) = doc["tests"]
    assert load["name"] == "load" and load["status"] == "failed"
    assert "not found" in load["output"] and doc["score"] == 0


def test_several_targets_name_the_target(tmp_path: Path) -> None:
    outcomes = [("a.py", _report("a.py")), ("b.py", "cannot import numpy")]
    path = write_gradescope(outcomes, tmp_path / "results" / "results.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    _validate(doc)
    names = [t["name"] for t in doc["tests"]]
    assert names[0] == "a.py: value" and names[-1] == "b.py: load"
    assert "b.py: ERROR: cannot import numpy" in doc["output"]


def test_a_reproducing_snippet_is_shown_when_the_check_has_one() -> None:
    report = _report()
    report.checks[1].counterexample.reproduce = "x = Value(1.5)\n(x * x).backward()"
    report.checks[1].rerun = ["gradcheck", "engine", "e.py", "--only", "x"]
    doc = results_document([("e.py", report)])
    assert "(x * x).backward()" in doc["tests"][1]["output"]
    assert "rerun: gradcheck engine e.py --only x" in doc["tests"][1]["output"]
    assert "(x * x).backward()" in page_html([("e.py", report)])


# -- html page -------------------------------------------------------------------


class _Tags(HTMLParser):
    """Open elements left at the end, and every script element seen."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.problems += [f"{tag} {k}" for k, _ in attrs if k.startswith("on")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def test_the_page_escapes_hostile_names_and_messages() -> None:
    outcomes = [(HOSTILE, _report(HOSTILE)), ("<img src=x onerror=alert(1)>", HOSTILE)]
    page = page_html(outcomes)
    parser = _Tags()
    parser.feed(page)
    assert parser.scripts == 0 and parser.problems == [] and parser.stack == []
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "script-src" not in page and "default-src 'none'" in page  # no script runs
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page  # self-contained


def test_the_page_has_summary_findings_limits_and_load_errors() -> None:
    page = page_html([("a.py", _report("a.py")), ("b.py", "cannot import numpy")])
    assert page.count('href="#target-') == 2
    assert "accumulation[mul]" in page and "my_engine.py, line 42" in page
    assert "RecursionError at 1,003" in page  # the limit
    assert "the same problem as accumulation[mul]" in page  # the repeat, once
    assert "cannot import numpy" in page and "1 failing, 1 not loaded" in page


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_failing_graphs_are_inline_svg() -> None:
    page = page_html([("a.py", _report())])
    assert page.count("<svg") == 1  # the distinct failure only
    assert "<?xml" not in page


@pytest.mark.heavy
def test_cli_writes_gradescope_and_html(tmp_path: Path) -> None:
    engine = mutant_named("mul-grad-overwrites").write(tmp_path)
    results, page = tmp_path / "results.json", tmp_path / "report.html"
    argv = ["engine", str(engine), "--examples", "0", "--seed", "1"]
    argv += ["--ops", "add,mul", "--gradescope", str(results), "--html", str(page)]
    assert main(argv) == 1
    doc = json.loads(results.read_text(encoding="utf-8"))
    _validate(doc)
    failed = [t for t in doc["tests"] if t["status"] == "failed" and t["max_score"]]
    assert failed and doc["score"] < sum(t["max_score"] for t in doc["tests"])
    text = page.read_text(encoding="utf-8")
    assert "mul_grad_overwrites.py" in text and "FAIL" in text


def test_write_page_creates_folders(tmp_path: Path) -> None:
    path = write_page([("a.py", _report())], tmp_path / "deep" / "page.html")
    assert path.read_text(encoding="utf-8").rstrip().endswith("</html>")
