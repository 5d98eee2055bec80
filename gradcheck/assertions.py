"""`assert_gradients` and `assert_function_gradients`: one line in a test.

    >>> from gradcheck.assertions import assert_gradients
    >>> report = assert_gradients("tanh(x*y) + x**2", {"x": 0.5, "y": -1.5})
    >>> report.ok
    True

It raises `AssertionError` with the same explanation the command line prints
when a gradient (or the value) is wrong; bad expressions and points outside
the domain raise `ExpressionError` and `PointError` as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gradcheck.internal.expr.graph import Graph
from gradcheck.report import FAIL, ExpressionReport, FunctionReport


def assert_gradients(
    expression: str | Graph,
    point: Mapping[str, float] | None = None,
    *,
    engine: Any = None,
    **kwargs: Any,
) -> ExpressionReport:
    """Check `expression` on `engine` and fail like a test when it is wrong.

    Returns the report when every result passes (inconclusive results do
    not fail), so a test can look further at the numbers.

    :param expression: the expression, as text in the expression grammar
        (``"tanh(x*y) + x**2"``) or as a `Graph`.
    :param point: a value for every variable of the expression; omit it to
        draw random points in the domain instead (see ``points``).
    :param engine: the engine under test, any target `check_engine` accepts
        (a path, a module name, a Value class or module); None is the
        built-in micrograd.
    :param kwargs: passed on to `check_expression`: ``points`` (how many
        random points when no ``point`` is given) and ``seed`` (which points;
        see `gradcheck.seeds`).
    :raises AssertionError: a gradient or the value is wrong; the message
        is the command line's explanation, with the engine and the seed.
    :raises ExpressionError: the expression cannot be parsed.
    :raises PointError: the point misses a variable or lies outside the domain.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper
    from gradcheck.internal.checking.check import check_expression
    from gradcheck.internal.output.render import explain_result

    report = check_expression(expression, point, engine=engine, **kwargs)
    failed = [r for r in report.results if r.status == FAIL]
    if failed:
        parts = [explain_result(r) for r in failed]
        parts.append(f"engine: {report.engine}, seed: {report.seed}")
        raise AssertionError("wrong gradients\n" + "\n\n".join(parts))
    return report


def assert_function_gradients(
    f: Callable[..., Any], *inputs: Any, engine: Any = None, **kwargs: Any
) -> FunctionReport:
    """Check `f`'s gradients at `inputs` (`check_function`) and fail like a test.

        >>> from gradcheck import assert_function_gradients
        >>> def f(x, y):
        ...     return (x * y + x).tanh()
        >>> assert_function_gradients(f, 0.5, -1.5).ok
        True

    :param f: a Python function written with the engine's values, operators
        and op-table methods; see `gradcheck.check_function`.
    :param inputs: f's arguments, as numbers or the engine's values.
    :param engine: the engine, as `check_function` takes it.
    :param kwargs: passed on to `check_function` (``seed``, ``time_limit``).
    :raises AssertionError: a gradient or the value is wrong; the message
        gives every gradient and the snippet that shows the wrong one.
    :raises FunctionError: f does something tracing cannot follow.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    from gradcheck.internal.checking.functions import check_function
    from gradcheck.internal.output.function_text import function_text

    report = check_function(f, *inputs, engine=engine, **kwargs)
    if any(r.status == FAIL for r in report.results):
        raise AssertionError("wrong gradients\n" + function_text(report))
    return report
