"""The checker's handle on the fork server (`fork_server`), one per process.

`shared` gives this process's server, started on the second worker it
asks for; `ForkServer.spawn` asks it for a worker (the pipe ends go
along, the pid comes back); `read_ended` reads the exit status the server
wrote into a worker's status page; `close_shared` ends the servers at exit,
after their workers, so that the checker reaps them and with them the
CPU time of every worker they reaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading

from gradcheck.internal.worker.fork_server import (
    ENDED,
    ENDED_AT,
    PAGE_SIZE,
    PID_REPLY,
    PLACEHOLDER,
    TOKEN_VARIABLE,
)

_BOOT = (
    "import sys;sys.path.insert(0,sys.argv[1]);"
    "from gradcheck.internal.worker.fork_server import main;"
    "sys.path.pop(0);"
    "sys.path.remove('') if '' in sys.path else None;"
    "args=main(sys.argv[2:]);"
    "from gradcheck.internal.worker.serve import main;"
    "main(args)"
)
_REPLY_SECONDS = 10.0  # a fork takes milliseconds; past this the server is stuck


class ForkServer:
    """The checker's handle on one server process."""

    def __init__(self, root: str) -> None:
        self.owner = os.getpid()
        self.environ = dict(os.environ)  # what every worker it forks will see
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        main_thread = threading.current_thread() is threading.main_thread()
        flags = [str(int(main_thread)), str(self.owner)]
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-c", _BOOT, root, str(theirs.fileno()), *flags],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                env={**os.environ, TOKEN_VARIABLE: PLACEHOLDER},
            )
        finally:
            theirs.close()
        self._control = ours
        self._control.settimeout(_REPLY_SECONDS)
        self.workers = 0  # forked for us and not yet released
        self._lock = threading.Lock()  # one request at a time on the socket
        self.retired = False  # no more workers from it (the environment changed)

    @property
    def alive(self) -> bool:
        return self._popen.returncode is None and self._popen.poll() is None

    def fits(self) -> bool:
        """Whether a worker forked now would see what a fresh one would."""
        return os.getpid() == self.owner and self.alive and os.environ == self.environ

    def spawn(
        self, status_path: str, memory_limit: int, fds: list[int], token: str
    ) -> int | None:
        """A worker forked with `fds` (request_r, answer_w, output_w); its pid.

        None when the server could not fork it, is gone or did not answer
        (then it is killed): the caller starts the worker the old way, on new
        pipes (a child forked before the server died may hold these).
        """
        try:
            cwd = os.getcwd()
        except OSError:  # deleted: a fresh worker would inherit it as it is
            return None
        header = {
            "status": status_path,
            "memory_limit": memory_limit,
            "token": token,
            "cwd": cwd,
        }
        try:
            with self._lock:
                socket.send_fds(self._control, [json.dumps(header).encode()], fds)
                reply = self._control.recv(PID_REPLY.size)
        except OSError:  # dead (EPIPE, ECONNRESET) or stuck (timeout)
            reply = b""
        if len(reply) != PID_REPLY.size:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()
            return None
        pid = int(PID_REPLY.unpack(reply)[0])
        if pid <= 0:  # it could not (the status page would not open)
            return None
        self.workers += 1
        return pid

    def release(self, pid: int) -> None:
        """The worker `pid` is killed: the server may reap it (its pid is free).

        A retired server ends with its last worker.
        """
        with contextlib.suppress(OSError), self._lock:
            self._control.send(json.dumps({"release": pid}).encode())
        self.workers -= 1
        if self.retired and self.workers <= 0:
            self.close()
            with contextlib.suppress(ValueError):
                _RETIRED.remove(self)

    def close(self) -> None:
        """Let the server reap what it started and exit; kill it if it will not.

        Reaped here, so that the CPU of every worker it reaped counts in the
        checker's own children's (`resource.RUSAGE_CHILDREN`).
        """
        if os.getpid() != self.owner:
            return
        self._control.close()
        try:
            self._popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()

    def forget(self) -> None:
        """In a process forked from the checker: drop our copy, never touch it."""
        with contextlib.suppress(OSError):
            self._control.close()
        self.owner = -1


def read_ended(status_path: str) -> int | None:
    """The exit code the server wrote into a status page, or None (not yet)."""
    try:
        with open(status_path, "rb") as file:
            page = file.read(PAGE_SIZE)
    except OSError:
        return None
    if len(page) < PAGE_SIZE:
        return None
    ended, code = ENDED.unpack_from(page, ENDED_AT)
    return code if ended else None


def carries(pid: int, token: str) -> bool:
    """Whether process `pid` carries a worker's token (it is still that worker)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            environ = file.read()
    except OSError:
        return False
    return f"{TOKEN_VARIABLE}={token}".encode() in environ


_SHARED: list[ForkServer] = []  # this process's server, if started
_RETIRED: list[ForkServer] = []  # older ones, until their last worker is closed
_FOREIGN: list[ForkServer] = []  # a parent's, in a process forked from it
_FAILURES = [0]
_STARTS = [0]  # workers this process has asked for
_LOCK = threading.Lock()  # workers started from several threads


def shared(root: str) -> ForkServer | None:
    """This process's fork server, for every worker but the first; None: Popen.

    Started for the second worker: a run that starts one worker (one engine
    checked) would pay for a server it never uses again. A new one when it
    died (an engine can kill its parent: the server) or when the environment
    changed since it started (a fresh worker would see the change: the old
    one forks no more, and ends with its last worker); none after three have
    died, nor off Linux (/proc is where the token is read).
    """
    with _LOCK:
        return _shared(root)


def _shared(root: str) -> ForkServer | None:
    _STARTS[0] += 1
    if not sys.platform.startswith("linux") or _FAILURES[0] >= 3:
        return None
    if _STARTS[0] < 2 and not _SHARED:
        return None
    if _SHARED and not _SHARED[-1].fits():
        old = _SHARED.pop()
        if not old.alive:
            _FAILURES[0] += 1
            old.close()  # reaped
        elif old.workers > 0:
            old.retired = True
            _RETIRED.append(old)
        else:
            old.close()
    if not _SHARED:
        try:
            _SHARED.append(ForkServer(root))
        except OSError:
            _FAILURES[0] += 1
            return None
        _close_at_pool_exit()
    return _SHARED[-1]


def _close_at_pool_exit() -> None:
    """In a multiprocessing child (a --jobs pool): close the servers at its end.

    Such a process ends with `os._exit`, after multiprocessing's own
    finalizers but no `atexit` hook: unclosed, the server would outlive it,
    be reaped by init, and the CPU of its workers would count nowhere.
    """
    util = sys.modules.get("multiprocessing.util")
    process = sys.modules.get("multiprocessing.process")
    if util is None or process is None or process.parent_process() is None:
        return
    util.Finalize(None, close_shared, exitpriority=0)


def close_shared() -> None:
    """Stop this process's servers (at exit, once their workers are killed)."""
    for servers in (_SHARED, _RETIRED):
        while servers:
            servers.pop().close()


def _forget_shared() -> None:
    """In a process forked from ours: our server is not its (a --jobs pool)."""
    global _LOCK
    _LOCK = threading.Lock()  # another thread may have held it at the fork
    for servers in (_SHARED, _RETIRED):
        for server in servers:
            server.forget()
        _FOREIGN.extend(servers)  # kept: dropping one would warn of a live process
        servers.clear()
    _STARTS[0] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared)
