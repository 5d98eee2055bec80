"""The `gradcheck` command: check expressions, engines, or the mutant gallery.

    gradcheck [check] EXPR [EXPR ...] [--at x=1,y=2] [--points N] [--json]
    gradcheck engine [TARGET ...] [--examples N] [--junit-xml FILE] ...
    gradcheck mutants [--examples N] [--only NAMES] [--json]

argparse owns every option: one subparser per form. The expression form is
the default, so the word `check` may be left out; its arguments are split
into options and expressions with the parser's own option table, so that
`-x**2` is an expression. Exit codes are in `EXIT_CODES`. Imports stay light
so that `--help` is fast: SymPy and the checker load inside the commands.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from gradcheck.errors import ExpressionError, GradcheckError, UsageError

PROG = "gradcheck"
FORMS = ("check", "engine", "mutants")
DEFAULT_EXAMPLES = 200
MUTANT_EXAMPLES = 20
# The gallery measures depth up to here: deep enough for a recursive sort.
MUTANT_DEPTH = 10_000
DEFAULT_IMPORT_TIMEOUT = 20.0
DEFAULT_MEMORY_LIMIT = "4G"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)

EXIT_CODES = """\
exit codes:
  0    every check passes (limits are listed, not errors)
  1    a check fails: a wrong value or gradient, a crash, a missed mutant,
       or a limit with --strict
  2    usage or input error: a bad option or expression, an engine that
       does not load
  3    no failure, but some check verified nothing (all inconclusive)
  130  interrupted (Ctrl-C)
With several engines the worst wins: 1 if any fails, else 2 if any did
not load, else 3, else 0."""

DESCRIPTION = """\
Check backprop gradients against SymPy and mpmath references.

  gradcheck EXPR [EXPR ...]       check expressions on an engine (default form;
                                  `gradcheck check EXPR` is the same)
  gradcheck engine [TARGET ...]   check whole engines: probes and random graphs
  gradcheck mutants               run the gallery of buggy engines

Run `gradcheck engine --help` or `gradcheck mutants --help` for their options.
"""

GRAMMAR = textwrap.fill(
    "Expressions use + - * / ** and the functions of the op table (tanh, exp, "
    "log, relu, sigmoid, ...); see the grammar page of the docs. An expression "
    "starting with '-' is fine: gradcheck '-x**2' --at x=1. '-' reads "
    "expressions from stdin, one per line (blank lines and # comments skipped).",
    78,
)
TARGET_HELP = (
    "path/to/file.py[:Class], notebook.ipynb[:Class] or package.module[:Class] "
    "(default: the built-in micrograd)"
)


class _ArgumentError(Exception):
    """argparse's complaint, turned into our one-line error and exit code 2."""


class _Parser(argparse.ArgumentParser):
    """Raises instead of exiting, and remembers its options by name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        self.known: dict[str, argparse.Action] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        for option in action.option_strings:
            self.known[option] = action
        return action

    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(message)


class _Root(_Parser):
    """`gradcheck --help` shows the default form's options too."""

    default_form: argparse.ArgumentParser | None = None

    def format_help(self) -> str:
        text = super().format_help()
        if self.default_form is not None:
            text += "\n" + self.default_form.format_help()
        return text


# -- the parsers ----------------------------------------------------------------


def build_parser() -> tuple[_Root, dict[str, _Parser]]:
    """The root parser and its subparsers, one per form."""
    from gradcheck import __version__

    root = _Root(prog=PROG, description=DESCRIPTION)
    root.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    forms = root.add_subparsers(dest="command", metavar="FORM", parser_class=_Parser)
    check = forms.add_parser(
        "check",
        help="check expressions (the default form)",
        description="Check expressions on an engine, at a point or at random points.",
        epilog=f"{GRAMMAR}\n\n{EXIT_CODES}",
    )
    _expression_options(check)
    engine = forms.add_parser(
        "engine",
        help="check whole engines",
        description="Check whole engines: values, every op alone, reuse, chains, "
        "deep graphs, repeated backward, zero_grad, then random graphs. Several "
        "targets give one report each, then a summary table.",
        epilog=EXIT_CODES,
    )
    _engine_options(engine)
    mutants = forms.add_parser(
        "mutants",
        help="run the gallery of buggy engines",
        description="Run the checker on every buggy engine of the gallery and "
        "show which category it finds; exit 1 if one is missed.",
        epilog=EXIT_CODES,
    )
    _mutants_options(mutants)
    root.default_form = check
    return root, {"check": check, "engine": engine, "mutants": mutants}


def _expression_options(parser: _Parser) -> None:
    parser.add_argument(
        "expressions",
        nargs="*",
        metavar="EXPR",
        help="expressions such as 'tanh(x*y)'; '-' reads them from stdin",
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
    parser.add_argument("--engine", metavar="TARGET", default=None, help=TARGET_HELP)
    _common(parser)


def _engine_options(parser: _Parser) -> None:
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=TARGET_HELP)
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
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="processes (default 1); with several targets, the targets are spread",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="S",
        help="deadline per request to the engine, in seconds",
    )
    limits.add_argument(
        "--import-timeout",
        type=_seconds,
        default=DEFAULT_IMPORT_TIMEOUT,
        metavar="S",
        help=f"deadline for importing the engine (default {DEFAULT_IMPORT_TIMEOUT:g})",
    )
    limits.add_argument(
        "--memory-limit",
        type=_size,
        default=_size(DEFAULT_MEMORY_LIMIT),
        metavar="SIZE",
        help="memory for the engine: 512M, 4G or bytes "
        f"(default {DEFAULT_MEMORY_LIMIT})",
    )
    limits.add_argument(
        "--strict", action="store_true", help="limits are errors too (exit 1)"
    )
    limits.add_argument(
        "--min-depth",
        type=_positive,
        default=None,
        metavar="N",
        help="a deepest working chain shorter than N is an error",
    )
    limits.add_argument(
        "--range",
        dest="range_limit",
        type=_seconds,
        default=None,
        metavar="X",
        help="a failure at |x| <= X is an error, not a limit",
    )
    api = parser.add_argument_group("the engine's names")
    api.add_argument(
        "--api",
        action="append",
        default=[],
        type=_pairs("--api"),
        metavar="ROLE=NAME,...",
        help="data=value,grad=derivative,backward=backprop; other keys are "
        "constructor keywords (repeatable)",
    )
    api.add_argument(
        "--op",
        action="append",
        default=[],
        type=_pairs("--op"),
        metavar="OP=METHOD,...",
        help="the engine's method for an op, e.g. exp=expo (repeatable)",
    )
    api.add_argument(
        "--op-def",
        action="append",
        default=[],
        type=_pair("--op-def"),
        metavar="METHOD=EXPR",
        help="what a method computes, in x and y: 'log=log(x + 1e-6)' (repeatable)",
    )
    api.add_argument(
        "--kind",
        choices=("scalar", "tensor"),
        default=None,
        help="the kind of engine (default: detected)",
    )
    _common(parser)
    parser.add_argument(
        "--dot",
        type=_output_path("--dot"),
        metavar="DIR",
        default=None,
        help="write each counterexample as DOT (and SVG when `dot` exists) here",
    )


def _mutants_options(parser: _Parser) -> None:
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
    parser.add_argument(
        "--tensor",
        action="store_true",
        help="the gallery of buggy tensor (numpy) engines instead",
    )
    _common(parser)


def _common(parser: _Parser) -> None:
    from gradcheck import __version__

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
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--junit-xml",
        type=_output_path("--junit-xml"),
        metavar="FILE",
        default=None,
        help="also write JUnit XML here",
    )


# -- option values -------------------------------------------------------------


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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _size(text: str) -> int:
    """`4G`, `512M`, `1.5G`, `100000000`: bytes (K, M, G, T are powers of 1024)."""
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a size like 512M or 4G: {text!r}")
    number, unit = float(found.group(1)), found.group(2).lower()
    value = int(number * 1024 ** " kmgt".index(unit or " "))
    if value < 64 * 1024**2:
        raise argparse.ArgumentTypeError(f"must be at least 64M, not {text}")
    return value


def _seed_value(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1: {text}")
    return value


def _output_path(option: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("needs a file or folder name, not ''")
        return text

    parse.__name__ = option
    return parse


def _pair(option: str) -> Callable[[str], list[tuple[str, str]]]:
    """One `KEY=VALUE` (the value may hold commas: it is an expression)."""

    def parse(text: str) -> list[tuple[str, str]]:
        key, sep, value = text.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
        if not _NAME.fullmatch(key):
            raise argparse.ArgumentTypeError(f"{key!r} is not a name")
        return [(key, value)]

    parse.__name__ = option
    return parse


def _pairs(option: str) -> Callable[[str], list[tuple[str, str]]]:
    """`KEY=VALUE,KEY=VALUE`."""
    one = _pair(option)

    def parse(text: str) -> list[tuple[str, str]]:
        parts = [p for p in text.split(",") if p.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
        return [item for part in parts for item in one(part)]

    parse.__name__ = option
    return parse


def _mapping(option: str, groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    """Repeated `--api`/`--op` values as one dict; a key given twice is an error."""
    merged: dict[str, str] = {}
    for key, value in (item for group in groups for item in group):
        if key in merged:
            raise UsageError(f"{option}: {key} is given twice")
        merged[key] = value
    return merged


def default_seed(seed: int | None) -> int:
    """`seed`, or 0 when the CI variable is set, or a fresh random seed."""
    from gradcheck.seeds import resolve_seed

    return resolve_seed(seed)


# -- entry point --------------------------------------------------------------

# What a command hands back: its exit code, and how to print its output.
Emit = Callable[[IO[str]], None]
Result = tuple[int, Emit]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see EXIT_CODES)."""
    args = list(sys.argv[1:] if argv is None else argv)
    stdout = sys.stdout
    want_json = (
        "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    )
    code = 0  # what a closed pipe returns before a command has a result
    try:
        try:
            namespace = parse_args(args)  # --help and --version print here
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
        except _ArgumentError as err:
            return _fail(str(err), json_to=stdout if want_json else None)
        except ExpressionError as err:
            return _fail(str(err), err.pointer(), json_to=stdout if want_json else None)
        except GradcheckError as err:
            return _fail(str(err), json_to=stdout if want_json else None)
    except BrokenPipeError:  # `gradcheck mutants | head -1`: end quietly
        _silence_stdout()
        return code
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)
    except Exception as err:  # a last net: one line, never a traceback
        if os.environ.get("GRADCHECK_DEBUG"):
            raise
        message = str(err).splitlines()[0] if str(err) else ""
        return _fail(
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


def parse_args(args: Sequence[str]) -> argparse.Namespace:
    """The form and its options, parsed by that form's subparser."""
    args = list(args)
    root, forms = build_parser()
    if args and args[0] in ("engine", "mutants"):
        parser = forms[args[0]]
        namespace = (
            parser.parse_intermixed_args(args[1:])
            if args[0] == "engine"
            else parser.parse_args(args[1:])
        )
        namespace.command = args[0]
        return namespace
    if args and args[0] in ("-h", "--help", "--version"):
        root.parse_args(args[:1])  # prints, then SystemExit
    rest = args[1:] if args and args[0] == "check" else args
    namespace = _split_expressions(forms["check"], rest)
    namespace.command = "check"
    return namespace


def _split_expressions(parser: _Parser, args: list[str]) -> argparse.Namespace:
    """Options (known to `parser`) apart from expressions: `-x**2` is one."""
    options: list[str] = []
    expressions: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            expressions.extend(args[i + 1 :])
            break
        key = arg.split("=", 1)[0] if arg.startswith("--") else arg
        action = parser.known.get(key)
        if action is not None:
            if action.nargs != 0 and key == arg:
                if i + 1 >= len(args):
                    raise _ArgumentError(f"argument {arg}: expected a value")
                options += [arg, args[i + 1]]
                i += 2
                continue
            options.append(arg)
        elif arg.startswith("--") and _NAME.fullmatch(key[2:].replace("-", "_")):
            raise _ArgumentError(f"unrecognized option: {arg}")
        else:
            expressions.append(arg)
        i += 1
    return parser.parse_args([*options, "--", *expressions])


def _fail(
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
        from gradcheck.output.json_doc import dump, error_document

        dump(error_document(message, target), json_to)
        json_to.flush()
    sys.stderr.write(f"{PROG}: error: {message}\n")
    if pointer:
        sys.stderr.write(_indent(pointer) + "\n")
    sys.stderr.flush()
    return code


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# -- expressions --------------------------------------------------------------


def read_expressions(items: Sequence[str], stdin: IO[str]) -> list[str]:
    """The expressions, with `-` replaced by stdin's lines (blank and # skipped)."""
    out: list[str] = []
    read = False
    for item in items:
        if item != "-":
            out.append(item)
            continue
        if read:
            raise UsageError("'-' (stdin) is given twice")
        read = True
        for line in stdin.read().splitlines():
            text = line.strip()
            if text and not text.startswith("#"):
                out.append(text)
    if not out:
        where = " on stdin" if read else ""
        raise UsageError(
            f"no expression given{where}; try: gradcheck 'tanh(x*y) + x**2' "
            "--at x=0.5,y=-1.5 (or gradcheck --help)"
        )
    return out


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


def _run_expressions(args: argparse.Namespace) -> Result:
    from gradcheck.checking.check import check_expression
    from gradcheck.checking.engines import load_engine
    from gradcheck.expr.ops import OPS
    from gradcheck.expr.parser import parse
    from gradcheck.output.json_doc import exit_code
    from gradcheck.report import ExpressionReport

    texts = read_expressions(args.expressions, sys.stdin)
    graphs = [(text, parse(text)) for text in texts]
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
    if combined is None:
        raise UsageError("no expression given")
    final = combined
    written: list[str] = []
    if args.junit_xml:
        from gradcheck.output.junit import expression_suite, junit_suites, write_xml

        tree = junit_suites([expression_suite(final)])
        written.append(str(_write(lambda: write_xml(tree, args.junit_xml))))

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.output.json_doc import dump, expression_document

            dump(expression_document(final), stream)
            return
        from gradcheck.output.render import print_expression_report, printer

        out = printer(stream)
        print_expression_report(final, out)
        for path in written:
            out.line(f"wrote {path}")

    return exit_code(final), emit


# -- engines ------------------------------------------------------------------


def _engine_options_for(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for `check_engine`, validated."""
    ops = None
    if args.ops is not None:
        ops = [name.strip() for name in args.ops.split(",") if name.strip()]
        if not ops:
            raise UsageError("--ops needs at least one op name")
    options: dict[str, Any] = {
        "examples": args.examples,
        "seed": default_seed(args.seed),
        "max_nodes": args.max_nodes,
        "ops": ops,
        "jobs": args.jobs,
        "import_timeout": args.import_timeout,
        "memory_limit": args.memory_limit,
        "strict": args.strict,
    }
    optional = {
        "time_limit": args.time_limit,
        "min_depth": args.min_depth,
        "range_limit": args.range_limit,
        "kind": args.kind,
        "api": _api(args.api) or None,
        "op_names": _op_names(args.op) or None,
        "op_defs": _op_defs(args.op_def) or None,
    }
    options.update({k: v for k, v in optional.items() if v is not None})
    return options


_API_ROLES = ("data", "grad", "backward")


def _api(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    api = _mapping("--api", groups)
    for role in _API_ROLES:
        if role in api and not _NAME.fullmatch(api[role]):
            raise UsageError(f"--api: {role}={api[role]} is not an attribute name")
    return api


def _op_names(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    from gradcheck.expr.ops import OPS

    names = _mapping("--op", groups)
    for op, method in names.items():
        if op not in OPS:
            raise UsageError(f"--op: unknown op {op}; known: {', '.join(OPS)}")
        if not _NAME.fullmatch(method):
            raise UsageError(f"--op: {op}={method}: {method!r} is not a method name")
    return names


def _op_defs(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    """`--op-def` values, each parsed with the safe grammar in x and y."""
    from gradcheck.expr.parser import parse

    definitions = _mapping("--op-def", groups)
    for name, text in definitions.items():
        try:
            graph = parse(text)
        except ExpressionError as err:
            raise ExpressionError(
                f"--op-def {name}: {err.message}", err.text, err.span
            ) from err
        extra = sorted(set(graph.variables) - {"x", "y"})
        if extra:
            raise UsageError(
                f"--op-def {name}: only x and y may be used, not {', '.join(extra)}"
            )
    return definitions


def _accepted(function: Callable[..., Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options `function` takes; the checker gains new ones over time.

    Options the user did not set explicitly are dropped silently; a set
    option the checker does not know yet is dropped with a note.
    """
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return options
    kept = {k: v for k, v in options.items() if k in parameters}
    for key, option in _EXPLICIT.items():
        if key not in parameters and options.get(key) not in (None, False, {}):
            sys.stderr.write(
                f"{PROG}: note: {option} is not supported by this checker yet; "
                "ignored\n"
            )
    return kept


# Options worth a note when the checker ignores them.
_EXPLICIT = {
    "strict": "--strict",
    "min_depth": "--min-depth",
    "range_limit": "--range",
    "kind": "--kind",
    "api": "--api",
    "op_names": "--op",
    "op_defs": "--op-def",
}

# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, Any]


def check_target(target: str | None, options: dict[str, Any]) -> Any:
    """The report on one target, or the one-line message of its load error."""
    from gradcheck.checking.check import check_engine

    kind = options.get("kind")
    if kind is None and target and target.rpartition(":")[2].startswith("Tensor"):
        kind = "tensor"
    if kind is None and target:
        from gradcheck.tensor.engine import tensor_reason

        why = tensor_reason(target)  # a tensor engine by its data, any class name
        if why:
            kind = "tensor"
            options = {
                **options,
                "notes": [
                    f"checked as a tensor engine: {why} "
                    "(--kind scalar checks it as a scalar one)"
                ],
            }
    try:
        if kind == "tensor":
            return _check_tensor(target, options)
        return check_engine(target, **_accepted(check_engine, options))
    except GradcheckError as err:
        if kind is None and "no class" in str(err):
            try:  # no scalar Value class: perhaps a tensor engine
                return _check_tensor(target, options)
            except GradcheckError:
                pass
        return str(err)


def _check_tensor(target: str | None, options: dict[str, Any]) -> Any:
    from gradcheck.tensor import check_tensor_engine
    from gradcheck.tensor.check import ignored_option_notes

    return check_tensor_engine(
        target,
        examples=min(int(options.get("examples") or 30), 30),
        seed=options.get("seed"),
        time_limit_s=float(options.get("time_limit") or 20.0),
        api=options.get("api"),
        op_names=options.get("op_names"),
        op_defs=options.get("op_defs"),
        notes=[*(options.get("notes") or []), *ignored_option_notes(options)],
    )


def _check_all(
    targets: list[str | None], options: dict[str, Any], json_out: bool
) -> list[Outcome]:
    from gradcheck.output.render import Progress

    names = [t or "micrograd" for t in targets]
    if len(targets) > 1 and options["jobs"] > 1:
        from concurrent.futures import ProcessPoolExecutor

        each = {**options, "jobs": 1}
        workers = min(options["jobs"], len(targets))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(check_target, t, each) for t in targets]
            return [(n, f.result()) for n, f in zip(names, futures, strict=True)]
    outcomes: list[Outcome] = []
    for name, target in zip(names, targets, strict=True):
        with Progress(enabled=not json_out) as progress:
            outcomes.append(
                (name, check_target(target, {**options, "progress": progress}))
            )
    return outcomes


def _worst(codes: Sequence[int]) -> int:
    """1 if any failed, else 2 if any did not load, else 3, else 0."""
    for code in (1, 2, 3):
        if code in codes:
            return code
    return 0


def _run_engine(args: argparse.Namespace) -> Result:
    from gradcheck.output.json_doc import exit_code

    options = _engine_options_for(args)
    targets: list[str | None] = list(args.targets) or [None]
    outcomes = _check_all(targets, options, args.json)
    strict = bool(args.strict)
    codes = [2 if isinstance(r, str) else exit_code(r, strict) for _, r in outcomes]
    written = _engine_files(args, outcomes, strict)
    from gradcheck.output.github import in_github_actions, write_github

    if in_github_actions():
        write_github(outcomes, sys.stderr, strict=strict)
    single = len(outcomes) == 1
    if single and isinstance(outcomes[0][1], str):
        # One target that did not load: the usual one-line error, exit 2.
        name, message = outcomes[0]

        def fail(stream: IO[str]) -> None:
            _fail(message, json_to=stream if args.json else None, target=name)

        return 2, fail
    for name, report in outcomes:
        if isinstance(report, str):
            sys.stderr.write(f"{PROG}: error: {name}: {report}\n")

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.output.json_doc import dump, engine_document, error_document

            documents = [
                error_document(r, name)
                if isinstance(r, str)
                else engine_document(r, strict)
                for name, r in outcomes
            ]
            dump(documents[0] if single else documents, stream)
            return
        from gradcheck.output.render import print_engine_report, print_summary, printer

        out = printer(stream)
        for number, (name, report) in enumerate(outcomes):
            if not single:
                out.line(f"{'=' * 8} {name} ({number + 1} of {len(outcomes)})", "bold")
            if isinstance(report, str):
                out.line(f"ERROR: {report}", "bold red")
            else:
                print_engine_report(report, out)
            if not single:
                out.line()
        if not single:
            print_summary(outcomes, out)
        for path in written:
            out.line(f"wrote {path}")

    return _worst(codes), emit


def _engine_files(
    args: argparse.Namespace, outcomes: list[Outcome], strict: bool
) -> list[str]:
    """Write the JUnit XML and DOT files asked for; returns their paths."""
    written: list[str] = []
    if args.junit_xml:
        from gradcheck.output.junit import (
            engine_suite,
            junit_suites,
            load_error_suite,
            write_xml,
        )

        suites = [
            load_error_suite(name, r) if isinstance(r, str) else engine_suite(r, strict)
            for name, r in outcomes
        ]
        tree = junit_suites(suites)
        written.append(str(_write(lambda: write_xml(tree, args.junit_xml))))
    if args.dot:
        from gradcheck.output.junit import module_name

        for name, report in outcomes:
            if isinstance(report, str):
                continue
            folder = args.dot
            if len(outcomes) > 1:
                folder = os.path.join(args.dot, module_name(name))
            written += _write_dots(report, folder)
    return written


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


def _run_mutants(args: argparse.Namespace) -> Result:
    from gradcheck.mutants import MUTANTS as SCALAR
    from gradcheck.mutants.tensor import TENSOR_MUTANTS

    MUTANTS = TENSOR_MUTANTS if args.tensor else SCALAR
    from gradcheck.output.render import Progress

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
            rows.append(_run_mutant(mutant, args.examples, seed, args.tensor))
    missed = [row for row in rows if not row["caught"]]
    written: list[str] = []
    if args.junit_xml:
        from gradcheck.output.junit import junit_suites, mutants_suite, write_xml

        tree = junit_suites([mutants_suite(rows, seed)])
        written.append(str(_write(lambda: write_xml(tree, args.junit_xml))))

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.output.json_doc import dump, mutants_document

            dump(mutants_document(rows, seed), stream)
        else:
            _print_mutants(rows, seed, stream, written)

    return (1 if missed else 0), emit


def _print_mutants(
    rows: list[dict[str, Any]], seed: int, stream: IO[str], written: list[str]
) -> None:
    from gradcheck.output.render import clip, printer

    out = printer(stream)
    missed = [row for row in rows if not row["caught"]]
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
    status = "FAIL" if missed else "PASS"
    out.line(
        f"result: {status} ({len(rows) - len(missed)} of {len(rows)} caught "
        "with their category)",
        "bold red" if missed else "green",
    )
    for path in written:
        out.line(f"wrote {path}")


def _run_mutant(
    mutant: Any, examples: int, seed: int, tensor: bool = False
) -> dict[str, Any]:
    """Check one mutant; a checker error is reported as a miss, not a crash."""
    import time

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
        "seconds": None,
    }
    start = time.perf_counter()
    try:
        if tensor:
            from gradcheck.tensor import check_tensor_engine

            source = load_source(mutant.module_name, mutant.source())
            report = check_tensor_engine(source, examples=min(examples, 10), seed=seed)
        else:
            module = load_source(mutant.name, mutant.source())
            report = check_engine(
                module,
                examples=examples,
                seed=seed,
                max_depth=MUTANT_DEPTH,
                min_depth=mutant.min_depth,
            )
    except Exception as err:  # one broken run must not stop the gallery
        message = str(err).splitlines()[0] if str(err) else ""
        row["found"] = "error"
        row["hint"] = f"the checker failed: {type(err).__name__}: {message}"
        return row
    row["seconds"] = round(time.perf_counter() - start, 3)
    categories = [
        getattr(c, "kind", c.category) if tensor else c.category
        for c in report.failures
    ]
    hit = next(
        (
            c
            for c, k in zip(report.failures, categories, strict=True)
            if k == mutant.category
        ),
        None,
    )
    first = hit or (report.failures[0] if report.failures else None)
    if first is not None:
        example = first.counterexample
        row["hint"] = example.hint if example and example.hint else first.message
        row["found"] = (
            getattr(first, "kind", first.category) if tensor else first.category
        )
        row["check"] = first.name
    row["categories"] = sorted(set(categories))
    row["caught"] = hit is not None
    return row


_COMMANDS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "check": _run_expressions,
    "engine": _run_engine,
    "mutants": _run_mutants,
}
