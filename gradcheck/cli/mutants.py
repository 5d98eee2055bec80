"""`gradcheck mutants`: run the gallery of buggy engines and say which were caught."""

from __future__ import annotations

import argparse
from typing import IO, Any

from gradcheck.cli.common import Result, write_file
from gradcheck.cli.parser import default_seed
from gradcheck.errors import UsageError

# -- mutants ------------------------------------------------------------------


def run_mutants(args: argparse.Namespace) -> Result:
    from gradcheck.mutants import MUTANTS as SCALAR
    from gradcheck.mutants.tensor import TENSOR_MUTANTS

    MUTANTS = TENSOR_MUTANTS if args.tensor else SCALAR
    from gradcheck.internal.output.terminal import Progress

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
        from gradcheck.internal.output.junit import (
            junit_suites,
            mutants_suite,
            write_xml,
        )

        tree = junit_suites([mutants_suite(rows, seed)])
        written.append(str(write_file(lambda: write_xml(tree, args.junit_xml))))

    def emit(stream: IO[str]) -> None:
        if args.json:
            from gradcheck.internal.output.json_doc import dump, mutants_document

            dump(mutants_document(rows, seed), stream)
        else:
            _print_mutants(rows, seed, stream, written, args.verbosity)

    return (1 if missed else 0), emit


def _print_mutants(
    rows: list[dict[str, Any]],
    seed: int,
    stream: IO[str],
    written: list[str],
    verbosity: int = 0,
) -> None:
    """A line per mutant (-v adds the check that caught it and the time).

    `-q`: the one result line.
    """
    from gradcheck.internal.output.render import clip
    from gradcheck.internal.output.terminal import QUIET, VERBOSE, printer

    out = printer(stream)
    missed = [row for row in rows if not row["caught"]]
    status = "FAIL" if missed else "PASS"
    counts = f"{len(rows) - len(missed)} of {len(rows)} caught with their category"
    style = "bold red" if missed else "green"
    if verbosity <= QUIET:
        out.line(f"{status} mutants: {counts}; seed {seed}", style)
        return
    headers = ["verdict", "mutant", "expected", "found"]
    if verbosity >= VERBOSE:
        headers += ["check", "seconds"]
    table = []
    for row in rows:
        cells = [
            "caught" if row["caught"] else "MISSED",
            row["name"],
            row["expected"],
            row["found"] or "none",
        ]
        if verbosity >= VERBOSE:
            seconds = row["seconds"]
            cells += [row["check"] or "-", "-" if seconds is None else f"{seconds:.1f}"]
        table.append([*cells, clip(row["hint"], 100)])
    styles = [None if row["caught"] else "bold red" for row in rows]
    out.table([*headers, "hint"], table, styles)
    out.line(f"seed: {seed} (rerun with --seed {seed})")
    out.line(f"result: {status} ({counts})", style)
    for path in written:
        out.line(f"wrote {path}")


def mutant_depth(min_depth: int | None) -> int:
    """How deep the gallery's depth search goes: as deep as a finding needs.

    The gallery shows findings, never limits. Depth is a finding below the
    normal depth or the mutant's `min_depth`; a limit below the deep probe's
    chain (2,500) also decides that probe's length. Past both, the search
    only measured a limit nobody sees: searching to 10,000 nodes cost the
    gallery's workers 2 s of CPU, 15% of the whole.
    """
    from gradcheck.internal.checking.limits import NORMAL_DEPTH
    from gradcheck.internal.checking.probes import DEEP

    return max(NORMAL_DEPTH, DEEP, min_depth or 0)


def _run_mutant(
    mutant: Any, examples: int, seed: int, tensor: bool = False
) -> dict[str, Any]:
    """Check one mutant; a checker error is reported as a miss, not a crash."""
    import time

    from gradcheck.internal.checking.check import check_engine
    from gradcheck.internal.checking.engine_client import load_source

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
            from gradcheck.internal.tensor import check_tensor_engine

            source = load_source(mutant.module_name, mutant.source())
            report = check_tensor_engine(source, examples=min(examples, 10), seed=seed)
        else:
            module = load_source(mutant.name, mutant.source())
            report = check_engine(
                module,
                examples=examples,
                seed=seed,
                max_depth=mutant_depth(mutant.min_depth),
                min_depth=mutant.min_depth,
            )
    except Exception as err:  # one broken run must not stop the gallery
        message = str(err).splitlines()[0] if str(err) else ""
        row["found"] = "error"
        row["hint"] = f"the checker failed: {type(err).__name__}: {message}"
        row["seconds"] = round(time.perf_counter() - start, 3)
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
