"""CORRECT engine that starts non-daemon threads at import, which never end.

One prints forever and keeps interrupting the main thread
(`_thread.interrupt_main()`, a simulated Ctrl-C); one blocks forever.
Either would keep a process alive after its main thread is done.
"""

from __future__ import annotations

import _thread
import os
import threading

from hostile_base import Value as _Base


def _chatter() -> None:
    while True:
        os.write(1, b"thread\n")
        _thread.interrupt_main()
        threading.Event().wait(0.01)


threading.Thread(target=_chatter, daemon=False).start()
threading.Thread(target=threading.Event().wait, daemon=False).start()


class Value(_Base):
    pass
