"""Where the text reports go: a plain printer, its rich twin, a progress bar.

The layout (which lines, which tables) is `render.py`'s job; a printer only
writes it. Both printers write the same characters: the rich one lays tables
out exactly as the plain one does and adds colour only. Everything it prints
is a `rich.text.Text`, never markup, because engine and check names such as
`local-derivative[add]` look like markup to rich; and nothing is wrapped,
cropped or ellipsized by rich, so no digit of a number is lost (a long line
wraps in the terminal, as plain text does).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

# How much the text reports say: -q, the default, -v.
QUIET, NORMAL, VERBOSE = -1, 0, 1


def want_rich(stream: IO[str] | None = None) -> bool:
    """True when rich is importable, `stream` is a terminal and NO_COLOR unset."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") is not None:
        return False
    if not _isatty(stream):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def table_lines(
    headers: Sequence[str], rows: Sequence[Sequence[str]], indent: int = 2
) -> list[str]:
    """The header and rows as left-aligned columns, two spaces apart."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    pad = " " * indent
    return [
        pad + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *rows]
    ]


class Printer:
    """Plain text output: lines and aligned tables."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def line(self, text: str = "", style: str | None = None) -> None:
        self.stream.write(text + "\n")

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        styles: Sequence[str | None] | None = None,
        indent: int = 2,
    ) -> None:
        """A header line, then one line per row; `styles` colours the rows."""
        lines = table_lines(headers, rows, indent)
        self.line(lines[0], "bold")
        for k, text in enumerate(lines[1:]):
            self.line(text, styles[k] if styles else None)


class RichPrinter(Printer):
    """The plain printer's characters, with colour from rich."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console

        # soft_wrap: rich neither wraps nor crops; the terminal wraps.
        self.console = Console(
            file=self.stream, highlight=False, soft_wrap=True, emoji=False
        )

    def line(self, text: str = "", style: str | None = None) -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style or ""))


def printer(stream: IO[str] | None = None, rich: bool | None = None) -> Printer:
    """A `RichPrinter` when `rich` (default: `want_rich(stream)`), else plain."""
    if rich is None:
        rich = want_rich(stream)
    return RichPrinter(stream) if rich else Printer(stream)


class Progress:
    """A progress display for the random-graph phase, on a terminal only.

    Use as a context manager; call it as `progress(done, total)`. With rich
    it is a bar, without it a `\\r` counter; when `stream` is not a terminal
    it shows nothing.
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        label: str = "random graphs",
        enabled: bool = True,
    ) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.enabled = enabled and _isatty(self.stream)
        self._bar: Any = None
        self._task: Any = None
        self._update: Callable[[int, int], None] = self._plain
        self._shown = False

    def __enter__(self) -> Progress:
        if self.enabled and want_rich(self.stream):
            from rich.console import Console
            from rich.markup import escape
            from rich.progress import Progress as Bar

            self._bar = Bar(console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(escape(self.label), total=None)
            self._update = self._rich
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.enabled:
            self._update(done, total)

    def _rich(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total)

    def _plain(self, done: int, total: int) -> None:
        self.stream.write(f"\r{self.label}: {done}/{total}")
        self.stream.flush()
        self._shown = True

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
