"""The entry point: parse, run the form, print, and map outcomes to exit codes.

Exit codes are in `parser.EXIT_CODES`. Options not on the command line come
from `[tool.gradcheck]` (`config.py`). A command hands back its exit code
and how to print its output; errors are one line on stderr (and one JSON
error document with `--json`), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from gradcheck.cli.common import Result, fail
from gradcheck.cli.config import load_config
from gradcheck.cli.engines import run_engine
from gradcheck.cli.expressions import run_expressions
from gradcheck.cli.mutants import run_mutants
from gradcheck.cli.parser import PROG, ArgumentError, parse_args
from gradcheck.errors import EngineError, ExpressionError, GradcheckError

# -- entry point --------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see EXIT_CODES)."""
    with _noted_interrupts() as seen:
        code = _main(argv)
    if seen[0] and code != EXIT_INTERRUPTED:
        # Ctrl-C that a callback swallowed (Python ignores exceptions in gc
        # callbacks, and Hypothesis installs one): still an interrupted run.
        return fail("interrupted", code=EXIT_INTERRUPTED)
    return code


EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def _noted_interrupts() -> Iterator[list[bool]]:
    """SIGINT raises KeyboardInterrupt as usual, and is remembered."""
    seen = [False]
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield seen  # not ours to change (a thread, or a handler of the caller's)
        return

    def interrupted(signum: int, frame: object) -> None:
        seen[0] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stdout = sys.stdout
    want_json = (
        "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    )
    code = 0  # what a closed pipe returns before a command has a result
    namespace = None
    try:
        try:
            namespace = parse_args(args)  # --help and --version print here
            config = load_config(namespace)
            if config is not None:  # its values are defaults: parse again
                namespace = parse_args(args, config.configure)
                config.finish(namespace)
                if namespace.verbosity > 0:  # -v: say where defaults came from
                    sys.stderr.write(f"{PROG}: note: options from {config.path}\n")
            # A user's engine may print(); that must not corrupt our output
            # (above all the one JSON document), so its stdout goes to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                code, emit = _COMMANDS[namespace.command](namespace)
            emit(stdout)
            stdout.flush()
            return code
        except SystemExit as done:  # --help and --version
            code = done.code if isinstance(done.code, int) else 0
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return code
        except ArgumentError as err:
            return fail(str(err), json_to=stdout if want_json else None)
        except ExpressionError as err:
            return fail(str(err), err.pointer(), json_to=stdout if want_json else None)
        except GradcheckError as err:
            # An engine named by `EXPR --engine TARGET` that did not load.
            target = getattr(namespace, "engine", None)
            if not isinstance(err, EngineError) or not isinstance(target, str):
                target = None
            return fail(str(err), json_to=stdout if want_json else None, target=target)
    except BrokenPipeError:  # `gradcheck mutants | head -1`: end quietly
        _silence_stdout()
        return code
    except KeyboardInterrupt:
        return fail("interrupted", code=EXIT_INTERRUPTED)
    except Exception as err:  # a last net: one line, never a traceback
        if os.environ.get("GRADCHECK_DEBUG"):
            raise
        message = str(err).splitlines()[0] if str(err) else ""
        return fail(
            f"internal error: {type(err).__name__}: {message} "
            "(set GRADCHECK_DEBUG=1 for the traceback)"
        )


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so that the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (captured in tests): nothing to flush at exit


_COMMANDS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "check": run_expressions,
    "engine": run_engine,
    "mutants": run_mutants,
}
