"""Run the `gradcheck` command line inside the test process.

A fresh `python -m gradcheck` pays about 1.5 s of start-up and imports
(sympy, mpmath, Hypothesis) and starts with a cold reference cache; a run
here shares all of that with the rest of the session. The user's engine
still runs in its own worker process, which the command line spawns, so
isolation is the same: the worker inherits the working directory and the
environment set here at spawn time, while the test process's `sys.path`
stays as it was.

Tests whose point is the real process (start-up, `--help` not importing
sympy, a closed pipe, the exit code a shell sees) keep a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from gradcheck.cli import main
from gradcheck.internal.expr.ops import OPS

# What the environment of a CI runner adds and a test must not inherit: on
# GitHub Actions the command line writes annotations and appends to the
# job's real summary file; GRADCHECK_DEBUG turns one-line errors into
# tracebacks.
AMBIENT = (
    "GITHUB_ACTIONS",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_WORKSPACE",
    "GRADCHECK_DEBUG",
)


class Run(NamedTuple):
    """What a subprocess would give: exit code, stdout, stderr."""

    code: int
    out: str
    err: str


@contextlib.contextmanager
def process_state(
    cwd: Path | str | None = None, env: Mapping[str, str | None] | None = None
) -> Iterator[None]:
    """The working directory and `os.environ` as a subprocess would see them.

    `env` values of None unset the variable. Everything is restored after,
    whatever the run did, so one run cannot leak into the next.
    """
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    try:
        for name in AMBIENT:
            os.environ.pop(name, None)
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        if dict(os.environ) != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)


def run_cli(
    *argv: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Run:
    """`gradcheck ARGV` in this process: exit code, stdout and stderr.

    Fails the test if the run changed this process's `sys.path` or the op
    table: state that would leak into the next call of `main()` (the
    pytest plugin and API users call it many times in one process).
    """
    out, err = io.StringIO(), io.StringIO()
    path, ops = list(sys.path), dict(OPS)
    with (
        process_state(cwd, env),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(list(argv))
    assert sys.path == path, "gradcheck changed sys.path of the calling process"
    assert dict(OPS) == ops, "gradcheck left the op table changed"
    return Run(code, out.getvalue(), err.getvalue())
