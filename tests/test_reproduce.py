"""Reproduce as code: the snippet in the engine's own API, and `--only`."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.internal.checking.reproduce import rerun_argv, snippet
from gradcheck.internal.expr.graph import GraphBuilder
from gradcheck.internal.expr.parser import parse
from gradcheck.internal.output import json_doc
from gradcheck.report import FAIL, Check, Counterexample, EngineReport

ENGINES = Path(__file__).resolve().parent / "function_engines"
BUGGY = ENGINES / "buggy_engine.py"


def test_one_line_per_node_with_temporaries() -> None:
    graph = parse("tanh(x*y + x) + 2 - x")
    text = snippet(
        graph,
        {"x": 0.5, "y": -1.5},
        {"x": 1.0, "y": 2.0},
        {"data": "data", "grad": "grad", "backward": "backward"},
        target={"kind": "module", "module": "pkg.engine"},
    )
    assert text.splitlines() == [
        "from pkg.engine import Value",
        "x = Value(0.5)",
        "y = Value(-1.5)",
        "t1 = x * y",
        "t2 = t1 + x",
        "t3 = t2.tanh()",
        "t4 = t3 + 2",
        "out = t4 - x",
        "out.backward()",
        'print("x.grad", x.grad, "expected", 1.0)',
        'print("y.grad", y.grad, "expected", 2.0)',
    ]


def test_the_engines_own_spellings() -> None:
    """Class name, constructor keywords, methods, wrapped constants, --op names."""
    graph = parse("2 ** exp(x) - x * 3")
    text = snippet(
        graph,
        {"x": 0.25},
        {"x": 1.5},
        {
            "data": "value",
            "data_call": True,
            "grad": "gradient",
            "grad_call": True,
            "backward": "backprop",
            "backward_function": True,
            "constructor": {"requires_grad": "True"},
        },
        class_name="Scalar",
        target={"kind": "notebook", "path": "/x/lesson.ipynb"},
        op_names={"exp": "expo"},
        wrap=True,
        value=3.0,
    )
    assert text.splitlines() == [
        "# run in the notebook that defines Scalar, backprop",
        "x = Scalar(0.25, requires_grad=True)",
        "t1 = x.expo()",
        "t2 = Scalar(2, requires_grad=True) ** t1",
        "t3 = x * Scalar(3, requires_grad=True)",
        "out = t2 - t3",
        "backprop(out)",
        'print("value", out.value(), "expected", 3.0)',
        'print("x.gradient()", x.gradient(), "expected", 1.5)',
    ]


def test_names_never_shadow_the_variables() -> None:
    graph = parse("out*t1 + out")
    text = snippet(graph, {"out": 1.0, "t1": 2.0}, {}, {})
    assert text.splitlines()[1:] == [
        "out = Value(1.0)",
        "t1 = Value(2.0)",
        "t2 = out * t1",
        "result = t2 + out",
        "result.backward()",
    ]


def test_the_rerun_command() -> None:
    assert rerun_argv("e.py", 7, "accumulation[mul]", {"--ops": ["add", "mul"]}) == [
        "gradcheck", "engine", "e.py", "--only", "accumulation[mul]", "--seed", "7",
        "--ops", "add,mul",
    ]  # fmt: skip
    assert rerun_argv(None, 7, "value", {"--api": {"data": "value"}})[2:] == [
        "--only", "value", "--seed", "7", "--api", "data=value",
    ]  # fmt: skip
    assert rerun_argv(object, 7, "value", {}) is None


def test_only_reruns_one_check_and_its_snippet_shows_the_wrong_gradient(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["engine", str(BUGGY), "--only", "accumulation[mul]", "--seed", "1"]
    assert main([*argv, "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(json_doc.schema(json_doc.ENGINE)).validate(document)
    [check] = document["checks"]
    assert check["name"] == "accumulation[mul]" and check["status"] == "fail"
    assert check["rerun"] == ["gradcheck", *argv]
    code = check["counterexample"]["reproduce"]
    assert code.splitlines()[0].startswith("from buggy_engine import Value")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ENGINES,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [line] = done.stdout.splitlines()
    name, got, _, expected = line.split()
    engine_grads = check["counterexample"]["engine_grads"]
    assert name == "x.grad" and float(got) == engine_grads[0]
    assert float(expected) == check["counterexample"]["reference_adjoints"][0]
    assert float(got) != pytest.approx(float(expected))
    # The text report prints both next to the check.
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "rerun: gradcheck engine" in text and "--only 'accumulation[mul]'" in text
    assert "reproduce in the engine's own API:" in text
    assert "    out = x * x" in text


def test_only_a_family_keeps_the_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engine", str(BUGGY), "--only", "value", "--seed", "1", "--json"]) == 0
    names = {c["name"] for c in json.loads(capsys.readouterr().out)["checks"]}
    assert names and all(n.partition("[")[0] == "value" for n in names)


def test_only_an_unknown_family_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["engine", str(BUGGY), "--only", "nope[mul]"]) == 2
    assert "no check family 'nope'" in capsys.readouterr().err


@pytest.mark.heavy
@pytest.mark.parametrize(
    "name", ["tanh-precedence", "div-quotient-rule-sign", "root-not-seeded"]
)
def test_gallery_snippets_print_the_numbers_the_engine_gave(
    name: str, tmp_path: Path
) -> None:
    """Pasted next to the engine, each snippet prints the worker's numbers."""
    from gradcheck.internal.checking.check import check_engine
    from gradcheck.mutants import mutant_named

    path = mutant_named(name).write(tmp_path)
    report = check_engine(str(path), examples=5, seed=1)
    shown = 0
    for check in report.failures:
        example = check.counterexample
        if example is None or example.reproduce is None or example.varies:
            continue
        done = subprocess.run(
            [sys.executable, "-c", example.reproduce],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        index = {n.name: i for i, n in enumerate(example.graph.nodes) if n.op == "var"}
        assert example.engine_grads is not None
        for line in done.stdout.splitlines():
            label, got, _, expected = line.split()
            variable = label.partition(".")[0]
            assert float(got) == example.engine_grads[index[variable]], check.name
            assert float(expected) == pytest.approx(
                example.reference_adjoints[index[variable]]  # type: ignore[index]
            )
        shown += 1
    assert shown


def _failing_report() -> EngineReport:
    b = GraphBuilder()
    x = b.var("x")
    b.op("mul", x, x)
    example = Counterexample(b.build(), {"x": 1.5}, 2.25, "2.25", [], 0, "use +=")
    example.reproduce = "from my_engine import Value\nx = Value(1.5)"
    check = Check("accumulation[mul]", "accumulation", FAIL, "x*x", example)
    check.rerun = ["gradcheck", "engine", "my engine.py", "--only", "a[mul]"]
    report = EngineReport("my engine.py", 7, ["mul"], {})
    report.checks.append(check)
    return report


def test_the_github_summary_and_the_text_report_carry_both() -> None:
    from gradcheck.internal.output.github import summary_markdown
    from gradcheck.internal.output.render import print_engine_report
    from gradcheck.internal.output.terminal import printer

    markdown = summary_markdown([("my engine.py", _failing_report())])
    assert "rerun: `gradcheck engine 'my engine.py' --only 'a[mul]'`" in markdown
    assert "```python\nfrom my_engine import Value\nx = Value(1.5)\n```" in markdown
    buffer = io.StringIO()
    print_engine_report(_failing_report(), printer(buffer))
    text = buffer.getvalue()
    assert "  rerun: gradcheck engine 'my engine.py' --only 'a[mul]'" in text
    assert "      from my_engine import Value\n      x = Value(1.5)" in text


def test_the_json_document_carries_both() -> None:
    document = json_doc.engine_document(_failing_report())
    [check] = document["checks"]
    assert check["rerun"][-1] == "a[mul]"
    assert check["counterexample"]["reproduce"].startswith("from my_engine")


def test_only_picks_the_family_and_keeps_the_check() -> None:
    from gradcheck.errors import UsageError
    from gradcheck.internal.checking.check import keep_only, only_family

    assert only_family("accumulation[mul]") == "accumulation"
    assert only_family("deep-chain[2500]") == "deep-chain"
    assert only_family("forms[gelu]") == "defined"  # made while loading
    with pytest.raises(UsageError, match="no check family 'accumulatoin'"):
        only_family("accumulatoin[mul]")

    def report() -> EngineReport:
        made = EngineReport("e.py", 1, [], {})
        made.checks = [
            Check("accumulation[add]", "accumulation", FAIL, "a"),
            Check("accumulation[mul]", "accumulation", FAIL, "b", same_as="x"),
            Check("accumulation", "accumulation", FAIL, "c"),
        ]
        return made

    one = report()
    keep_only(one, "accumulation[mul]")
    assert [c.name for c in one.checks] == ["accumulation[mul]"]
    assert one.checks[0].same_as is None  # what it repeated is not shown
    family = report()
    keep_only(family, "accumulation")
    assert len(family.checks) == 3
    with pytest.raises(UsageError, match=r"accumulation\[tanh\]: no such check ran"):
        keep_only(report(), "accumulation[tanh]")


def test_the_notebook_view_shows_the_snippet_escaped() -> None:
    import gradcheck.internal.output.html  # noqa: F401  (registers the views)

    report = _failing_report()
    example = report.checks[0].counterexample
    assert example is not None
    example.reproduce = 'print("a<b", x.grad)'
    assert "<pre><code>print(&quot;a&lt;b&quot;, x.grad)</code></pre>" in (
        report._repr_html_()
    )
