"""Talking to a worker: start it, load the engine, send batches, reload after a crash.

One client for scalar and tensor engines alike (`Engine` and `TensorEngine`
differ only in their requests and in how an answer becomes a result), so a
change to how a crash, a hang or a refused load is handled is made once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from gradcheck.errors import EngineError
from gradcheck.internal.checking.answers import WorkerCrash
from gradcheck.internal.checking.supervisor import Worker, WorkerFailure, fork_available
from gradcheck.internal.checking.targets import Target, resolve

# Seconds one example may take on an engine before it counts as a hang.
DEFAULT_TIME_LIMIT = 20.0
DEFAULT_IMPORT_TIMEOUT = 20.0

R = TypeVar("R")


class InProcess:
    """The worker's request loop called directly: no isolation, no deadlines.

    For platforms without fork, and for the benchmark that measures what
    isolation costs.
    """

    alive = True
    restarts = 0

    def __init__(self, obj: Any = None) -> None:
        from gradcheck.internal.worker.session import Session

        self.session = Session()
        self.session.extra["object"] = obj

    def request(
        self,
        message: dict[str, Any],
        deadline: float,
        *,
        first_deadline: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        from gradcheck.internal.worker.serve import handle

        yield from handle(self.session, message)

    def close(self) -> None:
        pass


def open_worker(
    target: Any,
    load_op: str,
    memory_limit: int,
    api: Mapping[str, str] | None,
    op_names: Mapping[str, str] | None,
    isolate: bool,
) -> tuple[Target, dict[str, Any], Any, bool]:
    """A worker for `target` (in-process where it must be), and its load request.

    The one way scalar and tensor engines are started: `load_op` is the
    request that loads them ("load" or "tensor_load"). Returns the resolved
    target, the request, the channel and whether it runs isolated.
    """
    resolved = resolve(target)
    request = {
        "op": load_op,
        "target": resolved.spec,
        "class_name": resolved.class_name,
        "api": dict(api or {}),
        "op_names": dict(op_names or {}),
    }
    isolated = isolate and (resolved.obj is None or fork_available())
    channel: Any = (
        Worker(memory_limit=memory_limit, obj=resolved.obj)
        if isolated
        else InProcess(resolved.obj)
    )
    return resolved, request, channel, isolated


def load_answer(
    channel: Any,
    request: dict[str, Any],
    resolved: Target,
    import_timeout: float,
    *,
    definitions_only_on_timeout: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """The worker's answer to a load request, or `EngineError` in one line.

    A file or module whose import runs past the deadline (top-level code such
    as a training loop) is loaded again with its definitions only, and a
    note says so.
    """
    notes: list[str] = []
    try:
        answers = list(channel.request(request, import_timeout))
    except WorkerFailure as failure:
        retry = definitions_only_on_timeout and failure.timeout
        if not (retry and resolved.spec["kind"] in ("file", "module")):
            why = failure.message
            if failure.timeout and resolved.spec["kind"] in ("notebook", "source"):
                # Only definitions run (loops and calls are left out): what
                # still runs is code inside them that runs at definition.
                why += (
                    " (running its definitions: a class body, decorator or "
                    "default argument that loops or waits?)"
                )
            raise EngineError(f"cannot load engine {resolved.shown!r}: {why}") from None
        notes.append(
            f"importing took more than {import_timeout:g} s (top-level code such as "
            "a training loop?): loaded its definitions only"
        )
        request["target"] = {**resolved.spec, "definitions_only": True}
        try:
            answers = list(channel.request(request, import_timeout))
        except WorkerFailure as again:
            raise EngineError(
                f"cannot load engine {resolved.shown!r}: {again.message}"
            ) from None
    answer = answers[-1] if answers else {}
    if "refused" in answer:
        refused = str(answer["refused"])
        if refused.startswith(("cannot", "engine file", "notebook")):
            raise EngineError(refused)  # it names the target already
        raise EngineError(f"engine {resolved.shown!r}: {refused}")
    if "error" in answer or "internal" in answer:
        detail = answer.get("internal") or answer["error"].get("message")
        raise EngineError(f"engine {resolved.shown!r} failed while loading: {detail}")
    return answer, notes


class WorkerProxy:
    """What `Engine` and `TensorEngine` share: their channel to one worker.

    A mixin over dataclasses that hold `target`, `channel`, `load_request`
    and `import_timeout`.
    """

    target: str
    channel: Any
    load_request: dict[str, Any]
    import_timeout: float

    def _ask(
        self, message: dict[str, Any], deadline: float
    ) -> Iterator[dict[str, Any]]:
        """Answers to `message`; reloads the engine first after a crash."""
        if not self.channel.alive:
            self._reload()
        yield from self.channel.request(message, deadline)

    def _reload(self) -> None:
        answers = list(self.channel.request(self.load_request, self.import_timeout))
        if not answers or "refused" in answers[-1]:
            raise EngineError(f"engine {self.target!r} no longer loads after a crash")

    def _run_batches(
        self,
        op: str,
        items: Sequence[Any],
        deadline: float,
        as_result: Callable[[Mapping[str, Any]], R],
        *,
        stop_at_crash: bool = False,
    ) -> list[R | WorkerCrash]:
        """Send `items` in one `op` request; a crash costs only its own item.

        After a dead or hung worker, the rest is sent again to a reloaded
        one. `stop_at_crash`: answer nothing after the crash (the list is then
        shorter), so that an engine that hangs on every item costs one deadline.
        """
        results: list[R | WorkerCrash] = []
        while len(results) < len(items):
            batch = list(items[len(results) :])
            try:
                for answer in self._ask({"op": op, "items": batch}, deadline):
                    if answer.get("done"):
                        if "error" in answer or "internal" in answer:
                            detail = answer.get("internal") or answer["error"]
                            raise EngineError(f"worker error: {detail}")
                        break
                    results.append(as_result(answer))
                else:
                    raise EngineError("the worker ended a batch without answering")
            except WorkerFailure as failure:
                self._crashed(failure)
                results.append(
                    WorkerCrash(failure.message, failure.phase, failure.timeout)
                )
                if stop_at_crash:
                    break
            if len(results) < len(items) and not isinstance(
                results[-1] if results else None, WorkerCrash
            ):
                raise EngineError("the worker answered fewer items than it was sent")
        return results

    def _crashed(self, failure: WorkerFailure) -> None:
        """A hook for what a proxy learns from a crash (a hang shortens deadlines)."""

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
