"""`gradcheck engine [TARGET ...]`: check whole engines, and write the outputs."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from gradcheck.cli.common import Result, fail, write_file
from gradcheck.cli.parser import NAME, PROG, default_seed, mapping
from gradcheck.errors import ExpressionError, GradcheckError, UsageError
from gradcheck.internal.checking.family_names import TENSOR_EXAMPLES

# -- engines ------------------------------------------------------------------


def _engine_options_for(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for `check_engine`, validated."""
    ops = None
    if args.ops is not None:
        ops = [name.strip() for name in args.ops.split(",") if name.strip()]
        if not ops:
            raise UsageError("--ops needs at least one op name")
    options: dict[str, Any] = {
        # None: the default of the engine's kind (200 graphs, 30 programs)
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
        "only": args.only,
    }
    options.update({k: v for k, v in optional.items() if v is not None})
    return options


_API_ROLES = ("data", "grad", "backward")


def _api(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    api = mapping("--api", groups)
    for role in _API_ROLES:
        if role in api and not NAME.fullmatch(api[role]):
            raise UsageError(f"--api: {role}={api[role]} is not an attribute name")
    return api


def _op_names(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    from gradcheck.internal.expr.ops import OPS
    from gradcheck.internal.tensor.program import OPS as TENSOR_OPS

    names = mapping("--op", groups)
    for op, method in names.items():
        if op not in OPS and op not in TENSOR_OPS:
            raise UsageError(
                f"--op: unknown op {op}; known: {', '.join(OPS)}; "
                f"for tensor engines also: {', '.join(_tensor_only(TENSOR_OPS))}"
            )
        if not NAME.fullmatch(method):
            raise UsageError(f"--op: {op}={method}: {method!r} is not a method name")
    return names


def _op_defs(groups: Sequence[list[tuple[str, str]]]) -> dict[str, str]:
    """`--op-def` values, each parsed with the safe grammar in x and y."""
    from gradcheck.internal.expr.parser import parse

    definitions = mapping("--op-def", groups)
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


def _tensor_only(ops: Sequence[str]) -> list[str]:
    from gradcheck.internal.expr.ops import OPS

    return [op for op in ops if op not in OPS]


def _scalar_op_names(options: dict[str, Any]) -> dict[str, Any]:
    """`options` without the `--op` names only tensor engines have, with a note."""
    from gradcheck.internal.tensor.program import OPS as TENSOR_OPS

    names = options.get("op_names") or {}
    extra = [op for op in _tensor_only(TENSOR_OPS) if op in names]
    if not extra:
        return options
    sys.stderr.write(
        f"{PROG}: note: --op {', '.join(extra)}: tensor op names, not used by "
        "a scalar engine; ignored\n"
    )
    kept = {op: name for op, name in names.items() if op not in extra}
    return {**options, "op_names": kept or None}


# Options worth a note when the checker ignores them.
_EXPLICIT = {
    "strict": "--strict",
    "min_depth": "--min-depth",
    "range_limit": "--range",
    "kind": "--kind",
    "api": "--api",
    "op_names": "--op",
    "op_defs": "--op-def",
    "only": "--only",
}

# One target's outcome: its report, or the message of the error that stopped it.
Outcome = tuple[str, Any]


def check_target(target: str | None, options: dict[str, Any]) -> Any:
    """The report on one target, or the one-line message of its load error."""
    from gradcheck.internal.checking.check import check_engine

    kind = options.get("kind")
    if kind is None and target:
        from gradcheck.internal.tensor.engine import why_tensor

        why = why_tensor(target)  # by its class name, or by its data
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
        kept = _accepted(check_engine, _scalar_op_names(options))
        if "kind" in inspect.signature(check_engine).parameters:
            kept["kind"] = "scalar"  # decided above: not a tensor engine
        return check_engine(target, **kept)
    except GradcheckError as err:
        if kind is None and "no class" in str(err):
            try:  # no scalar Value class: perhaps a tensor engine
                return _check_tensor(target, options)
            except GradcheckError:
                pass
        return str(err)


def _check_tensor(target: str | None, options: dict[str, Any]) -> Any:
    from gradcheck.internal.tensor import check_tensor_engine
    from gradcheck.internal.tensor.check import ignored_option_notes

    return check_tensor_engine(
        target,
        examples=(
            TENSOR_EXAMPLES if options["examples"] is None else int(options["examples"])
        ),
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
    from gradcheck.internal.output.terminal import Progress

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


def run_engine(args: argparse.Namespace) -> Result:
    from gradcheck.internal.output.json_doc import exit_code

    options = _engine_options_for(args)
    targets: list[str | None] = list(args.targets) or [None]
    outcomes = _check_all(targets, options, args.json)
    strict = bool(args.strict)
    codes = [2 if isinstance(r, str) else exit_code(r, strict) for _, r in outcomes]
    written = _engine_files(args, outcomes, strict)
    from gradcheck.internal.output.github import in_github_actions, write_github

    if in_github_actions():
        write_github(outcomes, sys.stderr, strict=strict)
    single = len(outcomes) == 1
    if single and isinstance(outcomes[0][1], str):
        # One target that did not load: the usual one-line error, exit 2.
        name, message = outcomes[0]

        def emit_error(stream: IO[str]) -> None:
            from gradcheck.internal.output.terminal import QUIET

            if args.json:
                from gradcheck.internal.output.json_doc import dump, engine_document

                dump(engine_document(outcomes, strict), stream)
            elif args.verbosity <= QUIET:  # -q: its one line, as for several
                from gradcheck.internal.output.render import quiet_line

                stream.write(quiet_line(name, message) + "\n")
            fail(message)

        return 2, emit_error
    for name, report in outcomes:
        if isinstance(report, str):
            sys.stderr.write(f"{PROG}: error: {name}: {report}\n")

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.internal.output.json_doc import dump, engine_document

            dump(engine_document(outcomes, strict), stream)
            return
        from gradcheck.internal.output.render import (
            print_engine_report,
            print_summary,
            quiet_line,
        )
        from gradcheck.internal.output.terminal import QUIET, printer

        out, verbosity = printer(stream), args.verbosity
        for number, (name, report) in enumerate(outcomes):
            if verbosity <= QUIET and isinstance(report, str):
                out.line(quiet_line(name, report), "bold red")
                continue
            if verbosity <= QUIET:
                print_engine_report(report, out, verbosity)
                continue
            if not single:
                out.line(f"{'=' * 8} {name} ({number + 1} of {len(outcomes)})", "bold")
            if isinstance(report, str):
                out.line(f"ERROR: {report}", "bold red")
            else:
                print_engine_report(report, out, verbosity)
            if not single:
                out.line()
        if not single:
            print_summary(outcomes, out, verbosity)
        for path in written if verbosity > QUIET else []:
            out.line(f"wrote {path}")

    return _worst(codes), emit


def _engine_files(
    args: argparse.Namespace, outcomes: list[Outcome], strict: bool
) -> list[str]:
    """Write the JUnit XML, Gradescope, HTML and DOT files asked for; returns
    their paths."""
    written: list[str] = []
    if args.junit_xml:
        from gradcheck.internal.output.junit import (
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
        written.append(str(write_file(lambda: write_xml(tree, args.junit_xml))))
    if args.gradescope:
        from gradcheck.internal.output.gradescope import write_gradescope

        path = args.gradescope
        written.append(
            str(write_file(lambda: write_gradescope(outcomes, path, strict)))
        )
    if args.html:
        from gradcheck.internal.output.page import write_page

        page = args.html
        written.append(str(write_file(lambda: write_page(outcomes, page, strict))))
    if args.dot:
        from gradcheck.internal.output.junit import module_name

        for name, report in outcomes:
            if isinstance(report, str):
                continue
            folder = args.dot
            if len(outcomes) > 1:
                folder = os.path.join(args.dot, module_name(name))
            written += _write_dots(report, folder)
    return written


def _write_dots(report: Any, directory: str) -> list[str]:
    from gradcheck.internal.output.dot import INSTALL_HINT, have_dot, write_dot

    paths: list[str] = []
    for check in report.checks:
        if check.counterexample is not None:
            example = check.counterexample
            name = check.name
            paths += [
                str(p)
                for p in write_file(
                    lambda e=example, n=name: write_dot(e, directory, n)
                )
            ]
    if paths and not have_dot():
        sys.stderr.write(f"{PROG}: note: {INSTALL_HINT}\n")
    return paths
