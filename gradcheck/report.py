"""Report objects: what a check found, in a form every renderer can use.

The library returns these; the command line renders them as text, JSON or
JUnit XML. `to_dict()` gives the documented JSON shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcheck.expr.graph import Graph

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
        }


class _Verdict:
    """`status` and `ok` for a report made of parts that pass or fail."""

    def _parts(self) -> list[Any]:
        raise NotImplementedError

    @property
    def status(self) -> str:
        """'fail' when any part failed, else 'pass'."""
        return FAIL if any(p.status == FAIL for p in self._parts()) else PASS

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.status == PASS


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

    def _parts(self) -> list[Any]:
        return self.checks

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

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see docs/json.md)."""
        return {
            "status": self.status,
            "engine": self.engine,
            "seed": self.seed,
            "results": [r.to_dict() for r in self.results],
        }
