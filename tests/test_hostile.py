"""Hostile engines: nothing an engine does may change a verdict (issue 9).

Each engine in `tests/hostile/` is correct but for one hostile act (or wrong
in one known way). Every test runs the checker in a subprocess, as a user
would, and asserts the verdict, that stdout is exactly one JSON document,
and that no process the run started is left behind: the subprocess carries
a marker in its environment, which every process it starts inherits, and
after the run no live process may carry it. The subprocess timeout is only
a safety net; the limits under test are short (1 s) so hangs stay fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import gradcheck
from gradcheck.internal.checking.engine_client import WorkerCrash, load_engine
from gradcheck.internal.expr.parser import parse
from gradcheck.internal.output.json_doc import target_view

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux"),
        reason="signals, fork and /proc are Linux's",
    ),
    pytest.mark.heavy,
]

HOSTILE = Path(__file__).resolve().parent / "hostile"
ROOT = str(Path(gradcheck.__file__).resolve().parents[1])
MARK = "GRADCHECK_HOSTILE_MARK"
TIME_LIMIT = 1.0
MEMORY_LIMIT = 512 << 20
# The CLI has no limit options yet: runs that need short limits go through
# the API, printing the report's JSON and exiting as the CLI does.
DRIVER = """
import json, sys
from gradcheck.internal.checking.check import check_engine
from gradcheck.internal.checking.engine_client import load_engine
path, limit, memory = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
ops = sys.argv[4].split(",") if sys.argv[4] else None
engine = load_engine(path, limit, memory_limit=memory, import_timeout=10.0)
try:
    report = check_engine(engine, examples=5, seed=1, time_limit=limit, ops=ops)
finally:
    engine.close()
sys.stdout.write(json.dumps(report.to_dict()) + "\\n")
sys.exit(0 if report.ok else 1)
"""


@dataclass
class Outcome:
    """One finished checker run."""

    code: int
    document: dict[str, Any]
    stderr: str

    def check(self, name: str) -> dict[str, Any]:
        for check in self.document["checks"]:
            if check["name"] == name:
                return dict(check)
        raise AssertionError(f"no check {name!r} in {self.names}")

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.document["checks"]]

    def crashes(self) -> list[dict[str, Any]]:
        return [c for c in self.document["checks"] if c.get("category") == "crash"]


def run_checker(engine: str, *, limits: bool = False, ops: str = "") -> Outcome:
    """Check `tests/hostile/<engine>.py` in a subprocess; assert the run's hygiene.

    `ops` restricts the ops checked (fewer examples: the suite stays fast).
    """
    path = str(HOSTILE / f"{engine}.py")
    if limits:
        command = [
            sys.executable,
            "-c",
            DRIVER,
            path,
            str(TIME_LIMIT),
            str(MEMORY_LIMIT),
            ops,
        ]
    else:
        command = [sys.executable, "-m", "gradcheck", "engine", path, "--json"]
        command += ["--examples", "5", "--seed", "1"]
        command += ["--ops", ops] if ops else []
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark, "PYTHONPATH": ROOT}
    try:
        done = subprocess.run(
            command, capture_output=True, env=env, timeout=60, cwd=HOSTILE, check=False
        )
    finally:
        left = _survivors(mark)
    assert not left, f"processes left running: {left}"
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    try:
        document = json.loads(stdout)
        document = target_view(document) if "targets" in document else document
    except ValueError:
        pytest.fail(
            f"stdout is not one JSON document: {stdout[:300]!r}\n{stderr[-2000:]}"
        )
    assert isinstance(document, dict)
    assert "Traceback" not in stderr, stderr[-2000:]
    return Outcome(done.returncode, document, stderr)


def _survivors(mark: str) -> list[str]:
    """Live processes that carry `mark`; they are killed, so none outlives the test.

    A process already hit by SIGKILL is dying, not running: the kernel tears
    it down without running any more of its code.
    """
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes():
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue
        if _state(status) in "ZX" or _kill_pending(status):
            continue
        found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
        with contextlib.suppress(OSError):
            os.kill(int(entry.name), signal.SIGKILL)
    return found


def _state(status: str) -> str:
    match = re.search(r"^State:\s+(\S)", status, re.MULTILINE)
    return match.group(1) if match else "?"


def _kill_pending(status: str) -> bool:
    bit = 1 << (signal.SIGKILL - 1)
    for field in ("SigPnd", "ShdPnd"):
        match = re.search(rf"^{field}:\s+([0-9a-f]+)", status, re.MULTILINE)
        if match and int(match.group(1), 16) & bit:
            return True
    return False


def assert_passes(outcome: Outcome) -> None:
    failed = [c["name"] for c in outcome.document["checks"] if c["status"] == "fail"]
    assert outcome.code == 0, (failed, outcome.stderr[-2000:])
    assert outcome.document["status"] == "pass"


def assert_crash(outcome: Outcome, name: str, pattern: str) -> dict[str, Any]:
    """`name` failed as a crash whose message matches `pattern`."""
    check = outcome.check(name)
    assert check["status"] == "fail", check
    assert check["category"] == "crash", check
    assert re.search(pattern, check["message"]), check["message"]
    return check


def assert_others_pass(outcome: Outcome, *names: str) -> None:
    """Checks after the crash still ran and passed: the worker was restarted."""
    for name in names:
        assert outcome.check(name)["status"] == "pass", outcome.check(name)


# -- tampering -----------------------------------------------------------------


@pytest.mark.heavy(seconds=4)
def test_a_wrong_engine_that_rigs_the_references_still_fails() -> None:
    outcome = run_checker("tamper_references")
    assert outcome.code == 1
    check = outcome.check("local-derivative[tanh]")
    assert check["status"] == "fail"
    assert check["category"] == "local-derivative"


def _landlock() -> bool:
    """Whether this kernel lets a process confine its own writes."""

    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.syscall(444, None, 0, 1) >= 1)  # Landlock's ABI version


@pytest.mark.heavy(seconds=3)
@pytest.mark.skipif(not _landlock(), reason="this kernel has no Landlock")
def test_an_engine_cannot_write_beside_the_checker_or_other_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADCHECK_HOSTILE_TARGET", str(tmp_path))
    probe = Path(gradcheck.__file__).parent / "_hostile_probe.py"
    try:
        outcome = run_checker("tamper_files", ops="add,mul")
        assert not probe.exists() and not (tmp_path / "victim.py").exists()
    finally:
        probe.unlink(missing_ok=True)
    assert_passes(outcome)


@pytest.mark.heavy(seconds=3)
def test_a_correct_engine_that_breaks_math_sympy_and_recursion_passes() -> None:
    assert_passes(run_checker("tamper_modules"))


# -- signals and C calls --------------------------------------------------------


@pytest.mark.heavy(seconds=5)
@pytest.mark.parametrize("engine", ["signal_tricks", "c_call_hang"])
def test_a_hang_that_ignores_signals_is_killed_at_the_deadline(engine: str) -> None:
    outcome = run_checker(engine, limits=True, ops="add,mul,exp,log")
    assert outcome.code == 1
    assert_crash(outcome, "local-derivative[exp]", r"no answer within 1 s: killed")
    assert_others_pass(outcome, "local-derivative[add]", "local-derivative[log]")


# -- dying workers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "pattern"),
    [
        ("exit_in_backward", r"os\._exit\(3\)"),
        ("segfault_in_backward", r"segmentation fault \(signal 11\)"),
    ],
)
def test_a_dying_worker_is_a_crash_and_checking_goes_on(
    engine: str, pattern: str
) -> None:
    outcome = run_checker(engine, ops="add,mul,exp,log,relu")
    assert outcome.code == 1
    check = assert_crash(outcome, "local-derivative[exp]", pattern)
    assert "backward()" in check["message"]
    assert_others_pass(outcome, "local-derivative[log]", "local-derivative[relu]")
    assert "random-graphs" in outcome.names


# -- output and processes ----------------------------------------------------------


@pytest.mark.parametrize(
    "engine", ["fork_carries_on", "lingering_threads", "huge_output", "closed_stdout"]
)
def test_what_an_engine_prints_forks_or_leaves_running_changes_nothing(
    engine: str,
) -> None:
    assert_passes(run_checker(engine, ops="add,mul,tanh,exp"))


# -- exceptions that are not Exceptions ----------------------------------------------


@pytest.mark.heavy(seconds=4)
def test_base_exceptions_raised_in_backward_are_crashes() -> None:
    outcome = run_checker("base_exceptions")
    assert outcome.code == 1
    for op, name in [
        ("tanh", "KeyboardInterrupt"),
        ("exp", "GeneratorExit"),
        ("log", "SystemExit"),
        ("relu", "Escape"),
    ]:
        assert_crash(outcome, f"local-derivative[{op}]", name)
    assert_others_pass(outcome, "local-derivative[add]", "local-derivative[mul]")
    assert "random-graphs" in outcome.names


@pytest.mark.heavy(seconds=4)
def test_base_exceptions_raised_when_an_op_is_called_are_crashes() -> None:
    outcome = run_checker("base_exceptions_forward")
    assert outcome.code == 1
    messages = " ".join(c["message"] for c in outcome.crashes())
    assert "SystemExit" in messages
    assert "Escape" in messages


# -- memory --------------------------------------------------------------------------


def test_a_memory_bomb_is_stopped_by_the_memory_limit() -> None:
    outcome = run_checker("memory_bomb", limits=True, ops="add,mul,exp,log")
    assert outcome.code == 1
    assert_crash(outcome, "local-derivative[exp]", r"MemoryError|killed")
    assert_others_pass(outcome, "local-derivative[add]", "local-derivative[log]")


# -- a class handed over in memory ----------------------------------------------


class _Leaf:
    """A tiny correct engine defined here: only `+` and `*`."""

    def __init__(self, data: float, _prev: tuple[Any, ...] = ()) -> None:
        self.data = data
        self.grad = 0.0
        self._prev = _prev
        self._local: tuple[float, ...] = ()

    def _lift(self, other: Any) -> _Leaf:
        return other if isinstance(other, _Leaf) else type(self)(other)

    def __add__(self, other: Any) -> _Leaf:
        other = self._lift(other)
        out = type(self)(self.data + other.data, (self, other))
        out._local = (1.0, 1.0)
        return out

    def __mul__(self, other: Any) -> _Leaf:
        other = self._lift(other)
        out = type(self)(self.data * other.data, (self, other))
        out._local = (other.data, self.data)
        return out

    __radd__ = __add__
    __rmul__ = __mul__

    def backward(self) -> None:
        order: list[_Leaf] = []
        seen: set[int] = set()
        stack: list[tuple[_Leaf, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack += [(node, True), *((c, False) for c in node._prev)]
        self.grad = 1.0
        for node in reversed(order):
            for child, local in zip(node._prev, node._local, strict=True):
                child.grad += local * node.grad


class _Dies(_Leaf):
    """Correct values; `backward()` past a leaf ends the process (the worker's)."""

    def backward(self) -> None:
        if self._prev:
            os._exit(3)
        super().backward()


def test_a_class_defined_here_runs_in_a_forked_worker() -> None:
    with load_engine(_Leaf, 5.0) as engine:
        assert engine.isolated
        assert {"add", "mul"} <= set(engine.supported)
        graph = parse("x*y + x")
        run = engine.run(graph, {"x": 2.0, "y": -3.0})
        grads = {
            n.name: g for n, g in zip(graph.nodes, run.grads, strict=True) if n.name
        }
        assert run.data[-1] == -4.0
        assert grads == {"x": -2.0, "y": 2.0}


def test_a_class_that_kills_its_process_kills_only_the_worker() -> None:
    graph = parse("x*y")
    with load_engine(_Dies, 5.0) as engine:
        assert engine.isolated
        for _ in range(2):  # the second run needs a restarted worker
            with pytest.raises(WorkerCrash, match=r"os\._exit\(3\)"):
                engine.run(graph, {"x": 2.0, "y": -3.0})
        assert engine.channel.restarts == 2
