"""CORRECT engine that closes file descriptors 1 and 2 at import."""

from __future__ import annotations

import os

from hostile_base import Value as _Base

os.close(1)
os.close(2)


class Value(_Base):
    pass
