"""Progress of a long check: the callback type, and plain lines for a notebook.

`check_engine(progress=...)` calls the callback with (done, total) as the
random graphs run. In a notebook, where stderr is no terminal and `\\r`
bars do not work, `TextProgress` writes a line about every tenth of the way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

Progress = Callable[[int, int], None]


def in_notebook(stream: IO[str] | None = None) -> bool:
    """True under a Jupyter kernel whose stderr is no terminal (no `\\r` bars)."""
    stream = stream or sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "ipykernel" in sys.modules and not tty


class TextProgress:
    """Progress as plain lines, for a notebook (where stderr is not a TTY).

    Pass it as `check_engine(..., progress=TextProgress())`: a line about
    every tenth of the way, no carriage returns.
    """

    def __init__(self, stream: IO[str] | None = None, label: str = "random graphs"):
        self.stream = stream or sys.stderr
        self.label = label
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        step = max(1, total // 10)
        crossed = done == total or done // step != self._last // step
        if crossed and done != self._last:
            self.stream.write(f"{self.label}: {done}/{total}\n")
            self.stream.flush()
        self._last = done

    def __enter__(self) -> TextProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
