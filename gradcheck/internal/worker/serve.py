"""The worker's request loop: load, detect ops, run batches until told to stop.

Requests and answers are frames on two private pipes (`protocol`). A batch
answers item by item, so the parent's deadline runs per item and a crash
loses only the item it happened in. Anything the engine raises, any
`BaseException` included, becomes an answer; only the parent ends the worker.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import resource
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from gradcheck.internal.worker import protocol
from gradcheck.internal.worker.api import Api, CannotReset
from gradcheck.internal.worker.confine import (
    ENGINE_WRITES,
    confine,
    engine_folder,
    private_folder,
)
from gradcheck.internal.worker.contract import (
    ContractError,
    check_contract,
    detect_mixed,
    detect_op,
    find_class,
    unchecked_methods,
)
from gradcheck.internal.worker.faults import describe_error
from gradcheck.internal.worker.loading import LoadError, load
from gradcheck.internal.worker.recipes import (
    NN_RECIPES,
    RECIPES,
    RecipeError,
    network_info,
)
from gradcheck.internal.worker.runner import garbage_ceiling, run_program
from gradcheck.internal.worker.session import DETECT, HANDLERS, LOADING, RECIPE, Session
from gradcheck.internal.worker.storage import storage

STATUS = struct.Struct("<ii")  # item index, phase
# Bound before the engine loads: an engine may replace module attributes.
encode, write_all = protocol.encode, protocol.write_all
_getpid, _exit = os.getpid, os._exit  # bound now: an engine may replace them


def handle_load(session: Session, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Import the engine and build a leaf; its ops are detected by `detect`.

    Loading is only what every check needs: the module, the class, a leaf
    whose data and gradient can be read, and backward() on it. What the ops
    do is found by separate `detect` requests, each op under the parent's
    per-request deadline, so that an op that hangs is a finding about it.
    """
    session.mark_page(0, LOADING)
    target = request["target"]
    notes: list[str] = []
    try:
        if target["kind"] == "object":  # a class handed over in memory (fork)
            cls = session.extra["object"]
            module = sys.modules.get(cls.__module__)
            file, notes = getattr(module, "__file__", None), []
        else:
            loaded = load(target)
            module, file, notes = loaded.module, loaded.file, loaded.notes
            cls, found_notes = find_class(module, request.get("class_name"))
            notes += found_notes
        api = check_contract(cls, request.get("api"))
        api.op_names = dict(request.get("op_names") or {})
        # Found by an earlier `detect` (this is a reload after a crash).
        api.wrap_constants = bool(request.get("wrap_constants"))
    except (LoadError, ContractError) as err:
        stubs = "".join(f"; {n}" for n in notes if "exercise stub" in n)
        yield {"done": True, "refused": str(err) + stubs, "kind": type(err).__name__}
        return
    session.cls, session.api, session.module = cls, api, module
    try:
        source_file = _source_file(cls) or file
    except Exception:
        source_file = file
    unconfined = session.extra.get("unconfined")  # why writes are not confined
    yield {
        "done": True,
        "class": getattr(cls, "__qualname__", "?"),
        "file": source_file,
        "module_file": file,
        "notes": [*notes, str(unconfined)] if unconfined else notes,
        "api": api.describe(),
        "spelling": {**api.spelling(), "module": getattr(cls, "__module__", None)},
        "not_checked": unchecked_methods(cls, api),
        "network": network_info(module) if module is not None else None,
        "python": sys.version.split()[0],
    }


def handle_detect(
    session: Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """What the ops do, item by item: `mixed`, one `op` each, then `storage`.

    Answered per item like a batch of programs: the parent's deadline runs
    per item, and an op that hangs or kills the worker costs only its item.
    """
    assert session.cls is not None and session.api is not None
    cls, api = session.cls, session.api
    for index, item in enumerate(request["items"]):
        session.item = index
        session.mark(DETECT)
        yield {"i": index, **_detect_item(cls, api, item)}
    yield {"done": True}


def _detect_item(cls: type, api: Api, item: dict[str, Any]) -> dict[str, Any]:
    kind = item["kind"]
    try:
        if kind == "mixed":
            return {"capabilities": detect_mixed(cls, api), "api": api.describe()}
        if kind == "op":
            return detect_op(cls, api, item["op"], item.get("constants", ()))
        return {"storage": storage(cls, api, tuple(item.get("ops", ())))}
    except BaseException as err:  # building the probe's leaves failed
        if kind == "op":
            return {"verdict": "broken", "detail": describe_error(err)}
        return {"error": describe_error(err)}


def _source_file(cls: type) -> str | None:
    import inspect

    try:
        return inspect.getsourcefile(cls)
    except (TypeError, OSError):
        return None


def handle_run(session: Session, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    assert session.cls is not None and session.api is not None
    cls, api, ceiling = session.cls, session.api, session.garbage_ceiling
    for index, program in enumerate(request["items"]):
        session.item = index
        # The page writer with the item bound: a Python call less per mark.
        mark = partial(session.mark_page, index)
        yield {"i": index, **run_program(cls, api, program, mark, ceiling)}
    yield {"done": True}


def handle_recipe(
    session: Session, request: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    assert session.cls is not None and session.api is not None
    session.item = 0
    session.mark(RECIPE)
    name, params = request["name"], request.get("params", {})
    try:
        if name in RECIPES:
            result = RECIPES[name](session.cls, session.api, params)
        else:
            result = NN_RECIPES[name](session.cls, session.api, session.module, params)
    except (RecipeError, CannotReset) as err:
        yield {"done": True, "skip": str(err)}
        return
    except BaseException as err:
        yield {"done": True, "error": describe_error(err)}
        return
    yield {"done": True, "result": result}


HANDLERS.update(
    {
        "load": handle_load,
        "detect": handle_detect,
        "run": handle_run,
        "recipe": handle_recipe,
    }
)


def handle(session: Session, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Answers to one request; never raises (the loop must survive anything)."""
    kind = request.get("op", "")
    handler = HANDLERS.get(kind)
    if handler is None and kind.startswith("tensor"):
        import gradcheck.internal.worker.tensor  # noqa: F401  (registers its handlers)

        handler = HANDLERS.get(kind)
    if handler is None:
        yield {"done": True, "internal": f"unknown request {kind!r}"}
        return
    answers = handler(session, request)
    while True:
        # Only the handler's own code is guarded: a GeneratorExit thrown in at
        # our `yield` (the in-process caller stops at "done") must propagate.
        try:
            answer = next(answers)
        except StopIteration:
            return
        except BaseException as err:
            yield {"done": True, "error": describe_error(err)}
            return
        yield answer


def guard_forks(request_fd: int, answer_fd: int) -> Callable[[], None]:
    """Keep processes the engine forks off the channel; returns the pid check.

    A child that carries on after `os.fork()` returns into this loop: it
    would read requests meant for the worker and send answers of its own.
    The fork hook points its channel at /dev/null, and the check (before
    every read and write, for forks that bypass the hook) ends it.
    """
    owner = _getpid()

    def after_in_child() -> None:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, request_fd)
        os.dup2(null, answer_fd)
        os.close(null)

    os.register_at_fork(after_in_child=after_in_child)

    def check() -> None:
        if _getpid() != owner:
            _exit(0)

    return check


def serve(request_fd: int, answer_fd: int, session: Session) -> None:
    """Answer requests until the parent closes the channel or says stop."""
    receive = protocol.receive  # bound before the engine loads
    check = guard_forks(request_fd, answer_fd)
    # The user's Ctrl-C goes to the parent (we are in our own session); with
    # SIGINT ignored, an engine thread's `_thread.interrupt_main()` does nothing.
    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        check()
        try:
            request = receive(request_fd)
        except (protocol.ChannelClosed, OSError):
            return
        except BaseException:  # an engine thread may interrupt us: keep serving
            continue
        if request.get("op") == "stop":
            return
        answer_all(session, request, answer_fd, check)


def answer_all(
    session: Session, request: dict[str, Any], answer_fd: int, check: Callable[[], None]
) -> None:
    """Send the answers to one request, each as soon as it is known.

    The last item's answer waits for the final "done" and both go in one
    write: no engine code runs between them, and a write and a wakeup of the
    parent less per request is what a small graph costs to run.
    """
    last = len(request.get("items", ())) - 1
    held = b""
    for answer in handle(session, request):
        check()
        try:
            frame = encode(answer)
        except (TypeError, ValueError) as err:  # a value JSON cannot hold
            unsendable = {"done": True, "internal": f"unsendable answer: {err}"}
            write_all(answer_fd, held + encode(unsendable))
            return
        if answer.get("i") == last and not answer.get("done"):
            held = frame
            continue
        write_all(answer_fd, held + frame)
        held = b""
    if held:  # the handler ended without "done" (it always says it)
        write_all(answer_fd, held)


def status_page(path: str) -> Callable[[int, int], None]:
    """The shared page where the worker notes what it is doing (crash reports)."""
    fd = os.open(path, os.O_RDWR)
    try:
        page = mmap.mmap(fd, STATUS.size)
    finally:
        os.close(fd)
    pack = STATUS.pack_into
    owner = _getpid()

    def mark(item: int, phase: int) -> None:
        if _getpid() != owner:  # a fork of the engine's: see `guard_forks`
            _exit(0)
        pack(page, 0, item, phase)

    return mark


def start_session(status_path: str, memory_limit: int) -> Session:
    """A worker's set-up before any engine code, forked or started: its
    memory limit, its status page, and writes confined to its own folder
    (removed by the parent with the status page) and the folders the user
    lists in GRADCHECK_ENGINE_WRITES (`worker.confine`)."""
    limit_memory(memory_limit)
    session = Session(
        mark_page=status_page(status_path),
        garbage_ceiling=garbage_ceiling(memory_limit),
    )
    extra = os.environ.get(ENGINE_WRITES, "")
    session.extra["unconfined"] = confine(
        private_folder(engine_folder(status_path)),
        [p for p in extra.split(os.pathsep) if p],
    )
    return session


def limit_memory(limit: int) -> None:
    if limit > 0:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str]) -> None:
    """Entry point: `worker REQUEST_FD ANSWER_FD STATUS_PATH MEMORY_LIMIT`."""
    request_fd, answer_fd = int(argv[0]), int(argv[1])
    session = start_session(argv[2], int(argv[3]))
    try:
        serve(request_fd, answer_fd, session)
    finally:
        try:
            sys.stdout.flush()
        finally:
            os._exit(0)  # engine threads, atexit hooks and finalizers do not run
