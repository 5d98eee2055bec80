"""A mutant: the base engine with one bug, as text edits, and its category."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

# The correct engine every mutant is derived from, in the lecture's style:
# closures per node, `_prev` as a set, tanh neurons; `backward()` sorts
# iteratively so that a 3,000-deep chain works. Sub is `self + (-other)` and
# neg is `self * -1`, as in the lecture; division is an op of its own. It is
# a real file (`engines/lecture.py`), read here as text: mutants are edits of
# that text, never imported into the checker.
BASE_ENGINE: str = (Path(__file__).parent / "engines" / "lecture.py").read_text(
    encoding="utf-8"
)


@dataclass(frozen=True)
class Mutant:
    """The base engine with one bug, and the category the checker should report.

    `edits` are `(old, new)` text replacements applied to `BASE_ENGINE` in
    order; together they make one realistic mistake (a few may be needed when
    the same mistake touches two places).

    `category` is what a checker should report. `also` lists other categories
    the same bug can legitimately show up as, when no black-box test can tell
    them apart (a visited set keyed by value also breaks graphs without reuse
    whenever two nodes happen to share a value).

    `min_depth` is for a mutant whose flaw is a limit, not an error (a
    recursive topological sort): it is caught only when the check asks for
    graphs that deep (`--min-depth`), as a user who needs them would.
    """

    name: str
    category: str
    description: str
    edits: tuple[tuple[str, str], ...]
    also: tuple[str, ...] = ()
    min_depth: int | None = None

    @property
    def module_name(self) -> str:
        """The name as an identifier: `mul-grad-overwrites` -> `mul_grad_overwrites`."""
        return self.name.replace("-", "_")

    def source(self) -> str:
        """The full source of the buggy engine.

        Raises `ValueError` if an edit's `old` text does not occur exactly
        once, or if the edits leave the engine unchanged.
        """
        return apply_edits(BASE_ENGINE, self.edits, f"mutant {self.name!r}")

    def diff(self) -> str:
        """A unified diff from the correct engine to this mutant."""
        return unified_diff(BASE_ENGINE, self.source(), "engine.py", self.module_name)

    def write(self, directory: Path) -> Path:
        """Write the source to `directory/<module_name>.py` and return the path."""
        path = Path(directory) / f"{self.module_name}.py"
        path.write_text(self.source(), encoding="utf-8")
        return path


def apply_edits(base: str, edits: tuple[tuple[str, str], ...], who: str) -> str:
    """`base` with each `(old, new)` edit applied; each `old` must occur once."""
    text = base
    for number, (old, new) in enumerate(edits, start=1):
        count = text.count(old)
        if count != 1:
            raise ValueError(
                f"{who}: edit {number} expects its text exactly"
                f" once in the engine, found it {count} times: {old!r}"
            )
        text = text.replace(old, new)
    if text == base:
        raise ValueError(f"{who}: the edits change nothing")
    return text


def unified_diff(base: str, text: str, fromfile: str, module_name: str) -> str:
    """A unified diff from a correct engine to one of its mutants."""
    lines = difflib.unified_diff(
        base.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile=fromfile,
        tofile=f"{module_name}.py",
    )
    return "".join(lines)
