"""CORRECT engine except that exp's backward ends the process: os._exit(3)."""

from __future__ import annotations

import os

from hostile_base import Value as _Base
from hostile_base import hostile_backward


class Value(_Base):
    exp = hostile_backward(_Base.exp, lambda: os._exit(3))
