"""One exception hierarchy: every error gradcheck raises is a `GradcheckError`.

Each subclass is also the matching built-in, so callers who catch
`ValueError` or `TypeError` keep working. The CLI maps them to exit code 2.
"""

from __future__ import annotations


class GradcheckError(Exception):
    """Root of every error raised by gradcheck itself."""


class ExpressionError(GradcheckError, ValueError):
    """An expression that cannot be parsed or is not allowed.

    `text` is the input and `span` the (start, end) of the bad part, so the
    message can show a caret under it.
    """

    def __init__(
        self, message: str, text: str = "", span: tuple[int, int] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.text = text
        self.span = span

    def pointer(self) -> str:
        """The input with `^~~~` under the bad span, or '' when unknown."""
        if not self.text or self.span is None:
            return ""
        start, end = self.span
        start = max(0, min(start, len(self.text)))
        width = max(1, end - start)
        return f"{self.text}\n{' ' * start}^{'~' * (width - 1)}"


class PointError(GradcheckError, ValueError):
    """A point outside the domain: a missing variable, log(-1), 1/0, overflow."""


class EngineError(GradcheckError, ImportError):
    """An engine that cannot be loaded or does not follow the Value contract."""


class UsageError(GradcheckError, ValueError):
    """A bad option or argument value given to the API or the command line."""


class FunctionError(GradcheckError, TypeError):
    """A Python function that `check_function` cannot trace: it branches on a
    value, reads `.data`, calls a method the op table does not know, or uses
    the engine in a way tracing cannot rebuild."""
