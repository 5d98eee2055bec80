"""Every `--json` document validates against the JSON Schema shipped for it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gradcheck.cli import main
from gradcheck.internal.expr.graph import Graph, GraphBuilder, Node
from gradcheck.internal.output import json_doc
from gradcheck.mutants import mutant_named
from gradcheck.report import Check, Counterexample, EngineReport

jsonschema = pytest.importorskip("jsonschema")


def validate(document: dict[str, Any]) -> None:
    schema = json_doc.schema(document["schema"]["name"])
    jsonschema.Draft202012Validator(schema).validate(document)


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    main(list(argv))
    return json.loads(capsys.readouterr().out)


def test_schemas_are_valid_and_share_their_parts() -> None:
    schemas = {kind: json_doc.schema(kind) for kind in json_doc.KINDS}
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
        version = schema["properties"]["schema"]["properties"]["version"]
        assert version == {"const": json_doc.VERSION} == {"const": 3}
    engine = schemas[json_doc.ENGINE]["$defs"]
    expression = schemas[json_doc.EXPRESSION]["$defs"]
    for name in set(engine) & set(expression):
        assert engine[name] == expression[name], name
    with pytest.raises(ValueError, match="unknown document kind"):
        json_doc.schema("nope")


@pytest.mark.heavy
def test_builtin_engine_document(capsys: pytest.CaptureFixture[str]) -> None:
    whole = cli_json(capsys, "engine", "--examples", "5", "--seed", "1", "--json")
    validate(whole)
    assert whole["status"] == "pass" and whole["exit_code"] == 0
    assert whole["summary"] == {
        "targets": 1, "pass": 1, "fail": 0, "inconclusive": 0, "error": 0
    }  # fmt: skip
    doc = json_doc.target_view(whole)
    assert doc["target"] == "micrograd" and doc["status"] == "pass"
    assert doc["summary"]["checks"] == len(doc["checks"])
    assert all(isinstance(c["seconds"], float) for c in doc["checks"])


@pytest.mark.heavy
def test_failing_mutant_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = mutant_named("mul-grad-overwrites").write(tmp_path)
    whole = cli_json(
        capsys, "engine", str(path), "--examples", "5", "--seed", "3", "--json"
    )
    validate(whole)
    doc = json_doc.target_view(whole)
    assert doc["status"] == whole["status"] == "fail" and doc["exit_code"] == 1
    located = [c["location"] for c in doc["checks"] if c["location"]]
    assert located and all(loc["file"] == str(path) for loc in located)
    assert all(isinstance(loc["line"], int) for loc in located)
    failing = [c for c in doc["checks"] if c["status"] == "fail"]
    assert doc["summary"]["errors_by_category"]
    example = next(c["counterexample"] for c in failing if c["counterexample"])
    rebuilt = Graph(
        tuple(
            Node(n["op"], tuple(n["args"]), n["constant"], n["name"] or "")
            for n in example["nodes"]
        )
    )
    assert rebuilt.to_text() == example["expression"]
    assert example["output"] == len(example["nodes"]) - 1
    # Each failure says how to rerun it, and shows it in the engine's API.
    assert all(c["rerun"][:3] == ["gradcheck", "engine", str(path)] for c in failing)
    assert example["reproduce"].splitlines()[-1].startswith('print("x.grad"')


@pytest.mark.heavy
def test_unsupported_ops_carry_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    from gradcheck.internal.checking.check import check_engine
    from gradcheck.internal.checking.engine_client import load_source

    source = mutant_named("mul-grad-overwrites").source()
    source = source.replace("    def tanh(self):", "    def _no_tanh(self):")
    report = check_engine(load_source("no_tanh", source), examples=0, seed=1)
    validate(json_doc.engine_document(report))
    doc = json_doc.engine_target(report)
    assert "tanh" in doc["ops"]["unsupported"]
    assert doc["ops"]["unsupported"]["tanh"]  # a reason, not just the name


@pytest.mark.heavy
def test_expression_documents(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = cli_json(capsys, "tanh(x*y) + x**2", "--at", "x=0.5,y=-1.5", "--json")
    validate(doc)
    (result,) = doc["results"]
    assert result["category"] is None and result["message"] is None  # null, not absent
    path = mutant_named("mul-grad-overwrites").write(tmp_path)
    doc = cli_json(capsys, "x*x", "--at", "x=1.5", "--engine", str(path), "--json")
    validate(doc)
    assert doc["status"] == "fail" and doc["results"][0]["category"]


@pytest.mark.heavy
def test_mutants_and_error_documents(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ("mutants", "--only", "tanh-one-minus-t", "--examples", "2", "--seed", "1")
    doc = cli_json(capsys, *argv, "--json")
    validate(doc)
    assert doc["mutants"][0]["seconds"] is not None
    doc = cli_json(capsys, "engine", "/no/such.py", "--json")
    validate(doc)
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["targets"][0]["target"] == "/no/such.py"
    doc = cli_json(capsys, "engine", "--examples", "-1", "--json")
    validate(doc)
    assert doc["schema"]["name"] == "gradcheck-error"


def _deep_example() -> Counterexample:
    b = GraphBuilder()
    node = b.var("x")
    for _ in range(300):
        node = b.op("tanh", node)
    graph = b.build()
    return Counterexample(
        graph, {"x": 0.5}, math.nan, "0.1", [], 3, "deep",
        engine_grads=[math.inf] * len(graph), reference_adjoints=[1.0] * len(graph),
    )  # fmt: skip


def test_counterexamples_are_never_cut_and_non_finite_floats_are_strings() -> None:
    example = _deep_example()
    report = EngineReport("deep.py", 1, ["tanh"], {})
    report.checks.append(Check("deep-chain", "propagation", "fail", "deep", example))
    doc = json.loads(json.dumps(json_doc.finite(json_doc.engine_document(report))))
    validate(doc)
    shown = doc["checks"][0]["counterexample"]
    assert shown["expression"] == example.graph.to_text()
    assert len(shown["expression"]) > 1000 and len(shown["display"]) < 500
    assert shown["value"]["backprop"] == "nan" and shown["engine_grads"][0] == "inf"
    assert len(shown["nodes"]) == 301


def test_fields_the_lead_adds_are_emitted(tmp_path: Path) -> None:
    class Limit:
        name, category, message, bound, hint = (
            "depth", "propagation", "RecursionError from depth 1,003", 1003, "a stack",
        )  # fmt: skip

    report = EngineReport("e.py", 1, ["add"], {"tanh": "no method"})
    check = Check("value", "value", "fail", "wrong", None, 1)
    check.location = ("/abs/e.py", 12)
    report.checks.append(check)
    extra = {
        "limits": [Limit()], "isolated": True, "engine_file": "/abs/e.py",
        "notes": ["used cells 1-3"], "output_tail": ["hello"],
        "api": {"data": "value"}, "not_checked": ["gelu"],
    }  # fmt: skip
    for key, value in extra.items():
        setattr(report, key, value)
    whole = json_doc.engine_document(report, strict=True)
    validate(whole)
    doc = json_doc.target_view(whole)
    assert doc["limits"][0]["bound"] == 1003 and doc["exit_code"] == 1
    assert whole["exit_code"] == 1 and whole["status"] == "fail"
    assert doc["isolated"] is True and doc["engine_file"] == "/abs/e.py"
    assert doc["checks"][0]["location"] == {"file": "/abs/e.py", "line": 12}
    assert doc["notes"] == ["used cells 1-3"] and doc["ops"]["not_checked"] == ["gelu"]
    assert json_doc.engine_document(report)["exit_code"] == 1  # the failing check


def test_one_shape_for_any_number_of_targets() -> None:
    good = EngineReport("good.py", 1, ["add"], {})
    good.checks.append(Check("value", "value", "pass", "ok", None, 3))
    inconclusive = EngineReport("odd.py", 1, ["add"], {})
    inconclusive.checks.append(Check("value", "value", "inconclusive", "?", None, 0))
    cases: list[tuple[list[Any], str, int]] = [
        ([], "pass", 0),
        ([("good.py", good)], "pass", 0),
        ([("good.py", good), ("odd.py", inconclusive)], "inconclusive", 3),
        ([("odd.py", inconclusive), ("gone.py", "engine file not found")], "error", 2),
    ]
    for outcomes, status, code in cases:
        doc = json_doc.engine_document(outcomes)
        validate(doc)
        assert (doc["status"], doc["exit_code"]) == (status, code)
        assert doc["summary"]["targets"] == len(doc["targets"]) == len(outcomes)
        assert [t["target"] for t in doc["targets"]] == [n for n, _ in outcomes]
    bad = {"target": "x.py", "status": "error", "exit_code": 2}  # no message
    doc = json_doc.engine_document([])
    doc["targets"].append(bad)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
