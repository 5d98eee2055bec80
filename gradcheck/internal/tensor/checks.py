"""A check on a tensor engine: the scalar Check plus the finding's details.

`kind` names the bug (broadcasting, matmul-1d, ...) for a CI tool; the
program, the wrong elements with full digits and the true hint go to JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.tensor.diagnose import TITLES, Finding
from gradcheck.report import FAIL, Check


@dataclass
class TensorCheck(Check):
    """A check on a tensor engine, with the tensor finding's details."""

    kind: str | None = None
    program: str | None = None
    hint: str = ""
    wrong: list[dict[str, Any]] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    # precision seen in the runs (float32 results), and the ops that gave it
    unit_roundoff: float = 2.0**-53
    low_ops: list[str] = field(default_factory=list)

    def tensor_dict(self) -> dict[str, Any]:
        """The tensor finding's details, as the JSON document gives them."""
        return {
            "program": self.program,
            "hint": self.hint or None,
            "wrong": list(self.wrong),
            "also_failing": list(self.also),
        }

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["kind"] = self.kind
        out["tensor"] = self.tensor_dict()
        return out


def finding_check(
    name: str, finding: Finding, program: str, also: list[str], examples: int
) -> TensorCheck:
    return TensorCheck(
        name=name,
        category=finding.category,
        status=FAIL,
        message=f"{TITLES[finding.kind]} in `{program}`: {finding.message}",
        examples=examples,
        kind=finding.kind,
        program=program,
        hint=finding.hint,
        wrong=finding.wrong,
        also=also,
    )
