"""CORRECT engine that tries, at import, to write where it must not.

It tries to create a file beside the checker's own modules and one in the
folder named by GRADCHECK_HOSTILE_TARGET (another student's, say), and to
write to its own temporary folder, which it may. If either forbidden write
succeeds, its `+` adds 1 more than it should: the verdict then fails, as
well as the test's own look at those folders.
"""

from __future__ import annotations

import os
import tempfile

from hostile_base import Value as _Base

import gradcheck

_FORBIDDEN = [
    os.path.join(os.path.dirname(gradcheck.__file__), "_hostile_probe.py"),
    os.path.join(os.environ.get("GRADCHECK_HOSTILE_TARGET", "."), "victim.py"),
]
WROTE = 0
for _path in _FORBIDDEN:
    try:
        with open(_path, "w", encoding="utf-8") as _file:
            _file.write("raise SystemExit('tampered')\n")
        WROTE += 1
    except OSError:
        pass
with tempfile.NamedTemporaryFile("w") as _own:  # its own folder: allowed
    _own.write("fine")


class Value(_Base):
    def __add__(self, other: object) -> Value:
        return super().__add__(other) + WROTE if WROTE else super().__add__(other)
