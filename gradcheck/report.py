"""Report objects: what a check found, in a form every renderer can use.

The library returns these; the command line renders them as text, JSON or
JUnit XML. `to_dict()` gives the documented JSON shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.expr.graph import Graph

# The fixed vocabulary of failure categories; `unsupported` is information.
CATEGORIES = (
    "value",
    "local-derivative",
    "accumulation",
    "propagation",
    "zero-grad",
    "crash",
)
PASS, FAIL, SKIP, INCONCLUSIVE = "pass", "fail", "skip", "inconclusive"
# Longest graph text shown in a report; a 2,500-deep chain is elided.
MAX_TEXT = 400
# How Jupyter shows each report type, filled in by the output layer
# (`output/html.py`, imported by the front ends): a report is data and
# imports no presentation.
HTML_RENDERERS: dict[type, Callable[[Any], str]] = {}
# The same for plain words (`str(report)`), where a report type has them.
TEXT_RENDERERS: dict[type, Callable[[Any], str]] = {}


def _html(report: object) -> str:
    render = HTML_RENDERERS.get(type(report))
    if render is None:  # the output layer was never imported
        import html

        return f"<pre>{html.escape(repr(report))}</pre>"
    return render(report)


@dataclass
class GradientRow:
    """One variable's gradient: the engine's against both references."""

    variable: str
    backprop: float | None
    reference: str
    finite_difference: str
    symbolic: str | None
    abs_error: float | None
    tolerance: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            "backprop": self.backprop,
            "symbolic": self.symbolic,
            "reference": self.reference,
            "finite_difference": self.finite_difference,
            "abs_error": self.abs_error,
            "tolerance": self.tolerance,
            "ok": self.ok,
        }


def _example_dict(
    expression: str,
    point: dict[str, float],
    backprop: float | None,
    reference: str,
    gradients: list[GradientRow],
) -> dict[str, Any]:
    """The JSON shape shared by a counterexample and an expression result."""
    return {
        "expression": expression,
        "point": point,
        "value": {"backprop": backprop, "reference": reference},
        "gradients": {row.variable: row.to_dict() for row in gradients},
    }


@dataclass
class Counterexample:
    """The smallest failing example found, with everything needed to see why."""

    graph: Graph
    point: dict[str, float]
    value_backprop: float | None
    value_reference: str
    gradients: list[GradientRow]
    divergent_node: int | None
    hint: str
    engine_grads: list[float] | None = None
    reference_adjoints: list[float] | None = None
    error: str | None = None
    # Python in the engine's own API that builds this graph, backpropagates
    # and prints each gradient next to the true one (`checking.reproduce`).
    reproduce: str | None = None
    # How rebuilds of this graph differ, when they do (`nondeterminism`):
    # the snippet then says to run it a few times.
    varies: str | None = None

    @property
    def expression(self) -> str:
        """The graph as text, elided in the middle when very long (deep chains)."""
        text = self.graph.to_text()
        if len(text) <= MAX_TEXT:
            return text
        return f"{text[: MAX_TEXT // 2]} ... {text[-MAX_TEXT // 4 :]}"

    @property
    def divergent_label(self) -> str | None:
        """The first node, from the output, whose engine gradient is wrong."""
        if self.divergent_node is None:
            return None
        label = self.graph.node_labels()[self.divergent_node]
        uses = self.graph.fanout(self.divergent_node)
        return f"{label} (used {uses} times)" if uses > 1 else label

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            **_example_dict(
                self.expression,
                self.point,
                self.value_backprop,
                self.value_reference,
                self.gradients,
            ),
            "divergent_node": self.divergent_label,
            "hint": self.hint,
            "error": self.error,
            "nodes": len(self.graph),
            "reproduce": self.reproduce,
        }


@dataclass
class Check:
    """One probe's verdict on an engine."""

    name: str
    category: str
    status: str
    message: str
    counterexample: Counterexample | None = None
    examples: int = 0
    inconclusive: int = 0
    seconds: float = 0.0
    # Name of an earlier failing check with the same minimal counterexample.
    same_as: str | None = None
    # (file, line) of the engine code to blame: the failing op's method, or
    # where the engine raised; None when unknown (line None in notebooks).
    location: tuple[str, int | None] | None = None
    # The command line that reruns this check alone: `gradcheck engine
    # TARGET --only NAME --seed S` as an argv list; None when the target
    # has no command-line form (a class object).
    rerun: list[str] | None = None

    def __repr__(self) -> str:
        message = self.message if len(self.message) <= 80 else self.message[:77] + "..."
        return f"<Check {self.name} ({self.category}): {self.status}, {message!r}>"

    def _repr_html_(self) -> str:
        return _html(self)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            "name": self.name,
            "category": self.category,
            "status": self.status,
            "message": self.message,
            "counterexample": self.counterexample.to_dict()
            if self.counterexample
            else None,
            "examples": self.examples,
            "inconclusive": self.inconclusive,
            "same_as": self.same_as,
            "rerun": self.rerun,
        }


# Exit codes, as ruff and mypy, plus one for "nothing was verified".
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


@dataclass
class Limit:
    """Right in the normal range, failing beyond a measured bound.

    Not an error unless asked (`--strict`, `--min-depth`, `--range`).
    """

    name: str
    category: str
    message: str
    bound: float | None = None
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "message": self.message,
            "bound": self.bound,
            "hint": self.hint,
        }


class _Verdict:
    """`status`, `ok` and the exit code for a report made of parts."""

    def _parts(self) -> list[Any]:
        raise NotImplementedError

    @property
    def status(self) -> str:
        """'fail' when any part failed (or a limit was found under `strict`),
        'inconclusive' when one verified nothing."""
        parts = self._parts()
        if any(p.status == FAIL for p in parts):
            return FAIL
        if getattr(self, "strict", False) and getattr(self, "limits", None):
            return FAIL
        if any(p.status == INCONCLUSIVE for p in parts):
            return INCONCLUSIVE
        return PASS

    @property
    def ok(self) -> bool:
        """True when every part passed (or was skipped for a documented reason)."""
        return self.status == PASS

    def __str__(self) -> str:
        """The report in words, as the command line prints it (`print(report)`)."""
        render = TEXT_RENDERERS.get(type(self))
        return render(self) if render is not None else repr(self)

    def exit_code(self, strict: bool = False) -> int:
        """0 pass, 1 a check failed (or a limit under `strict`), 3 nothing verified."""
        status = self.status
        if status == FAIL or (strict and getattr(self, "limits", None)):
            return EXIT_FAIL
        return EXIT_INCONCLUSIVE if status == INCONCLUSIVE else EXIT_PASS


@dataclass
class EngineReport(_Verdict):
    """The full verdict on one engine."""

    engine: str
    seed: int
    supported: list[str]
    unsupported: dict[str, str]
    checks: list[Check] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    limits: list[Limit] = field(default_factory=list)
    # Where and how the engine ran: in a worker process, loaded from this file.
    isolated: bool = True
    engine_file: str | None = None
    notes: list[str] = field(default_factory=list)
    output_tail: list[str] = field(default_factory=list)
    # Checked under `strict`: a limit is then an error, and the status says so.
    strict: bool = False
    api: dict[str, str] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)

    def _parts(self) -> list[Any]:
        return self.checks

    def __repr__(self) -> str:
        failed = ", ".join(f"{c.name} ({c.category})" for c in self.failures)
        return (
            f"<EngineReport {self.engine}: {self.status}, {len(self.checks)} checks"
            + (f", failed: {failed}" if failed else "")
            + (f", {len(self.limits)} limits" if self.limits else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        return _html(self)

    @property
    def failures(self) -> list[Check]:
        """The failing checks, in the order they ran (simplest first)."""
        return [c for c in self.checks if c.status == FAIL]

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            "status": self.status,
            "engine": self.engine,
            "seed": self.seed,
            "ops": {
                "supported": list(self.supported),
                "unsupported": sorted(self.unsupported),
            },
            "info": self.info,
            "checks": [c.to_dict() for c in self.checks],
            "limits": [limit.to_dict() for limit in self.limits],
            "isolated": self.isolated,
            "engine_file": self.engine_file,
            "notes": list(self.notes),
            "api": dict(self.api),
            "not_checked": list(self.not_checked),
        }


@dataclass
class ExpressionResult:
    """One expression at one point: value and every gradient, three ways."""

    expression: str
    graph: Graph
    point: dict[str, float]
    value_backprop: float | None
    value_reference: str
    gradients: list[GradientRow]
    status: str
    category: str | None = None
    message: str = ""
    counterexample: Counterexample | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        out = {
            **_example_dict(
                self.expression,
                self.point,
                self.value_backprop,
                self.value_reference,
                self.gradients,
            ),
            "status": self.status,
        }
        if self.category:
            out["category"] = self.category
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class ExpressionReport(_Verdict):
    """Results of `check_expression` for one or more expressions and points."""

    engine: str
    seed: int
    results: list[ExpressionResult] = field(default_factory=list)

    def _parts(self) -> list[Any]:
        return self.results

    @property
    def failures(self) -> list[ExpressionResult]:
        """The results that failed, as an engine report's `failures`."""
        return [r for r in self.results if r.status == FAIL]

    def __repr__(self) -> str:
        failed = sum(1 for r in self.results if r.status == FAIL)
        return (
            f"<ExpressionReport {self.engine}: {self.status}, "
            f"{len(self.results)} results"
            + (f", {failed} failed" if failed else "")
            + ">"
        )

    def _repr_html_(self) -> str:
        return _html(self)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            "status": self.status,
            "engine": self.engine,
            "seed": self.seed,
            "results": [r.to_dict() for r in self.results],
        }


@dataclass
class FunctionReport(ExpressionReport):
    """`check_function(f, ...)`: the graph `f` traced to, checked at its inputs.

    `str(report)` says in plain words which gradients are right, and for a
    wrong one the engine's number, the true one and the snippet that shows
    it in the engine's own API.
    """

    function: str = ""  # how f was called: "f(x, y)"
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<FunctionReport {self.function} on {self.engine}: {self.status}>"

    def to_dict(self) -> dict[str, Any]:
        """The expression report's shape, with the function and the notes."""
        return {**super().to_dict(), "function": self.function, "notes": self.notes}
