"""CORRECT engine whose exp forks: the child carries on as if it were the worker.

The child returns from the op like the parent does, so it goes back into
the worker's loop and competes for requests, printing as it goes; a second
child leaves the session and prints forever.
"""

from __future__ import annotations

import os
import sys

from hostile_base import Value as _Base

_forked = False


class Value(_Base):
    def exp(self) -> _Base:
        global _forked
        if not _forked:
            _forked = True
            if os.fork() == 0:
                print('{"status": "pass", "child": "carries on"}', flush=True)
            elif os.fork() == 0:
                os.setsid()
                while True:
                    os.write(1, b'{"status": "pass"}\n')
                    print("child", file=sys.stderr, flush=True)
        return super().exp()
