"""A catalogue of buggy micrograd-style engines: one real bug each.

Every mutant is the correct lecture-style engine `BASE_ENGINE` with one small,
realistic edit taken from the bugs people actually write (see BUGS.md): `=`
instead of `+=`, `1 - t` for the tanh derivative, a topological sort without a
visited set, a `zero_grad()` that compares instead of assigning, and so on.

The catalogue serves twice:

* as a **teaching gallery**: `gradcheck mutants` lists them, and each one's
  source (or its diff against the base engine) shows what the bug looks like
  in code a learner would write;
* as a **test catalogue**: the checker must flag every mutant, and flag it
  with the mutant's `category`, while passing the unmodified base engine.

Each mutant is stored as `(old, new)` text replacements, not as a copy of the
engine. `Mutant.source()` refuses an edit whose `old` text does not occur
exactly once, so a change to the base engine cannot silently turn a mutant
into correct code or into a different bug.

The engines are source text that imports the standard library only: they
share no code with the checker or with `micrograd`, or a shared mistake would
hide itself. Only the category names come from `gradcheck.report`.
"""

from __future__ import annotations

from gradcheck.mutants.catalogue import MUTANTS, mutant_named
from gradcheck.mutants.mutant import BASE_ENGINE, Mutant, apply_edits, unified_diff
from gradcheck.report import CATEGORIES  # each mutant expects one of them

__all__ = [
    "BASE_ENGINE",
    "CATEGORIES",
    "MUTANTS",
    "Mutant",
    "apply_edits",
    "mutant_named",
    "unified_diff",
]
