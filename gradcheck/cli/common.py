"""What every command of the command line shares: its result, errors, writes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Any

from gradcheck.cli.parser import PROG
from gradcheck.errors import UsageError

# What a command hands back: its exit code, and how to print its output.
Emit = Callable[[IO[str]], None]
Result = tuple[int, Emit]


def fail(
    message: str,
    pointer: str = "",
    code: int = 2,
    json_to: IO[str] | None = None,
    target: str | None = None,
) -> int:
    """Print `gradcheck: error: ...` (and the caret lines) on stderr.

    With `--json`, stdout also gets one error document, so that a CI tool
    always has something to parse.
    """
    if json_to is not None:
        from gradcheck.internal.output.json_doc import dump, error_document

        dump(error_document(message, target), json_to)
        json_to.flush()
    sys.stderr.write(f"{PROG}: error: {message}\n")
    if pointer:
        sys.stderr.write(indent(pointer) + "\n")
    sys.stderr.flush()
    return code


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def write_file(action: Any) -> Any:
    try:
        return action()
    except OSError as err:
        raise UsageError(f"cannot write: {err}") from err
