"""The command line's parsers: one subparser per form, option values, help texts.

argparse owns every option. The expression form is the default, so the word
`check` may be left out; its arguments are split into options and
expressions with the parser's own option table, so that `-x**2` is an
expression.
"""

from __future__ import annotations

import argparse
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from gradcheck.errors import UsageError
from gradcheck.internal.checking.family_names import DEFAULT_EXAMPLES, TENSOR_EXAMPLES

PROG = "gradcheck"
MUTANT_EXAMPLES = 20
DEFAULT_IMPORT_TIMEOUT = 20.0
DEFAULT_MEMORY_LIMIT = "4G"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
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


class ArgumentError(Exception):
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
        raise ArgumentError(message)


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
        default=None,  # the scalar or the tensor default, decided per target
        metavar="N",
        help=f"random graphs to try (default {DEFAULT_EXAMPLES}; "
        f"{TENSOR_EXAMPLES} random programs for a tensor engine; 0: probes only)",
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
    parser.add_argument(
        "--only",
        metavar="CHECK",
        default=None,
        help="rerun one check as the report names it, e.g. accumulation[mul] "
        "(with the --seed the report printed)",
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
    parser.add_argument(
        "--html",
        type=_output_path("--html"),
        metavar="FILE",
        default=None,
        help="also write one self-contained HTML page of the run here",
    )
    parser.add_argument(
        "--gradescope",
        type=_output_path("--gradescope"),
        metavar="FILE",
        default=None,
        help="also write Gradescope's autograder results.json here",
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
    _output_options(parser)


def _output_options(parser: _Parser) -> None:
    """How much the text report says, and the configuration file."""
    from gradcheck.internal.output.terminal import NORMAL, QUIET, VERBOSE

    parser.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=QUIET,
        default=NORMAL,
        help="one line per target: verdict, counts, seed",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=VERBOSE,
        default=NORMAL,
        help="every check in a table, every unsupported op with its reason",
    )
    parser.add_argument(
        "--config",
        type=_output_path("--config"),
        metavar="FILE",
        default=None,
        help="read [tool.gradcheck] from this TOML file (default: the nearest "
        "pyproject.toml); the command line wins",
    )
    parser.add_argument(
        "--no-config",
        action="store_true",
        help="ignore [tool.gradcheck] in pyproject.toml",
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
        if not NAME.fullmatch(key):
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


def mapping(option: str, groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
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


def parse_args(
    args: Sequence[str],
    configure: Callable[[str, _Parser], None] | None = None,
) -> argparse.Namespace:
    """The form and its options, parsed by that form's subparser.

    `configure(form, parser)` may set the form's defaults first (the
    configuration file's values: the command line still wins).
    """
    args = list(args)
    root, forms = build_parser()
    if configure is not None:
        form = args[0] if args and args[0] in ("engine", "mutants") else "check"
        configure(form, forms[form])
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
                    raise ArgumentError(f"argument {arg}: expected a value")
                options += [arg, args[i + 1]]
                i += 2
                continue
            options.append(arg)
        elif arg.startswith("--") and NAME.fullmatch(key[2:].replace("-", "_")):
            raise ArgumentError(f"unrecognized option: {arg}")
        else:
            expressions.append(arg)
        i += 1
    return parser.parse_args([*options, "--", *expressions])
