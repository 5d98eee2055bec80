"""CORRECT engine except that log and relu raise BaseException subclasses
when called (forward), so the op detection itself meets them."""

from __future__ import annotations

from hostile_base import Value as _Base


class Escape(BaseException):
    """Not an Exception."""


class Value(_Base):
    def log(self) -> _Base:
        raise SystemExit(4)

    def relu(self) -> _Base:
        raise Escape("out of here")
