"""`assert_gradients`: one line in a test to prove an engine's gradients.

    >>> from gradcheck.assertions import assert_gradients
    >>> report = assert_gradients("tanh(x*y) + x**2", {"x": 0.5, "y": -1.5})
    >>> report.ok
    True

It raises `AssertionError` with the same explanation the command line prints
when a gradient (or the value) is wrong; bad expressions and points outside
the domain raise `ExpressionError` and `PointError` as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcheck.expr.graph import Graph
from gradcheck.report import FAIL, ExpressionReport


def assert_gradients(
    expression: str | Graph,
    point: Mapping[str, float] | None = None,
    *,
    engine: Any = None,
    **kwargs: Any,
) -> ExpressionReport:
    """Check `expression` on `engine` and fail like a test when it is wrong.

    `kwargs` go to `check_expression` (`points`, `seed`). Returns the report
    when every result passes (inconclusive results do not fail).
    """
    from gradcheck.checking.check import check_expression
    from gradcheck.output.render import explain_result

    report = check_expression(expression, point, engine=engine, **kwargs)
    failed = [r for r in report.results if r.status == FAIL]
    if failed:
        parts = [explain_result(r) for r in failed]
        parts.append(f"engine: {report.engine}, seed: {report.seed}")
        raise AssertionError("wrong gradients\n" + "\n\n".join(parts))
    return report
