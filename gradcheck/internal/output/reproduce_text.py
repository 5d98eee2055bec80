"""How a failing check is replayed: its rerun command and its snippet, as text.

One function for every text renderer (the terminal report, the GitHub job
summary), so they all show the same lines: the command that reruns the
check alone, and the Python that shows the wrong gradient in the engine's
own API (`checking.reproduce` writes both onto the report).
"""

from __future__ import annotations

import shlex

from gradcheck.report import Check, ExpressionResult


def reproduce_lines(
    check: Check | ExpressionResult, markdown: bool = False, snippet: bool = True
) -> list[str]:
    """The rerun command and the snippet of `check`; [] when it has neither.

    `snippet=False` for a failure shown as a repeat of one above, whose
    snippet is already there.
    """
    lines: list[str] = []
    rerun = getattr(check, "rerun", None)
    example = check.counterexample
    code = getattr(example, "reproduce", None) if example is not None else None
    snippet = snippet and bool(code)
    if rerun:
        command = shlex.join(rerun)
        lines.append(f"rerun: `{command}`" if markdown else f"rerun: {command}")
    if snippet and code:
        if markdown:
            lines += ["", "reproduce in the engine's own API:", "", "```python"]
            lines += [*code.splitlines(), "```"]
        else:
            lines.append("reproduce in the engine's own API:")
            lines += [f"    {line}" for line in code.splitlines()]
    return lines
