"""The worker's channel: packed floats, one write for the last answer and done,
and a large program's garbage set aside while memory allows.

These are what made a run's answers cheaper; each must leave what the
checker receives exactly as it was.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradcheck.internal.checking.answers import Run
from gradcheck.internal.checking.engine_client import _as_result
from gradcheck.internal.checking.targets import resolve
from gradcheck.internal.worker import protocol, runner, serve
from gradcheck.internal.worker.runner import _answer
from gradcheck.internal.worker.session import Session


@given(st.lists(st.floats(allow_nan=False, allow_subnormal=True)))
def test_packed_floats_come_back_exactly(values: list[float]) -> None:
    back = protocol.unpack_floats(protocol.pack_floats(values))
    assert back == values
    assert [math.copysign(1.0, v) for v in back] == [
        math.copysign(1.0, v) for v in values
    ]


def test_packed_floats_keep_nan_and_infinities() -> None:
    nan, inf, minus_inf = protocol.unpack_floats(
        protocol.pack_floats([math.nan, math.inf, -math.inf])
    )
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf


@pytest.mark.parametrize("text", ["abc", "AAAA", "not base64 at all!", ""])
def test_what_is_not_packed_floats_is_a_bad_frame(text: str) -> None:
    if text == "":
        assert protocol.unpack_floats(text) == []
        return
    with pytest.raises(protocol.BadFrame):
        protocol.unpack_floats(text)


def _sent(answer: dict[str, Any]) -> Any:
    """`answer` as the parent reads it off the channel."""
    reader = protocol.FrameReader()
    reader.feed(protocol.encode(answer))
    [frame] = reader.frames()
    return frame


def test_gradients_the_engine_does_not_keep_arrive_as_missing() -> None:
    run = _as_result(_sent(_answer([1.5, 2.5], [None, 3.0])))
    assert run == Run(data=[1.5, 2.5], grads=[0.0, 3.0], missing=[True, False])
    kept = _as_result(_sent(_answer([1.0], [0.25])))
    assert kept == Run(data=[1.0], grads=[0.25], missing=[False])


def _loaded_session() -> Session:
    session = Session()
    request = {"op": "load", "target": resolve(None).spec, "api": {}}
    answers = list(serve.handle(session, request))
    assert "class" in answers[-1], answers
    return session


def _small(x: float) -> dict[str, Any]:
    nodes = [["var", [], None, "x"], ["mul", [0, 0], None, ""]]
    return {"nodes": nodes, "point": {"x": x}, "backward": True}


def test_the_last_answer_goes_with_done_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = _loaded_session()
    writes: list[bytes] = []
    monkeypatch.setattr(serve, "write_all", lambda fd, data: writes.append(data))
    request = {"op": "run", "items": [_small(x) for x in (1.0, 2.0, 3.0)]}
    serve.answer_all(session, request, -1, lambda: None)
    assert len(writes) == 3  # items 0 and 1 alone; item 2 and "done" together
    reader = protocol.FrameReader()
    per_write = []
    for data in writes:
        reader.feed(data)
        per_write.append(reader.frames())
    assert [[f.get("i", "done") for f in frames] for frames in per_write] == [
        [0],
        [1],
        [2, "done"],
    ]
    runs = [_as_result(f) for frames in per_write for f in frames if "i" in f]
    assert [r.data for r in runs] == [[1.0, 1.0], [2.0, 4.0], [3.0, 9.0]]
    assert [r.grads[0] for r in runs] == [2.0, 4.0, 6.0]


def test_an_error_ends_the_request_with_what_is_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = _loaded_session()
    writes: list[bytes] = []
    monkeypatch.setattr(serve, "write_all", lambda fd, data: writes.append(data))
    serve.answer_all(
        session, {"op": "no such request", "items": [{}]}, -1, lambda: None
    )
    reader = protocol.FrameReader()
    reader.feed(b"".join(writes))
    [frame] = reader.frames()
    assert frame["done"] and "unknown request" in frame["internal"]


_GARBAGE = textwrap.dedent(
    """
    import gc, weakref
    from gradcheck.internal.worker.runner import set_aside_garbage

    class Node:
        pass

    def garbage():
        node = Node()
        node.self = node  # a cycle: only the collector frees it
        return weakref.ref(node)

    gc.freeze()  # what a worker forked from the checker inherits frozen
    inherited = gc.get_freeze_count()
    kept = garbage()
    set_aside_garbage(0)  # no ceiling: collected, the inherited left frozen
    assert kept() is None and gc.get_freeze_count() == inherited
    gone = garbage()
    set_aside_garbage(1 << 62)  # under the ceiling: frozen, not freed
    assert gone() is not None and gc.get_freeze_count() > inherited
    set_aside_garbage(1)  # over it: what was frozen here is collected
    assert gone() is None
    print("ok")
    """
)


def test_a_large_programs_garbage_is_frozen_under_the_ceiling_only() -> None:
    # In a fresh interpreter: freezing the test process's heap would change
    # what the collector tests around it see.
    done = subprocess.run(
        [sys.executable, "-c", _GARBAGE],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_the_ceiling_is_what_the_worker_holds_plus_its_budget() -> None:
    resident = runner.resident_bytes()
    assert resident is not None and resident > 0  # Linux, where this runs
    allowed = runner.garbage_ceiling(1 << 30) - resident
    assert abs(allowed - (1 << 30) // 8) < 64 << 20
    allowed = runner.garbage_ceiling(0) - resident
    assert abs(allowed - runner.GARBAGE_BUDGET) < 64 << 20
