"""The `gradcheck` command: check expressions, an engine, or the mutant gallery.

    gradcheck EXPR [EXPR ...] [--at x=1,y=2] [--points N] [--seed S] [--json]
    gradcheck engine [TARGET] [--examples N] [--junit-xml FILE] [--dot DIR] ...
    gradcheck mutants [--examples N] [--seed S] [--json]

Exit codes, as ruff and mypy: 0 every check passes, 1 a check fails, 2 a
usage or input error (one line on stderr, with a caret under a bad
expression). Imports stay light so that `--help` is fast: SymPy and the
checker load inside the command functions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from gradcheck.errors import ExpressionError, GradcheckError, UsageError

PROG = "gradcheck"
COMMANDS = ("engine", "mutants")
DEFAULT_EXAMPLES = 200
MUTANT_EXAMPLES = 20
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DESCRIPTION = """\
Check backprop gradients against SymPy and mpmath references.

  gradcheck EXPR [EXPR ...]   check expressions on an engine (default form)
  gradcheck engine [TARGET]   check a whole engine: probes and random graphs
  gradcheck mutants           run the gallery of buggy engines

Run `gradcheck engine --help` or `gradcheck mutants --help` for their options.
Exit codes: 0 all checks pass, 1 a check fails, 2 usage or input error.
"""


class _ArgumentError(Exception):
    """argparse's complaint, turned into our one-line error and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


def _expression_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Expressions use + - * / ** and the functions tanh exp log relu "
        "sigmoid sin cos sqrt abs softplus leaky_relu gelu gelu_tanh erf; see "
        "docs/grammar.md. An expression starting with '-' is fine: "
        "gradcheck '-x**2' --at x=1",
    )
    parser.add_argument(
        "expressions", nargs="*", metavar="EXPR", help="expressions such as 'tanh(x*y)'"
    )
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the point: repeatable, and x=1,y=2 works too",
    )
    parser.add_argument(
        "--points",
        type=_positive,
        default=1,
        metavar="N",
        help="without --at: check at N random points (default 1)",
    )
    _common(parser)
    parser.add_argument(
        "--engine",
        metavar="TARGET",
        default=None,
        help="path/to/file.py[:Class] or package.module[:Class] (default: micrograd)",
    )
    return parser


def _engine_parser() -> _Parser:
    parser = _Parser(
        prog=f"{PROG} engine",
        description="Check a whole engine: values, every op alone, reuse, chains, "
        "deep graphs, repeated backward, zero_grad, then random graphs.",
    )
    parser.add_argument(
        "target",
        nargs="?",
        default=None,
        metavar="TARGET",
        help="path/to/file.py[:Class] or package.module[:Class] (default: micrograd)",
    )
    parser.add_argument(
        "--examples",
        type=_count,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"random graphs to try (default {DEFAULT_EXAMPLES})",
    )
    parser.add_argument(
        "--max-nodes",
        type=_positive,
        default=30,
        metavar="N",
        help="largest random graph (default 30)",
    )
    parser.add_argument(
        "--ops", metavar="LIST", default=None, help="only these ops, e.g. add,mul,tanh"
    )
    parser.add_argument(
        "--jobs", type=_positive, default=1, metavar="N", help="processes (default 1)"
    )
    _common(parser)
    parser.add_argument(
        "--junit-xml", metavar="FILE", default=None, help="also write JUnit XML here"
    )
    parser.add_argument(
        "--dot",
        metavar="DIR",
        default=None,
        help="write each counterexample as DOT (and SVG when `dot` exists) here",
    )
    return parser


def _mutants_parser() -> _Parser:
    parser = _Parser(
        prog=f"{PROG} mutants",
        description="Run the checker on every buggy engine of the gallery and "
        "show which category it finds; exit 1 if one is missed.",
    )
    parser.add_argument(
        "--examples",
        type=_count,
        default=MUTANT_EXAMPLES,
        metavar="N",
        help=f"random graphs per mutant (default {MUTANT_EXAMPLES})",
    )
    parser.add_argument(
        "--only", metavar="NAMES", default=None, help="only these mutants (comma list)"
    )
    _common(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=_seed_value,
        default=None,
        metavar="S",
        help="seed for points and graphs (default: random, 0 when CI is set)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout"
    )


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _seed_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1: {text}")
    return value


def default_seed(seed: int | None) -> int:
    """`seed`, or 0 when the CI variable is set, or a fresh random seed."""
    if seed is not None:
        return seed
    if os.environ.get("CI"):
        return 0
    return random.SystemRandom().randrange(2**31)


# -- entry point --------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 or 2)."""
    args = list(sys.argv[1:] if argv is None else argv)
    global _stdout
    _stdout = sys.stdout
    try:
        # A user's engine may print(); that must not corrupt our output
        # (above all the one JSON document), so its stdout goes to stderr.
        run, namespace = _dispatch(args)  # --help prints here, on stdout
        with contextlib.redirect_stdout(sys.stderr):
            return run(namespace)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except _ArgumentError as err:
        return _fail(str(err))
    except ExpressionError as err:
        return _fail(str(err), err.pointer())
    except GradcheckError as err:
        return _fail(str(err))
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)
    except BrokenPipeError:
        return 1
    except Exception as err:  # a last net: one line, never a traceback
        if os.environ.get("GRADCHECK_DEBUG"):
            raise
        message = str(err).splitlines()[0] if str(err) else ""
        return _fail(
            f"internal error: {type(err).__name__}: {message} "
            "(set GRADCHECK_DEBUG=1 for the traceback)"
        )


_stdout: IO[str] = sys.stdout


def _dispatch(
    args: list[str],
) -> tuple[Callable[[argparse.Namespace], int], argparse.Namespace]:
    """The command to run and its parsed arguments."""
    if args and args[0] == "engine":
        return _run_engine, _engine_parser().parse_args(args[1:])
    if args and args[0] == "mutants":
        return _run_mutants, _mutants_parser().parse_args(args[1:])
    return _run_expressions, _parse_expression_args(args)


def _fail(message: str, pointer: str = "", code: int = 2) -> int:
    """Print `gradcheck: error: ...` (and the caret lines) on stderr."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    if pointer:
        sys.stderr.write(_indent(pointer) + "\n")
    sys.stderr.flush()
    return code


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# -- expressions --------------------------------------------------------------

_VALUE_OPTIONS = ("--at", "--points", "--seed", "--engine")
_FLAG_OPTIONS = ("--json", "-h", "--help")


def _parse_expression_args(args: list[str]) -> argparse.Namespace:
    """Split options from expressions, so that `-x**2` is an expression."""
    options: list[str] = []
    expressions: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        key = arg.split("=", 1)[0]
        if arg == "--":
            expressions.extend(args[i + 1 :])
            break
        if arg in _VALUE_OPTIONS:
            if i + 1 >= len(args):
                raise _ArgumentError(f"argument {arg}: expected a value")
            options += [arg, args[i + 1]]
            i += 2
            continue
        if arg in _FLAG_OPTIONS or (arg.startswith("--") and key in _VALUE_OPTIONS):
            options.append(arg)
        elif arg.startswith("--") and _NAME.fullmatch(arg[2:].replace("-", "_")):
            raise _ArgumentError(f"unrecognized option: {arg}")
        else:
            expressions.append(arg)
        i += 1
    namespace = _expression_parser().parse_args([*options, "--", *expressions])
    if not namespace.expressions:
        raise _ArgumentError(
            "no expression given; try: gradcheck 'tanh(x*y) + x**2' --at x=0.5,y=-1.5"
            " (or gradcheck --help)"
        )
    return namespace


def parse_point(items: Sequence[str]) -> dict[str, float] | None:
    """`--at` values (`x=1`, `x=1,y=2`, repeatable) as one point, or None."""
    if not items:
        return None
    point: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, raw = part.partition("=")
            name, raw = name.strip(), raw.strip()
            if not sep or not name:
                raise UsageError(f"--at expects NAME=VALUE, not {part!r}")
            if not _NAME.fullmatch(name):
                raise UsageError(f"--at: {name!r} is not a variable name")
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(f"--at: bad number {raw!r} for {name}") from None
            if not math.isfinite(value):
                raise UsageError(f"--at: {name}={raw} is not a finite number")
            if name in point:
                raise UsageError(f"--at: {name} is given twice")
            point[name] = value
    return point


def _run_expressions(args: argparse.Namespace) -> int:
    from gradcheck.checking.check import check_expression
    from gradcheck.checking.engines import load_engine
    from gradcheck.expr.ops import OPS
    from gradcheck.expr.parser import parse
    from gradcheck.report import ExpressionReport

    graphs = [(text, parse(text)) for text in args.expressions]
    engine = load_engine(args.engine)  # once, not once per expression
    for text, graph in graphs:
        missing = sorted(graph.ops_used() & set(engine.unsupported))
        if missing:
            name = missing[0]
            raise UsageError(
                f"engine {engine.target} does not support {name} "
                f"({OPS[name].doc}) used in {text}: {engine.unsupported[name]}"
            )
    point = parse_point(args.at)
    if point is not None:
        known = {name for _, graph in graphs for name in graph.variables}
        unknown = [name for name in point if name not in known]
        if unknown:
            shown = ", ".join(sorted(known)) or "none"
            raise UsageError(
                f"--at: unknown name {unknown[0]} (the expressions' variables: {shown})"
            )
    seed = default_seed(args.seed)
    combined: ExpressionReport | None = None
    for text, graph in graphs:
        at = None
        if point is not None:
            at = {k: v for k, v in point.items() if k in graph.variables}
            missing = [v for v in graph.variables if v not in at]
            if missing:
                raise UsageError(f"--at: no value for {', '.join(missing)} in {text}")
        report = check_expression(
            text, at, engine=engine, points=args.points, seed=seed
        )
        if combined is None:
            combined = report
        else:
            combined.results.extend(report.results)
    assert combined is not None
    if args.json:
        _print_json(combined.to_dict())
    else:
        from gradcheck.output.render import print_expression_report, printer

        print_expression_report(combined, printer(_stdout))
    return 0 if combined.ok else 1


# -- engine -------------------------------------------------------------------


def _run_engine(args: argparse.Namespace) -> int:
    from gradcheck.checking.check import check_engine
    from gradcheck.output.render import Progress, print_engine_report, printer

    ops = None
    if args.ops is not None:
        ops = [name.strip() for name in args.ops.split(",") if name.strip()]
        if not ops:
            raise UsageError("--ops needs at least one op name")
    seed = default_seed(args.seed)
    with Progress(enabled=not args.json) as progress:
        report = check_engine(
            args.target,
            examples=args.examples,
            seed=seed,
            max_nodes=args.max_nodes,
            ops=ops,
            jobs=args.jobs,
            progress=progress,
        )
    written: list[str] = []
    if args.junit_xml:
        from gradcheck.output.junit import write_junit

        written.append(str(_write(lambda: write_junit(report, args.junit_xml))))
    if args.dot:
        written += _write_dots(report, args.dot)
    if args.json:
        _print_json(report.to_dict())
    else:
        out = printer(_stdout)
        print_engine_report(report, out)
        for path in written:
            out.line(f"wrote {path}")
    return 0 if report.ok else 1


def _write(action: Any) -> Any:
    try:
        return action()
    except OSError as err:
        raise UsageError(f"cannot write: {err}") from err


def _write_dots(report: Any, directory: str) -> list[str]:
    from gradcheck.output.dot import INSTALL_HINT, have_dot, write_dot

    paths: list[str] = []
    for check in report.checks:
        if check.counterexample is not None:
            example = check.counterexample
            name = check.name
            paths += [
                str(p)
                for p in _write(lambda e=example, n=name: write_dot(e, directory, n))
            ]
    if paths and not have_dot():
        sys.stderr.write(f"{PROG}: note: {INSTALL_HINT}\n")
    return paths


# -- mutants ------------------------------------------------------------------


def _run_mutants(args: argparse.Namespace) -> int:
    from gradcheck.mutants import MUTANTS
    from gradcheck.output.render import Progress, clip, printer

    mutants = list(MUTANTS)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        names = {m.name for m in MUTANTS}
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise UsageError(f"unknown mutant {unknown[0]}; see gradcheck mutants")
        mutants = [m for m in MUTANTS if m.name in wanted]
    seed = default_seed(args.seed)
    rows: list[dict[str, Any]] = []
    with Progress(label="mutants", enabled=not args.json) as progress:
        for number, mutant in enumerate(mutants):
            progress(number, len(mutants))
            rows.append(_run_mutant(mutant, args.examples, seed))
    missed = [row for row in rows if not row["caught"]]
    status = "fail" if missed else "pass"
    if args.json:
        _print_json({"status": status, "seed": seed, "mutants": rows})
        return 1 if missed else 0
    out = printer(_stdout)
    table = [
        [
            "caught" if row["caught"] else "MISSED",
            row["name"],
            row["expected"],
            row["found"] or "none",
            clip(row["hint"], 100),
        ]
        for row in rows
    ]
    styles = [None if row["caught"] else "bold red" for row in rows]
    out.table(["verdict", "mutant", "expected", "found", "hint"], table, styles)
    out.line(f"seed: {seed} (rerun with --seed {seed})")
    out.line(
        f"result: {status.upper()} ({len(rows) - len(missed)} of {len(rows)} caught "
        "with their category)",
        "bold red" if missed else "green",
    )
    return 1 if missed else 0


def _run_mutant(mutant: Any, examples: int, seed: int) -> dict[str, Any]:
    """Check one mutant; a checker error is reported as a miss, not a crash."""
    from gradcheck.checking.check import check_engine
    from gradcheck.checking.engines import load_source

    row: dict[str, Any] = {
        "name": mutant.name,
        "expected": mutant.category,
        "found": None,
        "categories": [],
        "caught": False,
        "check": None,
        "hint": "",
        "description": mutant.description,
    }
    try:
        module = load_source(mutant.name, mutant.source())
        report = check_engine(module, examples=examples, seed=seed)
    except Exception as err:  # one broken run must not stop the gallery
        message = str(err).splitlines()[0] if str(err) else ""
        row["found"] = "error"
        row["hint"] = f"the checker failed: {type(err).__name__}: {message}"
        return row
    categories = [c.category for c in report.failures]
    hit = next((c for c in report.failures if c.category == mutant.category), None)
    first = hit or (report.failures[0] if report.failures else None)
    if first is not None:
        example = first.counterexample
        row["hint"] = example.hint if example and example.hint else first.message
        row["found"] = first.category
        row["check"] = first.name
    row["categories"] = sorted(set(categories))
    row["caught"] = hit is not None
    return row


# -- output -------------------------------------------------------------------


def _print_json(document: dict[str, Any], stream: IO[str] | None = None) -> None:
    out = stream or _stdout
    json.dump(_finite(document), out, indent=2, allow_nan=False)
    out.write("\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such floats become the strings 'nan', 'inf'."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(child, float) and not math.isfinite(child):
                    item[key] = repr(child)
                else:
                    stack.append(child)
        elif isinstance(item, list):
            for k, child in enumerate(item):
                if isinstance(child, float) and not math.isfinite(child):
                    item[k] = repr(child)
                else:
                    stack.append(child)
    return value
