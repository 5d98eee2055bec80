"""CORRECT engine except that exp's backward reads address 0 (SIGSEGV)."""

from __future__ import annotations

import ctypes

from hostile_base import Value as _Base
from hostile_base import hostile_backward


class Value(_Base):
    exp = hostile_backward(_Base.exp, lambda: ctypes.string_at(0))
