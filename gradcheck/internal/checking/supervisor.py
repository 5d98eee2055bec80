"""The parent's side of the process boundary: start, feed, time and kill workers.

A worker is a fork of the fork server (`gradcheck.internal.worker.fork_server`,
a pre-loaded process started once, where fork is available), a fresh Python
process (`gradcheck.internal.worker`) if not, or a fork of this one when the
engine is a class that exists only in memory (a Jupyter cell).
It runs in its own session and process group; the supervisor owns every
deadline and kills the whole group with SIGKILL, so nothing the engine does
with signals can keep it alive. Its stdout and stderr go to a pipe that a
thread drains into the last lines kept for the report; results come over a
private pipe, never stdout.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import secrets
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gradcheck.internal.worker import fork_client, fork_server, protocol
from gradcheck.internal.worker.confine import engine_folder
from gradcheck.internal.worker.fork_client import ForkServer
from gradcheck.internal.worker.fork_server import TOKEN_VARIABLE

DEFAULT_MEMORY_LIMIT = 4 << 30
OUTPUT_LINES = 50
# The longest the parent waits for a batch's answers to pile up between reads.
GATHER_SECONDS = 0.001
_STATUS = struct.Struct("<ii")
_PHASES = {
    1: "while loading",
    2: "while building the graph",
    3: "in backward()",
    4: "while reading gradients",
    5: "in a probe",
    6: "while detecting ops",
}
_SIGNALS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "abort",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGKILL: "killed",
}
_ROOT = str(Path(__file__).resolve().parents[3])
_BOOT = (
    "import sys;sys.path.insert(0,sys.argv[1]);"
    "from gradcheck.internal.worker.serve import main;"
    "sys.path.pop(0);"
    "sys.path.remove('') if '' in sys.path else None;"
    "main(sys.argv[2:])"
)
_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
_LOST = (
    "the worker closed its channel; its exit status is unknown "
    "(the fork server that started it had died)"
)


class WorkerFailure(Exception):
    """The worker died or missed its deadline; the message says which, in words."""

    def __init__(self, message: str, item: int, phase: str, timeout: bool) -> None:
        super().__init__(message)
        self.message = message
        self.item = item
        self.phase = phase
        self.timeout = timeout


@dataclass
class _Output:
    """The last lines the engine printed, drained by a thread."""

    lines: collections.deque[str]
    total: int = 0


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


class Worker:
    """One worker process, restarted on demand after a crash or a kill."""

    def __init__(
        self, *, memory_limit: int = DEFAULT_MEMORY_LIMIT, obj: Any = None
    ) -> None:
        self._pid = 0
        # A process forked from ours (a --jobs pool) must not kill our worker.
        self._owner = os.getpid()
        self.memory_limit = memory_limit
        self.obj = obj  # a class to hand over by fork, or None
        self.token = secrets.token_hex(16)
        self.output = _Output(collections.deque(maxlen=OUTPUT_LINES))
        self.restarts = 0
        self._pid = 0
        self._popen: subprocess.Popen[bytes] | None = None
        self._server: ForkServer | None = None  # the one that forked it, if any
        self._to_worker = -1
        self._from_worker = -1
        self._status_path = ""
        self._reader: threading.Thread | None = None
        _LIVE.add(self)

    # -- life cycle --------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._pid != 0

    def start(self) -> None:
        fd, self._status_path = tempfile.mkstemp(prefix="gradcheck-status-")
        os.write(fd, bytes(fork_server.PAGE_SIZE))
        os.close(fd)
        server = fork_client.shared(_ROOT) if self.obj is None else None
        if server is None or not self._start(server):
            if server is not None:
                _sweep(self.token)  # a child it forked before it died, if any
            self._start(None)

    def _start(self, server: ForkServer | None) -> bool:
        """Start the worker: by `server`, else by fork or Popen; False: failed."""
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        output_r, output_w = os.pipe()
        args = [
            str(request_r),
            str(answer_w),
            self._status_path,
            str(self.memory_limit),
        ]
        try:
            if server is not None:
                fds = [request_r, answer_w, output_w]
                pid = server.spawn(
                    self._status_path, self.memory_limit, fds, self.token
                )
                if pid is None:
                    for end in (request_w, answer_r, output_r):
                        os.close(end)
                    return False
                self._pid, self._server = pid, server
            elif self.obj is not None:
                self._pid = self._fork(args, request_r, answer_w, output_w)
            else:
                env = {**os.environ, TOKEN_VARIABLE: self.token}
                self._popen = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, _ROOT, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=output_w,
                    stderr=output_w,
                    pass_fds=(request_r, answer_w),
                    start_new_session=True,
                    env=env,
                )
                self._pid = self._popen.pid
        finally:
            for end in (request_r, answer_w, output_w):
                os.close(end)
        self._to_worker, self._from_worker = request_w, answer_r
        os.set_blocking(self._to_worker, False)
        self._reader = threading.Thread(
            target=_drain, args=(output_r, self.output), daemon=True
        )
        self._reader.start()
        return True

    def _fork(
        self, args: list[str], request_r: int, answer_w: int, output_w: int
    ) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            pid = os.fork()
        if pid:
            return pid
        try:  # the child: become the worker, never return
            os.setsid()
            os.environ[TOKEN_VARIABLE] = self.token
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(output_w, 1)
            os.dup2(output_w, 2)
            from gradcheck.internal.worker.serve import serve, start_session

            session = start_session(self._status_path, self.memory_limit)
            session.extra["object"] = self.obj
            serve(request_r, answer_w, session)
        finally:
            os._exit(0)

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Kill the worker, its process group and anything it started."""
        if not self._pid or os.getpid() != self._owner:
            return
        pid, self._pid = self._pid, 0
        if self._server is None or self._may_kill(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            if self._server is not None:  # forked, maybe not yet in its session
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        _sweep(self.token)
        self._reap(pid)
        for fd in (self._to_worker, self._from_worker):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._to_worker = self._from_worker = -1
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        with contextlib.suppress(OSError):
            os.unlink(self._status_path)
        shutil.rmtree(engine_folder(self._status_path), ignore_errors=True)

    def _may_kill(self, pid: int) -> bool:
        """Whether `pid` is still our forked worker's (its pid not reused).

        The server reaps it only once released (`ForkServer.release`); a
        server that died left it to init, which may have: then only if the
        process still carries our token.
        """
        assert self._server is not None
        return self._server.alive or fork_client.carries(pid, self.token)

    def _status_lost(self) -> bool:
        """Our forked worker is gone, and so is the server that would say how."""
        server = self._server
        if server is None or server.alive or self._exit_code() is not None:
            return False
        return not fork_client.carries(self._pid, self.token)

    def _reap(self, pid: int) -> int | None:
        if self._server is not None:  # the server reaps it, and says how it ended
            self._server.release(pid)
            self._server = None
            return None
        if self._popen is not None:
            popen, self._popen = self._popen, None
            try:
                return popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                return None
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return None
        return os.waitstatus_to_exitcode(status)

    def _exit_code(self) -> int | None:
        """The worker's exit code if it has ended (negative: killed by a signal)."""
        if self._popen is not None:
            return self._popen.poll()
        if self._server is not None:
            return fork_client.read_ended(self._status_path)
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            return -signal.SIGKILL
        return os.waitstatus_to_exitcode(status) if pid else None

    # -- requests ------------------------------------------------------------

    def request(
        self,
        message: dict[str, Any],
        deadline: float,
        *,
        first_deadline: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Answers to `message`, each within `deadline` seconds of the previous.

        Raises `WorkerFailure` when the worker dies or is killed on a
        deadline; the worker is then gone and restarts on the next request.
        """
        if os.getpid() != self._owner:  # a fork of ours starts its own worker
            self._pid, self._popen, self._owner = 0, None, os.getpid()
            self._server = None
            self.output = _Output(collections.deque(maxlen=OUTPUT_LINES))
        if not self.alive:
            self.start()
        reader = protocol.FrameReader()
        limit = first_deadline if first_deadline is not None else deadline
        due = time.monotonic() + limit
        self._write(protocol.encode(message), due, limit)
        sent = time.monotonic()
        waiting = len(message.get("items", ()))  # item answers still to come
        answered = 0
        while True:
            for answer in self._answers(reader, due, limit):
                yield answer
                if answer.get("done"):
                    return
                due = time.monotonic() + deadline
                limit = deadline
                waiting -= 1
                answered += 1
            if waiting > 1 and answered:
                # Let the next answers pile up in the pipe, for about as long
                # as they take at the pace so far: waking for each one cost
                # more CPU (here and in the worker's write) than a small graph
                # takes to run. The deadlines are unchanged.
                pace = (time.monotonic() - sent) / answered
                time.sleep(min(GATHER_SECONDS, pace * waiting))

    def _write(self, data: bytes, due: float, limit: float) -> None:
        view = memoryview(data)
        while view:
            try:  # a request fits in the pipe as a rule: no select() first
                view = view[os.write(self._to_worker, view) :]
                continue
            except BlockingIOError:
                pass
            except OSError:  # BrokenPipeError included
                self._fail_dead()
            remaining = due - time.monotonic()
            if remaining <= 0:
                self._fail_timeout(limit)
            _, ready, _ = select.select([], [self._to_worker], [], min(remaining, 0.2))
            if not ready and self._exit_code() is not None:
                self._fail_dead()

    def _answers(
        self, reader: protocol.FrameReader, due: float, limit: float
    ) -> list[dict[str, Any]]:
        while True:
            remaining = due - time.monotonic()
            if remaining <= 0:
                self._fail_timeout(limit)
            ready, _, _ = select.select(
                [self._from_worker], [], [], min(remaining, 0.2)
            )
            if not ready:
                if self._exit_code() is not None:
                    self._fail_dead()
                continue
            try:
                chunk = os.read(self._from_worker, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self._fail_dead()
            reader.feed(chunk)
            try:
                frames = reader.frames()
            except protocol.BadFrame as err:
                self._fail(f"the worker's channel was corrupted ({err})", timeout=False)
            if frames:
                return [
                    f
                    if isinstance(f, dict)
                    else {"done": True, "internal": "bad frame"}
                    for f in frames
                ]

    def _status(self) -> tuple[int, str]:
        try:
            with open(self._status_path, "rb") as page:
                item, phase = _STATUS.unpack(page.read(_STATUS.size))
        except (OSError, struct.error):
            return 0, ""
        return item, _PHASES.get(phase, "")

    def _fail_timeout(self, limit: float) -> None:
        self._fail(f"no answer within {limit:g} s: killed", timeout=True)

    def _fail_dead(self) -> None:
        code = self._exit_code()
        deadline = time.monotonic() + 2.0
        lost = False
        while code is None and time.monotonic() < deadline and not lost:
            time.sleep(0.01)
            code = self._exit_code()
            lost = code is None and self._status_lost()
        self._fail(_LOST if lost else describe_exit(code), timeout=False)

    def _fail(self, message: str, timeout: bool) -> None:
        item, phase = self._status()
        self.close()
        self.restarts += 1
        raise WorkerFailure(message, item, phase, timeout)


def describe_exit(code: int | None) -> str:
    """A dead worker's exit, in words."""
    if code is None:
        return "the worker closed its channel and did not exit"
    if code < 0:
        number = -code
        try:
            name = _SIGNALS.get(signal.Signals(number), signal.Signals(number).name)
        except ValueError:
            name = "signal"
        return f"{name} (signal {number})"
    return f"the engine called os._exit({code})"


def _drain(fd: int, output: _Output) -> None:
    """Keep the last lines of what the engine prints, whatever its size."""
    pending = b""
    try:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            output.total += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines[-OUTPUT_LINES:]:
                output.lines.append(line[:500].decode("utf-8", "replace"))
            pending = pending[-4096:]
    finally:
        if pending:
            output.lines.append(pending[:500].decode("utf-8", "replace"))
        os.close(fd)


def _sweep(token: str) -> None:
    """Kill every process that carries the worker's token (it left the group)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    me = os.getpid()
    for _ in range(3):  # a fork may be under way while we look
        found = False
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            if fork_client.carries(int(entry.name), token):
                found = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if not found:
            return


def close_all() -> None:
    """Kill every live worker (at exit, and on Ctrl-C), then the fork server."""
    for worker in list(_LIVE):
        worker.close()
    fork_client.close_shared()


atexit.register(close_all)
