"""The engine as the checker sees it: a proxy to an isolated worker.

The checker never holds an engine object. `Engine.run` sends a graph
program (plain data) to the worker and gets plain numbers back: per-node
values and gradients, or the engine's exception with where it was raised.
A worker that dies or hangs is killed, reported as `WorkerCrash`, and
restarted for the next request. Nothing here imports micrograd: the
built-in engine is loaded by the worker from its own file, like any other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradcheck.errors import EngineError
from gradcheck.internal.checking.answers import EngineFault, Run, WorkerCrash
from gradcheck.internal.checking.supervisor import (
    DEFAULT_MEMORY_LIMIT,
    Worker,
    WorkerFailure,
)
from gradcheck.internal.checking.targets import SourceTarget, Target
from gradcheck.internal.checking.worker_client import (
    DEFAULT_IMPORT_TIMEOUT,
    DEFAULT_TIME_LIMIT,
    WorkerProxy,
    load_answer,
    open_worker,
)
from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import CONSTANT_CHOICES
from gradcheck.internal.worker.protocol import unpack_floats

# Ops whose constants an engine may refuse on purpose (`__pow__` that takes
# integer exponents only): each is tried at detection, and the probes keep
# to the constants it accepts. leaky_relu's slope is measured instead.
REFUSABLE = {op: CONSTANT_CHOICES[op] for op in ("pow", "rpow")}

# The limit once an engine has hung: enough for any sane graph of the probes.
HUNG_TIME_LIMIT = 2.0


@dataclass
class Engine(WorkerProxy):
    """A loaded engine: what it supports, and the channel to its worker."""

    target: str
    supported: tuple[str, ...]
    unsupported: dict[str, str]
    broken: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)
    capabilities: dict[str, str] = field(default_factory=dict)
    # op -> the inputs beyond which it fails (measured range limits), one for
    # each side that fails: (710.2, -710.2) for tanh as a quotient of e^x.
    range_bounds: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # op -> the engine methods it calls: `-` built as self + (-other).
    built_from: dict[str, list[str]] = field(default_factory=dict)
    # The number leaky_relu's slope parameter defaults to, if it has one.
    slope_default: float | None = None
    # op -> what is wrong with its result: `.data` is itself a Value. The
    # worker reads the number inside, so its derivative is still judged.
    nested: dict[str, str] = field(default_factory=dict)
    # op -> (file, first line) of the engine method behind it, for annotations.
    defined_at: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    # Engine-wide causes already tested (`checking.hypotheses`), by name:
    # each costs a few runs, so it is tried once per engine.
    hypotheses: dict[str, Any] = field(default_factory=dict)
    api: dict[str, str] = field(default_factory=dict)
    # The contract as plain data (`worker.api.Api.spelling`): names for code
    # written in the engine's own API (`checking.reproduce`).
    spelling: dict[str, Any] = field(default_factory=dict)
    storage: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] | None = None
    file: str | None = None
    class_name: str = "Value"
    notes: list[str] = field(default_factory=list)
    isolated: bool = True
    time_limit: float = DEFAULT_TIME_LIMIT
    propagates: bool | None = field(default=None, repr=False)
    hung: bool = field(default=False, repr=False)
    # Ops that hung alone (a graph of that op only): later examples that use
    # them are not run, each would cost a whole deadline for nothing new.
    hung_ops: set[str] = field(default_factory=set, repr=False)
    channel: Any = field(default=None, repr=False)
    load_request: dict[str, Any] = field(default_factory=dict, repr=False)
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT
    # Constants measured from the engine, held to by the probes (leaky_relu's
    # slope); see `gradcheck.internal.checking.method_forms`.
    op_constants: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # op -> the constants it refuses on purpose and why (`x ** 0.5` for an
    # engine whose pow takes integers only); left out of `op_constants`.
    refused_constants: dict[str, str] = field(default_factory=dict)
    # Failing checks found while detecting forms (a gelu that is neither form).
    form_checks: list[Any] = field(default_factory=list)

    @property
    def limit(self) -> float:
        """Seconds one example may take now (short once the engine has hung)."""
        return min(self.time_limit, HUNG_TIME_LIMIT) if self.hung else self.time_limit

    @property
    def unit_roundoff(self) -> float:
        return float(self.storage.get("unit_roundoff", 2.0**-53))

    @property
    def output(self) -> list[str]:
        """The last lines the engine printed (captured, never on our stdout)."""
        worker = self.channel
        if isinstance(worker, Worker):
            return list(worker.output.lines)
        return []

    # -- requests ------------------------------------------------------------

    def run(
        self, graph: Graph, point: Mapping[str, float], backward: bool = True
    ) -> Run:
        """Build `graph` on the engine, backpropagate, read every gradient.

        Raises `EngineFault` when the engine raises, `WorkerCrash` when its
        worker dies or misses the deadline.
        """
        result = self.run_many([(graph, point, backward)])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def run_many(
        self,
        items: Sequence[tuple[Graph, Mapping[str, float], bool]],
        *,
        stop_at_crash: bool = False,
    ) -> list[Run | EngineFault | WorkerCrash]:
        """Several graphs in one request; a crash costs only its own item."""
        programs = [program(g, p, b) for g, p, b in items]
        return self.run_programs(programs, stop_at_crash=stop_at_crash)

    def run_programs(
        self,
        programs: Sequence[dict[str, Any]],
        deadline: float | None = None,
        *,
        stop_at_crash: bool = False,
    ) -> list[Run | EngineFault | WorkerCrash]:
        """Programs already in the worker's plain form (see `program`).

        `deadline`: seconds per program instead of the engine's `limit`, for
        programs known to take long (a 100,000-deep chain). `stop_at_crash`:
        answer nothing after a dead or hung worker (the list is then shorter),
        so that an engine that hangs on every example costs one deadline.
        """
        limit = self.limit if deadline is None else deadline
        return self._run_batches(
            "run", programs, limit, _as_result, stop_at_crash=stop_at_crash
        )

    def _crashed(self, failure: WorkerFailure) -> None:
        if failure.timeout:
            self.hung = True

    def detect(self) -> None:
        """Sort the ops into supported, unsupported and broken, and measure storage.

        Each op is one item under the per-request deadline (`limit`): an op
        that hangs or kills the worker is broken, as a crash finding that
        names it, and the worker is restarted for the next op.
        """
        from gradcheck.internal.worker.op_calls import SPELLING

        items: list[dict[str, Any]] = [{"kind": "mixed"}]
        items += [
            {"kind": "op", "op": op}
            | (
                {"constants": [_plain(c) for c in REFUSABLE[op]]}
                if op in REFUSABLE
                else {}
            )
            for op in SPELLING
        ]
        supported: list[str] = []
        for item, answer in zip(items, self._detect(items), strict=True):
            if item["kind"] == "mixed":
                if isinstance(answer, dict) and answer.get("capabilities"):
                    self.capabilities.update(answer["capabilities"])
                    self.api.update(answer.get("api", {}))
                continue
            op = item["op"]
            if isinstance(answer, WorkerFailure):
                self.broken[op] = _crash_in(op, answer)
                continue
            verdict = answer.get("verdict")
            if verdict == "supported":
                supported.append(op)
                if answer.get("built_from"):
                    self.built_from[op] = list(answer["built_from"])
                if answer.get("nested"):
                    self.nested[op] = str(answer["nested"])
                if isinstance(answer.get("slope_default"), (int, float)):
                    self.slope_default = float(answer["slope_default"])
                if answer.get("refused_constants"):
                    self._refused(op, answer["refused_constants"])
                where = answer.get("defined_at")
                if isinstance(where, dict):
                    line = where.get("line")
                    self.defined_at[op] = (
                        str(where["file"]),
                        int(line) if line is not None else None,
                    )
            elif verdict == "unsupported":
                self.unsupported[op] = str(answer["detail"])
            else:
                self.broken[op] = dict(answer.get("detail") or {})
        self.supported = tuple(supported)
        usable = [op for op in ("add", "mul") if op in supported]
        [answer] = self._detect([{"kind": "storage", "ops": usable}])
        if isinstance(answer, dict) and "storage" in answer:
            self.storage = dict(answer["storage"])
        else:
            self.storage = {"type": "unknown", "unit_roundoff": 2.0**-53}

    def _refused(self, op: str, refused: list[list[Any]]) -> None:
        """Constants the op refuses on purpose: the probes use the others.

        `x ** 0.5` on an engine whose `__pow__` takes integers only is a
        missing capability, like a missing op, not a crash.
        """
        out = {float(c) for c, _ in refused}
        kept = tuple(c for c in REFUSABLE[op] if c not in out)
        if not kept:
            return
        self.op_constants[op] = kept
        shown = ", ".join(f"{c:g}" for c in REFUSABLE[op] if c in out)
        self.refused_constants[op] = f"{shown}: {refused[0][1]}"
        self.notes.append(
            f"{op} refuses some constants, checked with the others only "
            f"(unsupported, not a crash): {self.refused_constants[op]}"
        )

    def _detect(
        self, items: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any] | WorkerFailure]:
        """The worker's answer to each detection item, or how it failed there."""
        answers: list[dict[str, Any] | WorkerFailure] = []
        while len(answers) < len(items):
            batch = list(items[len(answers) :])
            try:
                for answer in self._ask({"op": "detect", "items": batch}, self.limit):
                    if answer.get("done"):
                        if "error" in answer or "internal" in answer:
                            detail = answer.get("internal") or answer["error"]
                            raise EngineError(f"worker error: {detail}")
                        break
                    answers.append(answer)
                    if batch[answer["i"]]["kind"] == "mixed":
                        # A reload after a crash must wrap constants too.
                        wrap = bool(answer.get("capabilities"))
                        self.load_request["wrap_constants"] = wrap
            except WorkerFailure as failure:
                if failure.timeout:
                    self.hung = True
                answers.append(failure)
            if len(answers) < len(items) and not isinstance(
                answers[-1] if answers else None, WorkerFailure
            ):
                raise EngineError("the worker answered fewer items than it was sent")
        return answers

    def recipe(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run a state or nn probe in the worker: {'result'|'skip'|'error': ...}."""
        try:
            answers = list(
                self._ask(
                    {"op": "recipe", "name": name, "params": dict(params)}, self.limit
                )
            )
        except WorkerFailure as failure:
            if failure.timeout:
                self.hung = True
            return {
                "crash": WorkerCrash(failure.message, failure.phase, failure.timeout)
            }
        return answers[-1] if answers else {"skip": "no answer"}

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def program(
    graph: Graph, point: Mapping[str, float], backward: bool = True
) -> dict[str, Any]:
    """A graph and a point as the plain data the worker builds."""
    return {
        "nodes": [
            [n.op, list(n.args), _plain(n.constant), n.name] for n in graph.nodes
        ],
        "point": {k: float(v) for k, v in point.items()},
        "backward": backward,
    }


def _as_result(answer: Mapping[str, Any]) -> Run | EngineFault:
    if "error" in answer:
        return EngineFault(answer["error"])
    grads = unpack_floats(answer["grads"])
    missing = [False] * len(grads)
    for i in answer.get("missing", ()):
        missing[i] = True
    return Run(data=unpack_floats(answer["data"]), grads=grads, missing=missing)


def _crash_in(op: str, failure: WorkerFailure) -> dict[str, Any]:
    """An op whose detection hung or killed the worker, as a broken entry."""
    if failure.timeout:
        text = f"{op} did not answer within {_seconds(failure.message)}"
    else:
        text = f"the worker died in {op}: {failure.message}"
    return {
        "message": text,
        "type": "WorkerCrash",
        "where": None,
        "crash": True,
        "timeout": failure.timeout,
    }


def _seconds(message: str) -> str:
    """ "no answer within 2 s: killed" -> "2 s (killed)"."""
    found = message.partition("within ")[2]
    return found.replace(": killed", " (killed)") if found else message


def _plain(constant: float | None) -> Any:
    """Integral constants go to the engine as ints, as a user would write them."""
    if constant is None:
        return None
    if float(constant).is_integer() and abs(constant) < 2**53:
        return int(constant)
    return constant


def load_engine(
    target: Any = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT,
    *,
    import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    api: Mapping[str, str] | None = None,
    op_names: Mapping[str, str] | None = None,
    isolate: bool = True,
) -> Engine:
    """Load an engine in a fresh worker process.

    `target` is `path/to/file.py[:Class]`, `notebook.ipynb[:Class[@cell]]`,
    `package.module[:Class]`, a class, or `load_source(...)`.

    Raises `EngineError` with a one-line reason when the target cannot be
    loaded or its leaves cannot be built, read or backpropagated.
    """
    if isinstance(target, Engine):
        return target
    resolved, request, channel, isolated = open_worker(
        target, "load", memory_limit, api, op_names, isolate
    )
    try:
        answer, notes = load_answer(channel, request, resolved, import_timeout)
    except BaseException:
        channel.close()
        raise
    engine = Engine(
        target=resolved.shown,
        supported=(),
        unsupported={},
        not_checked=list(answer["not_checked"]),
        api=dict(answer["api"]),
        spelling=dict(answer.get("spelling") or {}),
        network=answer.get("network"),
        file=answer.get("file") or answer.get("module_file"),
        class_name=str(answer.get("class", "Value")),
        notes=[*notes, *answer.get("notes", []), *_built_in_named(resolved, answer)],
        isolated=isolated,
        time_limit=time_limit_s,
        channel=channel,
        load_request=request,
        import_timeout=import_timeout,
    )
    try:
        engine.detect()
    except BaseException:
        engine.close()
        raise
    from gradcheck.internal.expr.ops import (
        OPS,  # ops the references know; the rest wait
    )

    engine.supported = tuple(op for op in engine.supported if op in OPS)
    engine.unsupported = {k: v for k, v in engine.unsupported.items() if k in OPS}
    engine.broken = {k: v for k, v in engine.broken.items() if k in OPS}
    engine.nested = {k: v for k, v in engine.nested.items() if k in OPS}
    from gradcheck.internal.checking.method_forms import detect_forms

    try:
        detect_forms(engine)  # which gelu, which leaky_relu slope
    except BaseException:
        engine.close()
        raise
    return engine


def load_source(name: str, source: str) -> SourceTarget:
    """An engine given as source text (the mutant gallery uses this)."""
    return SourceTarget(name, source)


__all__ = [
    "DEFAULT_IMPORT_TIMEOUT",
    "DEFAULT_TIME_LIMIT",
    "Engine",
    "EngineFault",
    "Run",
    "SourceTarget",
    "WorkerCrash",
    "load_engine",
    "load_source",
    "program",
]


# gradcheck's own micrograd, installed beside it by the same wheel (or the
# checkout's, in an editable install).
_OWN_MICROGRAD = Path(__file__).resolve().parents[3] / "micrograd"


def _built_in_named(resolved: Target, answer: Mapping[str, Any]) -> list[str]:
    """A note when a file or module the user named is gradcheck's own micrograd.

    It has the package index's name, `micrograd`, so installing gradcheck
    where micrograd 0.1.0 was replaces it, and `micrograd.engine` then means
    the built-in engine: the note says so.
    """
    file = answer.get("file") or answer.get("module_file")
    if resolved.spec.get("kind") not in ("file", "module") or not file:
        return []
    try:  # the same bytes, wherever they lie (site-packages, a checkout)
        ours = (
            Path(str(file)).read_bytes() == (_OWN_MICROGRAD / "engine.py").read_bytes()
        )
    except OSError:
        return []
    if not ours:
        return []
    return [
        "this is gradcheck's own micrograd, the built-in engine: it has the name "
        "of the package index's micrograd, and installing gradcheck replaces that "
        "one in the same environment; to check micrograd 0.1.0, install it in "
        "another environment and name its engine.py"
    ]
