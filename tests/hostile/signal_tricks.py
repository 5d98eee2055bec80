"""CORRECT engine except that exp's backward fights the clock, then hangs.

It cancels any alarm, ignores and blocks SIGALRM (and SIGTERM, SIGINT), then
loops forever. Only a kill from outside can stop it.
"""

from __future__ import annotations

import signal

from hostile_base import Value as _Base
from hostile_base import hostile_backward


def _hang() -> None:
    signal.alarm(0)
    for number in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(
        signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM, signal.SIGINT}
    )
    while True:
        pass


class Value(_Base):
    exp = hostile_backward(_Base.exp, _hang)
