"""CORRECT engine except that exp's backward allocates without bound.

Every call asks for a 100 GB bytes object; the first call in a process also
grows a list of 1 MB buffers until memory runs out (later calls skip that
part only to keep the suite fast: the checker re-runs failing graphs).
"""

from __future__ import annotations

import contextlib

from hostile_base import Value as _Base
from hostile_base import hostile_backward

_grown = False


def _bomb() -> None:
    global _grown
    with contextlib.suppress(MemoryError):
        b"x" * 10**11
    if _grown:
        raise MemoryError("asked for 100 GB")
    _grown = True
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))


class Value(_Base):
    exp = hostile_backward(_Base.exp, _bomb)
