"""CORRECT engine except that exp's backward allocates without bound.

First one 100 GB bytes object, then (if that was refused) a list that grows
until memory runs out.
"""

from __future__ import annotations

import contextlib

from hostile_base import Value as _Base
from hostile_base import hostile_backward


def _bomb() -> None:
    with contextlib.suppress(MemoryError):
        b"x" * 10**11
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


class Value(_Base):
    exp = hostile_backward(_Base.exp, _bomb)
