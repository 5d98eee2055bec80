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

from gradcheck.cli.expressions import parse_point
from gradcheck.cli.main import main

__all__ = ["main", "parse_point"]
