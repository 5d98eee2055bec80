"""`gradcheck [check] EXPR ...`: check expressions on an engine."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from gradcheck.cli.common import Result, write_file
from gradcheck.cli.parser import NAME, default_seed
from gradcheck.errors import ExpressionError, GradcheckError, UsageError

if TYPE_CHECKING:
    from gradcheck.internal.expr.graph import Graph

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
            if not NAME.fullmatch(name):
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


def run_expressions(args: argparse.Namespace) -> Result:
    """Check the expressions. Input that stops the run (a bad expression, an
    engine that does not load) still writes --junit-xml, as `<error>` cases."""
    started = time.perf_counter()
    try:
        texts = read_expressions(args.expressions, sys.stdin)
        graphs, bad = _parse_all(texts)
    except GradcheckError as err:
        _junit_errors(args, [("usage", str(err))])
        raise
    if bad:
        _junit_errors(args, [(text, str(err)) for text, err in bad])
        raise bad[0][1]
    try:
        return _check_expressions(args, graphs, started)
    except GradcheckError as err:
        _junit_errors(args, [("usage", str(err))])
        raise


def _junit_errors(args: argparse.Namespace, errors: list[tuple[str, str]]) -> None:
    if not args.junit_xml:
        return
    from gradcheck.internal.output.junit import (
        input_error_suite,
        junit_suites,
        write_xml,
    )

    tree = junit_suites([input_error_suite(errors)])
    write_file(lambda: write_xml(tree, args.junit_xml))


def _parse_all(
    texts: Sequence[str],
) -> tuple[list[tuple[str, Graph]], list[tuple[str, ExpressionError]]]:
    """Every expression parsed, and every one that does not parse."""
    from gradcheck.internal.expr.parser import parse

    graphs: list[tuple[str, Graph]] = []
    bad: list[tuple[str, ExpressionError]] = []
    for text in texts:
        try:
            graphs.append((text, parse(text)))
        except ExpressionError as err:
            bad.append((text, err))
    return graphs, bad


def _check_expressions(
    args: argparse.Namespace, graphs: list[tuple[str, Graph]], started: float
) -> Result:
    from gradcheck.internal.checking.check import check_expression
    from gradcheck.internal.checking.engine_client import load_engine
    from gradcheck.internal.expr.ops import OPS
    from gradcheck.internal.output.json_doc import exit_code
    from gradcheck.report import ExpressionReport

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
        from gradcheck.internal.output.junit import (
            expression_suite,
            junit_suites,
            write_xml,
        )

        seconds = time.perf_counter() - started
        tree = junit_suites([expression_suite(final, seconds)])
        written.append(str(write_file(lambda: write_xml(tree, args.junit_xml))))

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.internal.output.json_doc import dump, expression_document

            dump(expression_document(final), stream)
            return
        from gradcheck.internal.output.render import print_expression_report
        from gradcheck.internal.output.terminal import QUIET, printer

        out = printer(stream)
        print_expression_report(final, out, args.verbosity)
        for path in written if args.verbosity > QUIET else []:
            out.line(f"wrote {path}")

    return exit_code(final), emit
