"""CORRECT engine that starts non-daemon threads at import, which never end.

One prints forever, one blocks forever: either would keep a process alive
after its main thread is done.
"""

from __future__ import annotations

import os
import threading

from hostile_base import Value as _Base


def _chatter() -> None:
    while True:
        os.write(1, b"thread\n")
        threading.Event().wait(0.01)


threading.Thread(target=_chatter, daemon=False).start()
threading.Thread(target=threading.Event().wait, daemon=False).start()


class Value(_Base):
    pass
