"""CORRECT engine except that exp's backward runs a C call for ages.

hashlib.pbkdf2_hmac never checks for signals: a Python-level timeout
cannot interrupt it, only a kill can.
"""

from __future__ import annotations

import hashlib

from hostile_base import Value as _Base
from hostile_base import hostile_backward


def _grind() -> None:
    hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 2**31 - 1)


class Value(_Base):
    exp = hostile_backward(_Base.exp, _grind)
