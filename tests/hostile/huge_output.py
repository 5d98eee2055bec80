"""CORRECT engine that prints 50 MB at import and writes to stdout during ops.

It writes through print, os.write(1, ...), sys.__stdout__ and sys.__stderr__,
including text shaped like a JSON report.
"""

from __future__ import annotations

import os
import sys

from hostile_base import Value as _Base

_LINE = "x" * 99
for _ in range(500_000):
    print(_LINE)


class Value(_Base):
    def tanh(self) -> _Base:
        os.write(1, b'{"status": "pass"}\n')
        assert sys.__stdout__ is not None and sys.__stderr__ is not None
        sys.__stdout__.write('{"status": "pass"}\n')
        sys.__stdout__.flush()
        sys.__stderr__.write("Traceback (most recent call last):\n")
        return super().tanh()
