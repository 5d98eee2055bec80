"""The fork server: one pre-loaded process that forks a worker per request.

A worker started as a fresh interpreter spends about 50 ms of CPU on the
interpreter and on its imports before it loads the engine; a class of
engines starts one per engine. The checker starts this process once (the
same boot as a worker; `fork_client` is the checker's side), it imports
what every worker imports, and then forks a worker per request: the child
becomes exactly what `serve.main` makes of a fresh process (its own
session, stdin /dev/null, stdout and stderr to the output pipe, the token
in its environment, the memory limit), at the same depth of the stack.

A request on the control socket is a small JSON header with the worker's
pipe ends passed along (SCM_RIGHTS); the answer is the child's pid. The
checker is not the workers' parent, so the server writes each exit status
into the worker's status page (`ENDED`, after the worker's own item and
phase) as soon as the worker ends, and reaps it when the checker releases
it (so that its pid, the id of its process group, is never reused while
the checker may still kill that group). The server is single-threaded,
holds no worker's pipe end after the fork, and exits when the checker
closes the socket or dies.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any

TOKEN_VARIABLE = "GRADCHECK_WORKER_TOKEN"
TOKEN_LENGTH = 32  # secrets.token_hex(16)
# The server's own value: a worker overwrites it in place (`_set_token`).
PLACEHOLDER = "0" * TOKEN_LENGTH
# Written by the server when a worker ends, after the worker's own
# `serve.STATUS` (item, phase; a test checks the offset): 1, then the exit
# code as `os.waitstatus_to_exitcode` gives it. Not `serve.STATUS.size`:
# the checker imports this module, and must not import the worker's.
ENDED = struct.Struct("<ii")
ENDED_AT = 8
PAGE_SIZE = ENDED_AT + ENDED.size
PID_REPLY = struct.Struct("<i")
_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> list[str]:
    """Entry point: `fork_server CONTROL_FD DIE_WITH_PARENT PARENT_PID`.

    Returns only in a forked child: the arguments of `serve.main`, which the
    boot then calls, so that the worker runs as deep in the stack as a fresh
    one (an engine's recursion depth limit comes out the same).
    """
    control = socket.socket(fileno=int(argv[0]))
    if argv[1] == "1":
        _die_with_parent(int(argv[2]))
    _preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    # SIGCHLD only wakes the loop (a byte on `wake_r`): children are reaped
    # there, never inside a handler that could run mid-fork.
    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    gc.freeze()  # what is loaded now stays shared: the children never scan it
    children = _Children()
    while True:
        ready, _, _ = select.select([control.fileno(), wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(OSError):
                os.read(wake_r, 4096)
        children.relay()
        if control.fileno() in ready:
            answer = _answer(control, children)
            if isinstance(answer, list):  # in the child
                return answer
            if not answer:
                break
    # The checker is gone (its workers killed, if it exited cleanly): reap
    # them all, for a while, so that their CPU time counts in ours and so in
    # the checker's.
    children.release_all()
    deadline = time.monotonic() + 2.0
    while children.pending and time.monotonic() < deadline:
        time.sleep(0.005)
        children.relay()
    os._exit(0)


def _answer(control: socket.socket, children: _Children) -> bool | list[str]:
    """Fork the worker one request asks for, or release one; False: the checker
    is gone. In the child, the arguments of `serve.main`.
    """
    try:
        message, fds, _, _ = socket.recv_fds(control, 1 << 16, 8)
    except OSError:
        return False
    if not message:
        for fd in fds:
            os.close(fd)
        return False
    try:
        request = json.loads(message)
    except ValueError:
        request = None
    if isinstance(request, dict) and "release" in request:  # no answer
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(TypeError, ValueError):
            children.release(int(request["release"]))
        return True
    pid = 0
    try:
        status = os.open(request["status"], os.O_WRONLY)
    except (TypeError, KeyError, OSError):
        status = -1
    if status >= 0 and len(fds) == 3:
        pid = os.fork()
        if pid == 0:
            return _become_worker(control, request, fds)
        children.add(pid, status)
    elif status >= 0:
        os.close(status)
    for fd in fds:  # never hold a worker's pipe end: its channel must reach EOF
        os.close(fd)
    try:
        control.sendall(PID_REPLY.pack(pid))
    except OSError:
        return False
    return True


def _become_worker(
    control: socket.socket, request: dict[str, Any], fds: list[int]
) -> list[str]:
    """In the child: a fresh worker's set-up; the arguments of `serve.main`."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        request_r, answer_w, output_w = fds
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        control.detach()  # closed below with the rest, never twice
        _close_all_but({0, 1, 2, request_r, answer_w})
        _set_token(str(request["token"]))
        with contextlib.suppress(OSError):
            os.chdir(request["cwd"])
        args = [str(request_r), str(answer_w), request["status"]]
        args.append(str(int(request["memory_limit"])))
        sys.argv[:] = ["-c", *sys.argv[1:2], *args]
    except BaseException:  # never back into the server's loop
        os._exit(1)
    return args


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in keep:
            with contextlib.suppress(OSError):
                os.close(int(name))


_getenv: Any = None
_memmove: Any = None


def _set_token(token: str) -> None:
    """The worker's token in its environment, where `_sweep` reads it.

    /proc/PID/environ shows the block the process was exec'd with (the
    server's), never later changes: the placeholder there is overwritten in
    place (libc's getenv points into that block), for this process and any it
    forks; `os.environ` carries it to any it execs.
    """
    if _getenv is not None and len(token) == TOKEN_LENGTH:
        address = _getenv(TOKEN_VARIABLE.encode())
        if address:
            _memmove(address, token.encode(), TOKEN_LENGTH)
    os.environ[TOKEN_VARIABLE] = token


def _preload() -> None:
    """Import what workers import (loading a file or notebook, tensor requests)."""
    global _getenv, _memmove
    import ctypes

    import gradcheck.internal.worker.notebook_cells
    import gradcheck.internal.worker.serve
    import gradcheck.internal.worker.sources
    import gradcheck.internal.worker.tensor  # noqa: F401  (registers its handlers)

    with contextlib.suppress(OSError, AttributeError):
        getenv = ctypes.CDLL(None).getenv
        getenv.restype = ctypes.c_void_p
        getenv.argtypes = [ctypes.c_char_p]
        _getenv, _memmove = getenv, ctypes.memmove


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the checker dies (its control socket's EOF also ends us)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the call above
        os._exit(0)


class _Children:
    """The server's workers: each exit status relayed at once, reaped on release.

    A worker that has ended stays a zombie until the checker releases it:
    its pid, which is also its process group's id, cannot be reused before
    the checker has killed that group (what the engine left in it) and
    swept its token.
    """

    def __init__(self) -> None:
        self.pages: dict[int, int] = {}  # running: pid -> its status page
        self.ended: set[int] = set()  # status written, not reaped yet
        self.released: set[int] = set()  # the checker is done with these

    @property
    def pending(self) -> bool:
        return bool(self.pages or self.ended)

    def add(self, pid: int, page: int) -> None:
        self.pages[pid] = page

    def release(self, pid: int) -> None:
        self.released.add(pid)
        self.relay()

    def release_all(self) -> None:
        self.released |= set(self.pages) | self.ended

    def relay(self) -> None:
        """Write the exit status of every child that ended; reap the released."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        for pid, page in list(self.pages.items()):
            try:
                info = os.waitid(os.P_PID, pid, flags)
            except ChildProcessError:  # not ours to wait for: nothing to say
                info = None
                self.ended.add(pid)
            if info is not None:
                signalled = info.si_code != os.CLD_EXITED
                code = -info.si_status if signalled else info.si_status
                with contextlib.suppress(OSError):
                    os.pwrite(page, ENDED.pack(1, code), ENDED_AT)
                self.ended.add(pid)
            if pid in self.ended:
                os.close(page)
                del self.pages[pid]
        for pid in self.ended & self.released:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.ended.discard(pid)
            self.released.discard(pid)
