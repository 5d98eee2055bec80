"""CORRECT engine except that four ops raise BaseException subclasses in backward.

tanh raises KeyboardInterrupt, exp GeneratorExit, log SystemExit and relu
a BaseException of its own: none of them is an Exception, so
`except Exception` lets them through.
"""

from __future__ import annotations

from hostile_base import Value as _Base
from hostile_base import hostile_backward


class Escape(BaseException):
    """Not an Exception."""


def _raise(err: BaseException) -> None:
    raise err


class Value(_Base):
    tanh = hostile_backward(_Base.tanh, lambda: _raise(KeyboardInterrupt()))
    exp = hostile_backward(_Base.exp, lambda: _raise(GeneratorExit()))
    log = hostile_backward(_Base.log, lambda: _raise(SystemExit(4)))
    relu = hostile_backward(_Base.relu, lambda: _raise(Escape("out of here")))
