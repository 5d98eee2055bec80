"""The fork server: one pre-loaded process that forks a worker per request.

A worker started as a fresh interpreter spends about 50 ms of CPU on the
interpreter and on its imports before it loads the engine; a class of
engines starts one per engine. The checker starts this process once (the
same boot as a worker), it imports what every worker imports, and then
forks a worker per request: the child becomes exactly what `serve.main`
makes of a fresh process (its own session, stdin /dev/null, stdout and
stderr to the output pipe, the token in its environment, the memory limit).

Both ends of the control socket live here, as both ends of the worker's
channel live in `protocol`: `ForkServer` is the checker's handle, `main`
the server. A request is a small JSON header with the worker's pipe ends
passed along (SCM_RIGHTS); the answer is the child's pid. The checker is
not the workers' parent, so the server writes each exit status into the
worker's status page (`ENDED`, after the worker's own item and phase) as
soon as the worker ends, and reaps it when the checker releases it (so
that its pid, the id of its process group, is never reused while the
checker may still kill that group). The server is single-threaded, holds
no worker's pipe end after the fork, and exits when the checker closes the
socket or dies.
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
import subprocess
import sys
import threading
import time
from typing import Any

TOKEN_VARIABLE = "GRADCHECK_WORKER_TOKEN"
TOKEN_LENGTH = 32  # secrets.token_hex(16)
# The server's own value: a worker overwrites it in place (`_set_token`).
PLACEHOLDER = "0" * TOKEN_LENGTH
# Written by the server when it reaps a worker, after the worker's own
# `serve.STATUS` (item, phase; a test checks the offset): 1, then the exit
# code as `os.waitstatus_to_exitcode` gives it. Not `serve.STATUS.size`:
# the checker imports this module, and must not import the worker's.
ENDED = struct.Struct("<ii")
ENDED_AT = 8
PAGE_SIZE = ENDED_AT + ENDED.size
_PID = struct.Struct("<i")
_BOOT = (
    "import sys;sys.path.insert(0,sys.argv[1]);"
    "from gradcheck.internal.worker.fork_server import main;"
    "sys.path.pop(0);"
    "sys.path.remove('') if '' in sys.path else None;"
    "args=main(sys.argv[2:]);"
    "from gradcheck.internal.worker.serve import main;"
    "main(args)"
)
_PR_SET_PDEATHSIG = 1
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
                reply = self._control.recv(_PID.size)
        except OSError:  # dead (EPIPE, ECONNRESET) or stuck (timeout)
            reply = b""
        if len(reply) != _PID.size:
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._popen.wait()
            return None
        pid = int(_PID.unpack(reply)[0])
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


# -- the server's side ----------------------------------------------------------


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
        control.sendall(_PID.pack(pid))
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
