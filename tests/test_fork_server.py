"""Workers forked by the fork server are the workers Popen starts.

Same answers, the same words for how a worker ended, the same isolation
(its own session, the token that the sweep reads, killed with its group),
and the server's own failures (killed mid-run, by an engine or by us) cost
at most a truthful message and a new server. Each test gets a fresh server
state: `use_server` makes the next worker a fork of a new server.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradcheck.internal.checking import supervisor
from gradcheck.internal.checking.engine_client import Engine, WorkerCrash, load_engine
from gradcheck.internal.expr.parser import parse
from gradcheck.internal.worker import fork_client, fork_server
from gradcheck.internal.worker.confine import ENGINE_WRITES

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork server is Linux's"
)

# A tiny correct engine (add and mul); `backward()` past a leaf first runs
# the module's HOSTILE hook, which each test writes in.
ENGINE = """
import os, signal, sys, time

def HOSTILE():
    pass

class Value:
    def __init__(self, data, _prev=()):
        self.data, self.grad, self._prev, self._local = data, 0.0, _prev, ()

    def _lift(self, other):
        return other if isinstance(other, Value) else Value(other)

    def __add__(self, other):
        other = self._lift(other)
        out = Value(self.data + other.data, (self, other))
        out._local = (1.0, 1.0)
        return out

    def __mul__(self, other):
        other = self._lift(other)
        out = Value(self.data * other.data, (self, other))
        out._local = (other.data, self.data)
        return out

    __radd__, __rmul__ = __add__, __mul__

    def backward(self):
        if self._prev:
            HOSTILE()
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack += [(node, True)] + [(c, False) for c in node._prev]
        self.grad = 1.0
        for node in reversed(order):
            for child, local in zip(node._prev, node._local):
                child.grad += local * node.grad
"""

GRAPH = parse("x*y + x")
POINT = {"x": 2.0, "y": -3.0}


@pytest.fixture
def use_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fresh server state in which every worker is forked by the server."""
    fork_client.close_shared()
    monkeypatch.setattr(fork_client, "_SHARED", [])
    monkeypatch.setattr(fork_client, "_FAILURES", [0])
    monkeypatch.setattr(fork_client, "_STARTS", [1])
    yield
    supervisor.close_all()


def _signals_scoped() -> bool:
    """Whether a worker can signal nothing outside itself (Landlock ABI 6)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.syscall(444, None, 0, 1) >= 6)


def writable(folder: Path) -> None:
    """Let the test's engines write their observations into `folder`: workers
    may write only in their own folder and those listed in ENGINE_WRITES."""
    os.environ[ENGINE_WRITES] = str(folder)


@pytest.fixture(autouse=True)
def _no_extra_writes() -> Iterator[None]:
    yield
    os.environ.pop(ENGINE_WRITES, None)


@pytest.fixture
def use_popen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fork_client, "shared", lambda root: None)


def engine_file(tmp_path: Path, hostile: str = "pass", name: str = "eng") -> str:
    hook = "def HOSTILE():\n" + textwrap.indent(textwrap.dedent(hostile), "    ")
    path = tmp_path / f"{name}.py"
    path.write_text(ENGINE.replace("def HOSTILE():\n    pass", hook))
    return str(path)


def forked(engine: Engine) -> bool:
    worker = engine.channel
    assert isinstance(worker, supervisor.Worker)
    return worker._server is not None


def grads(engine: Engine) -> tuple[list[float], list[float]]:
    run = engine.run(GRAPH, POINT)
    return list(run.data), list(run.grads)


def server_pid() -> int:
    return fork_client._SHARED[-1]._popen.pid


def gone(pid: int) -> bool:
    """Dead or a zombie (no longer running any code)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in "ZX"


def wait_until(condition: object, seconds: float = 10.0) -> bool:
    """Poll `condition` (a callable): a safety net, not a timing assertion."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_the_exit_status_follows_the_workers_own_status() -> None:
    from gradcheck.internal.worker import serve

    assert serve.STATUS.size == fork_server.ENDED_AT


# -- the same answers -------------------------------------------------------------


@pytest.mark.heavy
def test_a_forked_worker_answers_as_a_fresh_one(
    use_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    graphs = [parse("x*y + tanh(x)"), parse("exp(x) * log(y) - x/y")]
    points = [{"x": 0.7, "y": 1.3}, {"x": -0.4, "y": 2.5}]
    with load_engine(None) as engine:
        assert forked(engine)
        answers = [
            (tuple(engine.supported), engine.run(g, p)) for g in graphs for p in points
        ]
    monkeypatch.setattr(fork_client, "shared", lambda root: None)
    with load_engine(None) as engine:
        assert not forked(engine)
        again = [
            (tuple(engine.supported), engine.run(g, p)) for g in graphs for p in points
        ]
    assert [(s, r.data, r.grads) for s, r in answers] == [
        (s, r.data, r.grads) for s, r in again
    ]


def test_a_forked_worker_is_in_its_own_session_with_its_token(
    use_server: None, tmp_path: Path
) -> None:
    with load_engine(engine_file(tmp_path)) as engine:
        assert forked(engine)
        worker = engine.channel
        pid = worker._pid
        assert os.getsid(pid) == pid
        assert fork_client.carries(pid, worker.token)  # where the sweep reads it
        assert grads(engine) == ([2.0, -3.0, -6.0, -4.0], [-2.0, 2.0, 1.0, 1.0])


# -- how a worker ended, in the same words ---------------------------------------------

ENDINGS = [
    ("os._exit(3)", r"the engine called os\._exit\(3\)"),
    ("os.kill(os.getpid(), signal.SIGSEGV)", r"segmentation fault \(signal 11\)"),
    ("os.kill(os.getpid(), signal.SIGKILL)", r"killed \(signal 9\)"),
    ("import ctypes; ctypes.string_at(0)", r"segmentation fault \(signal 11\)"),
]


@pytest.mark.parametrize(("hostile", "words"), ENDINGS)
def test_a_dead_worker_is_described_as_when_popen_started_it(
    use_server: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hostile: str,
    words: str,
) -> None:
    messages = []
    for via_server in (True, False):
        if not via_server:
            monkeypatch.setattr(fork_client, "shared", lambda root: None)
        with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
            assert forked(engine) == via_server
            with pytest.raises(WorkerCrash, match=words) as crash:
                engine.run(GRAPH, POINT)
            messages.append(str(crash.value))
    assert messages[0] == messages[1]


def test_a_crashed_worker_restarts_through_the_server(
    use_server: None, tmp_path: Path
) -> None:
    flag = tmp_path / "die"
    hostile = f"if os.path.exists({str(flag)!r}): os._exit(3)"
    with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
        flag.touch()
        for _ in range(2):
            with pytest.raises(WorkerCrash, match=r"os\._exit\(3\)"):
                engine.run(GRAPH, POINT)
        flag.unlink()
        assert grads(engine)[0][-1] == -4.0
        assert forked(engine)
        assert engine.channel.restarts == 2


# -- the server's own death ---------------------------------------------------


def test_killing_the_server_mid_run_costs_a_true_message_and_a_new_server(
    use_server: None, tmp_path: Path
) -> None:
    flag = tmp_path / "die"
    hostile = f"if os.path.exists({str(flag)!r}): os._exit(3)"
    with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
        first = server_pid()
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: gone(first))
        # The worker lives on: it answers, and dies with its exit status lost.
        assert grads(engine)[0][-1] == -4.0
        flag.touch()
        with pytest.raises(WorkerCrash) as crash:
            engine.run(GRAPH, POINT)
        message = str(crash.value)
        assert "os._exit(3)" in message or "exit status is unknown" in message
        flag.unlink()
        assert grads(engine)[0][-1] == -4.0  # restarted by a new server
        assert forked(engine)
        assert server_pid() != first


def test_an_engine_that_kills_its_parent_kills_only_the_server(
    use_server: None, tmp_path: Path
) -> None:
    # Only when the parent is the fork server: never the test's own process.
    # A kernel with Landlock's signal scope refuses the kill: the server lives.
    hostile = """
    parent = os.getppid()
    with open(f"/proc/{parent}/cmdline", "rb") as file:
        if b"fork_server" in file.read():
            try:
                os.kill(parent, signal.SIGKILL)
            except PermissionError:
                pass
    """
    with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
        assert forked(engine)
        first = server_pid()
        assert grads(engine)[0][-1] == -4.0
        if _signals_scoped():
            assert not gone(first)
            return
        assert wait_until(lambda: gone(first))
        assert grads(engine)[0][-1] == -4.0
    with load_engine(engine_file(tmp_path, name="other"), 10.0) as engine:
        assert forked(engine)
        assert server_pid() != first
        assert grads(engine)[0][-1] == -4.0


def test_the_server_ends_when_the_checker_dies(tmp_path: Path) -> None:
    code = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from gradcheck.internal.checking.engine_client import load_engine
from gradcheck.internal.worker import fork_client
engines = [load_engine({engine_file(tmp_path)!r}) for _ in range(2)]
print(fork_client._SHARED[-1]._popen.pid, engines[1].channel._pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=False
    )
    server, worker = map(int, done.stdout.split())
    try:
        assert wait_until(lambda: gone(server))
        assert wait_until(lambda: gone(worker))  # its channel reached EOF
    finally:
        for pid in (server, worker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# -- a fork of the checker (a --jobs pool) -------------------------------------


def test_a_fork_of_the_checker_starts_its_own_server(
    use_server: None, tmp_path: Path
) -> None:
    path = engine_file(tmp_path)
    with load_engine(path, 10.0) as engine:
        ours = server_pid()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
            child = os.fork()
        if child == 0:  # pragma: no cover (runs in the child)
            ok = False
            try:
                fork_client._STARTS[0] = 1
                with load_engine(path, 10.0) as mine:
                    ok = (
                        forked(mine)
                        and server_pid() != ours
                        and grads(mine)[0][-1] == -4.0
                    )
                supervisor.close_all()
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not gone(ours) and server_pid() == ours
        assert grads(engine)[0][-1] == -4.0  # the parent's worker is untouched


def _two_workers_that_burn(path: str) -> bool:
    """In a pool process: two workers forked by its own server, then closed."""
    fork_client._STARTS[0] = 1
    for _ in range(2):
        with load_engine(path, 10.0) as engine:
            assert forked(engine)
            grads(engine)
    return bool(fork_client._SHARED)


def test_a_pool_process_closes_its_server_so_its_workers_cpu_counts(
    use_server: None, tmp_path: Path
) -> None:
    """A --jobs pool process ends without atexit: its server is closed anyway."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    hostile = """
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    """
    path = engine_file(tmp_path, hostile)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    context = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            assert pool.submit(_two_workers_that_burn, path).result()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    grew = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert grew >= 0.6


# -- hygiene ---------------------------------------------------------------------------


def _fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_no_file_descriptor_leaks_here_or_in_the_server(
    use_server: None, tmp_path: Path
) -> None:
    path = engine_file(tmp_path)
    with load_engine(path, 10.0) as engine:
        assert grads(engine)[0][-1] == -4.0
        server = server_pid()
        ours, theirs = _fds(), _fds(server)
    for _ in range(8):
        with load_engine(path, 10.0) as engine:
            assert forked(engine)
            # As with the first: the status page of its one live worker (the
            # one before is reaped, its page closed), and no pipe end.
            assert wait_until(lambda: _fds(server) == theirs)
            assert grads(engine)[0][-1] == -4.0
    assert wait_until(lambda: _fds(server) == theirs - 1)  # the last one reaped
    assert _fds() <= ours


def test_a_daemon_that_leaves_the_group_is_killed_by_its_token(
    use_server: None, tmp_path: Path
) -> None:
    writable(tmp_path)
    pid_file = tmp_path / "daemon.pid"
    hostile = f"""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open({str(pid_file)!r} + ".tmp", "w") as file:
                file.write(str(os.getpid()))
            os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
            while True:
                time.sleep(1)
        os._exit(0)
    """
    daemon = 0
    try:
        with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
            assert forked(engine)
            grads(engine)
            assert wait_until(pid_file.exists)
            daemon = int(pid_file.read_text())
            assert os.getsid(daemon) != engine.channel._pid  # it left the session
            assert fork_client.carries(daemon, engine.channel.token)
        assert wait_until(lambda: gone(daemon))
    finally:  # never left behind, even when the test fails
        if daemon:
            with contextlib.suppress(OSError):
                os.kill(daemon, signal.SIGKILL)


def test_the_workers_cpu_counts_in_the_checkers_children(
    use_server: None, tmp_path: Path
) -> None:
    """The server reaps its workers and we reap it: RUSAGE_CHILDREN sees them."""
    hostile = """
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with load_engine(engine_file(tmp_path, hostile), 10.0) as engine:
        assert forked(engine)
        grads(engine)
    fork_client.close_shared()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    grew = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert grew >= 0.3


def test_a_changed_environment_gets_a_new_server(
    use_server: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The old server forks no more, serves its live worker, ends with it."""
    writable(tmp_path)
    mark = tmp_path / "seen"
    hostile = f"open({str(mark)!r}, 'w').write(os.environ.get('ZYGOTE_MARK', ''))"
    path = engine_file(tmp_path, hostile)
    with load_engine(path, 10.0) as old:
        first = server_pid()
        monkeypatch.setenv("ZYGOTE_MARK", "changed")
        with load_engine(path, 10.0) as engine:
            assert forked(engine) and server_pid() != first
            grads(engine)
        assert mark.read_text() == "changed"
        assert not gone(first)
        assert grads(old)[0][-1] == -4.0
        assert mark.read_text() == ""
    assert gone(first)  # closed (and reaped) with its last worker


def test_each_forked_worker_has_its_own_random_state(
    use_server: None, tmp_path: Path
) -> None:
    """As fresh interpreters have: `random` is reseeded in every fork."""
    writable(tmp_path)
    seen = tmp_path / "seen"
    hostile = f"""
    import random
    with open({str(seen)!r}, "a") as file:
        file.write(repr(random.random()) + "\\n")
    """
    path = engine_file(tmp_path, hostile)
    for _ in range(3):
        with load_engine(path, 10.0) as engine:
            assert forked(engine)
            grads(engine)
    assert len(set(seen.read_text().split())) == 3


def test_an_engine_recurses_as_deep_as_in_a_fresh_worker(
    use_server: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The child returns to the boot's level first: the same stack, frame for frame.

    A recursive topological sort's "works only up to depth N" must not move.
    """
    writable(tmp_path)
    seen = tmp_path / "seen"
    hostile = f"""
    def down(n):
        try:
            return down(n + 1)
        except RecursionError:
            return n
    with open({str(seen)!r}, "a") as file:
        file.write(str(down(0)) + "\\n")
    """
    path = engine_file(tmp_path, hostile)
    for via_server in (True, False):
        if not via_server:
            monkeypatch.setattr(fork_client, "shared", lambda root: None)
        with load_engine(path, 10.0) as engine:
            assert forked(engine) == via_server
            grads(engine)
    depths = seen.read_text().split()
    assert len(depths) == 2 and depths[0] == depths[1]


def test_workers_started_from_several_threads_each_get_their_own(
    use_server: None, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = engine_file(tmp_path)

    def check(_: int) -> tuple[bool, float]:
        with load_engine(path, 10.0) as engine:
            return forked(engine), grads(engine)[0][-1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, range(8)))
    assert results == [(True, -4.0)] * 8


def test_a_dead_worker_keeps_its_pid_until_the_checker_releases_it(
    use_server: None, tmp_path: Path
) -> None:
    """Its pid is its group's id: never reused while we may still kill the group."""
    with load_engine(engine_file(tmp_path), 10.0) as engine:
        worker = engine.channel
        pid, page = worker._pid, worker._status_path
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: fork_client.read_ended(page) is not None)
        assert fork_client.read_ended(page) == -signal.SIGKILL
        assert Path(f"/proc/{pid}").exists()  # a zombie, not reaped
        assert gone(pid)
    assert wait_until(lambda: not Path(f"/proc/{pid}").exists())  # reaped
