"""pytest plugin: `pytest --gradcheck-engine path/to/engine.py` checks an engine.

Each probe family of `gradcheck engine` becomes one test item,
`gradcheck[value]`, `gradcheck[local-derivative]`, ... `gradcheck[random-graphs]`.
Collection only names the items, the same for any engine; the engine is
loaded and checked in each item's `runtest`, so `--collect-only` runs
nothing, `-k` and `--lf` run only the chosen families, and each xdist worker
runs only its own items. The controller picks the seed and hands it to every
worker. Whether the engine is a tensor engine is decided when the first item
runs, by the command line's rule (`engine_kind`); a tensor engine's checks
then go to the item of their category.

Tests can also check engines with the `gradcheck_engine` fixture, set by
`@pytest.mark.gradcheck(engine=..., examples=..., seed=...)`. Options are
flags and ini keys (`gradcheck_engine`, a path from the ini file's folder,
`gradcheck_examples`, `gradcheck_seed`, `gradcheck_allow_inconclusive`);
the seed policy is `gradcheck.seeds`. See docs/plugin.md.

Light import: at start-up, only pytest, the standard library and three small
modules (seeds, family names, targets); the checker, SymPy, mpmath and
Hypothesis are imported inside `runtest`.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from gradcheck.errors import GradcheckError
from gradcheck.internal.checking.family_names import CHECK_FAMILIES, TENSOR_EXAMPLES
from gradcheck.internal.checking.targets import from_folder
from gradcheck.seeds import parse_seed, resolve_seed

if TYPE_CHECKING:
    from gradcheck.report import Check, EngineReport

DEFAULT_EXAMPLES = 100
# One item per family of checks, named at collection time (the tuple lives
# in a module that imports nothing, so collection imports no checker).
FAMILIES = CHECK_FAMILIES
CACHE_KEY = "gradcheck/seed"
MARKER = "gradcheck"

_SETTINGS = pytest.StashKey["Settings"]()
_FULL_REPORT = pytest.StashKey["EngineReport"]()
_LOAD_ERROR = pytest.StashKey[GradcheckError]()
_TENSOR_WHY = pytest.StashKey[tuple[str | None]]()


@dataclass(frozen=True)
class Settings:
    """The session's gradcheck options, resolved once in `pytest_configure`."""

    target: str | None
    examples: int
    seed: int
    allow_inconclusive: bool
    default_examples: bool = False  # examples not given: each kind's default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks of an autograd engine")
    group.addoption(
        "--gradcheck-engine",
        metavar="TARGET",
        default=None,
        help="check this engine (path/to/file.py[:Class] or package.module[:Class])",
    )
    group.addoption(
        "--gradcheck-examples",
        metavar="N",
        default=None,
        help=f"random graphs to try (default {DEFAULT_EXAMPLES})",
    )
    group.addoption(
        "--gradcheck-seed",
        metavar="N|last|random",
        default=None,
        help="seed of the checks: a number, 'last' (the previous run's) or "
        "'random' (default: random, 0 when CI is set)",
    )
    group.addoption(
        "--gradcheck-allow-inconclusive",
        action="store_true",
        default=None,
        help="pass a family whose examples were all inconclusive",
    )
    parser.addini("gradcheck_engine", "engine to check (like --gradcheck-engine)")
    parser.addini("gradcheck_examples", "random graphs (like --gradcheck-examples)")
    parser.addini("gradcheck_seed", "seed: N, last or random (like --gradcheck-seed)")
    parser.addini(
        "gradcheck_allow_inconclusive",
        "pass inconclusive families (like --gradcheck-allow-inconclusive)",
        type="bool",
        default=False,
    )


def _setting(config: pytest.Config, name: str) -> Any:
    """The flag's value, else the ini key's, else None."""
    value = config.getoption(f"--gradcheck-{name.replace('_', '-')}")
    if value is None:
        value = config.getini(f"gradcheck_{name}")
    return None if value in ("", None) else value


def _examples(value: Any, where: str) -> int:
    try:
        examples = int(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{where} must be a whole number: {value!r}") from None
    if examples < 0:
        raise pytest.UsageError(f"{where} must not be negative: {examples}")
    return examples


def _seed(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", None)
    if worker is not None and "gradcheck_seed" in worker:
        return int(worker["gradcheck_seed"])  # the controller's choice
    cache = getattr(config, "cache", None)
    last = cache.get(CACHE_KEY, None) if cache is not None else None
    try:
        given = parse_seed(_setting(config, "seed"))
        return resolve_seed(given, last=last if isinstance(last, int) else None)
    except GradcheckError as err:
        raise pytest.UsageError(f"gradcheck_seed: {err}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(engine=None, examples=None, seed=None): configure the "
        "gradcheck_engine fixture for this test",
    )
    target = _setting(config, "engine")
    if target and config.getoption("--gradcheck-engine") is None and config.inipath:
        target = from_folder(config.inipath.parent, str(target))
    examples = _setting(config, "examples")
    given = DEFAULT_EXAMPLES if examples is None else examples
    settings = Settings(
        target=str(target) if target is not None else None,
        examples=_examples(given, "gradcheck_examples"),
        seed=_seed(config),
        allow_inconclusive=bool(_setting(config, "allow_inconclusive")),
        default_examples=examples is None,
    )
    config.stash[_SETTINGS] = settings
    if settings.target is None:
        return
    path = engine_file(settings.target, config.invocation_params.dir)
    if _looks_like_path(settings.target) and (path is None or not path.is_file()):
        shown = path or settings.target
        raise pytest.UsageError(f"gradcheck: engine file not found: {shown}")
    cache = getattr(config, "cache", None)
    if cache is not None and not hasattr(config, "workerinput"):
        cache.set(CACHE_KEY, settings.seed)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the controller's seed to every worker."""
    settings = node.config.stash.get(_SETTINGS, None)
    if settings is not None:
        node.workerinput["gradcheck_seed"] = settings.seed


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or settings.target is None:
        return None
    return (
        f"gradcheck: engine {settings.target}, seed {settings.seed}, "
        f"examples {settings.examples} "
        f"(rerun with --gradcheck-seed={settings.seed})"
    )


# -- collection: names only ---------------------------------------------------


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --lf select among the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or settings.target is None:
        return
    path = engine_file(settings.target, config.invocation_params.dir)
    collector = GradcheckCollector.from_parent(
        session, name="gradcheck", nodeid="gradcheck"
    )
    ours = [
        GradcheckItem.from_parent(
            collector,
            name=f"gradcheck[{family}]",
            nodeid=f"gradcheck[{family}]",
            family=family,
            engine_path=path,
        )
        for family in FAMILIES
    ]
    # Reported like any collected module, so "collected N items" counts them.
    report = pytest.CollectReport(collector.nodeid, "passed", None, list(ours))
    config.hook.pytest_collectreport(report=report)
    for item in ours:
        config.hook.pytest_itemcollected(item=item)
    items.extend(ours)


class GradcheckCollector(pytest.Collector):
    """The parent of the family items; they are made by the hook above."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


def _looks_like_path(target: str) -> bool:
    spec = _spec(target)
    slash = "/" in spec or "\\" in spec
    return slash or spec.startswith((".", "~")) or spec.endswith((".py", ".ipynb"))


def _spec(target: str) -> str:
    """`target` without `:Class` or `:Class@cell` (a drive letter's colon stays)."""
    head, colon, tail = target.rpartition(":")
    name, at, cell = tail.partition("@")
    return (
        head if colon and name.isidentifier() and (not at or cell.isdigit()) else target
    )


def engine_file(target: str, base: Path) -> Path | None:
    """The engine's source file, found without importing it (None if unknown).

    A path is taken relative to `base`; a module name is looked up on
    `sys.path` as a file or a package's `__init__.py`.
    """
    spec = _spec(target)
    if _looks_like_path(target):
        path = Path(spec).expanduser()
        return path if path.is_absolute() else base / path
    parts = spec.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for entry in sys.path:
        root = Path(entry or base) / Path(*parts)
        for candidate in (root.with_suffix(".py"), root / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


# -- run time: the work ---------------------------------------------------------


def in_family(name: str, family: str) -> bool:
    """Whether check `name` (e.g. `local-derivative[tanh]`) belongs to `family`."""
    return name == family or name.startswith(f"{family}[")


def engine_kind(target: str) -> str | None:
    """Why `target` is a tensor engine, or None: the command line's rule.

    A class named `Tensor...`, or data that is an array whatever the class
    is called (`tensor_reason`, which loads the engine in a worker). Called
    at run time only: collection must start no worker.
    """
    from gradcheck.internal.tensor.engine import why_tensor

    return why_tensor(target)


def tensor_family(check: Check) -> str:
    """The item a tensor engine's check goes to: its category's family."""
    return check.category if check.category in FAMILIES else "value"


def _tensor_why(config: pytest.Config) -> str | None:
    """`engine_kind` of the session's engine, decided once per process."""
    if _TENSOR_WHY not in config.stash:
        target = config.stash[_SETTINGS].target
        config.stash[_TENSOR_WHY] = (engine_kind(target) if target else None,)
    return config.stash[_TENSOR_WHY][0]


def _accepts(check_engine: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(check_engine).parameters
    except (TypeError, ValueError):
        return False


def run_family(config: pytest.Config, family: str) -> list[Check]:
    """The checks of `family` on the session's engine.

    With a `check_engine` that takes `checks=`, only this family runs; an
    older one runs the whole check once per session and this picks from it,
    as it does from a tensor engine's check. Raises `GradcheckError` when the
    engine cannot be loaded (remembered, so later items fail at once).
    """
    from gradcheck.internal.checking import check

    # Typed loosely: `checks=` is newer than some checkers this may meet.
    check_engine: Callable[..., EngineReport] = check.check_engine
    settings = config.stash[_SETTINGS]
    if _LOAD_ERROR in config.stash:
        raise config.stash[_LOAD_ERROR]
    seed, examples = settings.seed, settings.examples
    try:
        if _tensor_why(config) is not None:
            if _FULL_REPORT not in config.stash:
                from gradcheck.internal.tensor import check_tensor_engine

                given = TENSOR_EXAMPLES if settings.default_examples else examples
                config.stash[_FULL_REPORT] = check_tensor_engine(
                    settings.target, seed=seed, examples=given
                )
            checks = config.stash[_FULL_REPORT].checks
            return [c for c in checks if tensor_family(c) == family]
        if _accepts(check_engine, "checks"):
            options: dict[str, Any] = {"checks": [family]}
            if _accepts(check_engine, "kind"):
                options["kind"] = "scalar"  # decided above, once
            report = check_engine(
                settings.target, seed=seed, examples=examples, **options
            )
        else:
            if _FULL_REPORT not in config.stash:
                config.stash[_FULL_REPORT] = check_engine(
                    settings.target, seed=seed, examples=examples
                )
            report = config.stash[_FULL_REPORT]
    except GradcheckError as err:
        config.stash[_LOAD_ERROR] = err
        raise
    return [c for c in report.checks if in_family(c.name, family)]


def _nothing_verified(check: Check) -> bool:
    from gradcheck.report import INCONCLUSIVE, PASS

    if check.status == INCONCLUSIVE:
        return True
    return check.status == PASS and 0 < check.examples == check.inconclusive


class GradcheckItem(pytest.Item):
    """One probe family of the engine check, run when the item runs."""

    def __init__(self, *, family: str, engine_path: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.family = family
        self.engine_path = engine_path

    def runtest(self) -> None:
        from gradcheck.internal.output.render import explain_check
        from gradcheck.internal.output.reproduce_text import reproduce_lines
        from gradcheck.report import FAIL, SKIP

        settings = self.config.stash[_SETTINGS]
        rerun = f"seed: {settings.seed} (rerun with --gradcheck-seed={settings.seed})"
        try:
            checks = run_family(self.config, self.family)
        except GradcheckError as err:
            pytest.fail(f"gradcheck: {err}", pytrace=False)
        failed = [c for c in checks if c.status == FAIL]
        if failed:
            text = "\n".join(
                "\n".join([explain_check(c), *reproduce_lines(c)]) for c in failed
            )
            pytest.fail(f"{text}\n{rerun}", pytrace=False)
        if not checks:
            why = _tensor_why(self.config)
            if why is not None:
                _skip(f"a tensor engine ({why}) has no {self.family} checks")
            _skip(f"no {self.family} check ran (examples={settings.examples})")
        if all(c.status == SKIP for c in checks):
            _skip("; ".join(sorted({c.message for c in checks})))
        unverified = [c for c in checks if _nothing_verified(c)]
        if unverified and not settings.allow_inconclusive:
            names = ", ".join(c.name for c in unverified)
            pytest.fail(
                f"INCONCLUSIVE {names}: every example was inconclusive, so "
                "nothing was verified (pass --gradcheck-allow-inconclusive "
                f"to accept this)\n{rerun}",
                pytrace=False,
            )

    def reportinfo(self) -> tuple[Path, int, str]:
        """The engine file, at its class: where a skip or failure is shown."""
        if self.engine_path is None:
            return self.path, 0, f"gradcheck[{self.family}]"
        line = class_line(self.engine_path, self.config.stash[_SETTINGS].target)
        return self.engine_path, line, f"gradcheck[{self.family}]"


def _skip(reason: str) -> NoReturn:
    """Skip, shown at the item's location (the engine), as pytest's skip marks do."""
    __tracebackhide__ = True
    skipped = pytest.skip.Exception(reason)
    skipped._use_item_location = True
    raise skipped


def class_line(path: Path, target: str | None) -> int:
    """The 0-based line of the target's class in a `.py` file, else 0 (read only)."""
    spec = _spec(target or "")
    name = (target or "")[len(spec) + 1 :].partition("@")[0] or "Value"
    try:
        text = path.read_text(encoding="utf-8") if path.suffix == ".py" else ""
    except (OSError, UnicodeDecodeError):
        return 0
    pattern = re.compile(rf"class\s+{re.escape(name)}\b")
    lines = text.splitlines()
    return next((i for i, line in enumerate(lines) if pattern.match(line)), 0)


# -- the fixture and the marker -----------------------------------------------


@dataclass(frozen=True)
class EngineUnderTest:
    """What the `gradcheck_engine` fixture gives a test: an engine to check."""

    target: Any  # a target string, a Value class or module, or None
    seed: int
    examples: int

    def check(self, **kwargs: Any) -> EngineReport:
        """`check_engine` on this engine; `kwargs` override seed and examples."""
        from gradcheck.internal.checking.check import check_engine

        options: dict[str, Any] = {"seed": self.seed, "examples": self.examples}
        options.update(kwargs)
        return check_engine(self.target, **options)


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(
            f"{node.nodeid}: use @pytest.mark.gradcheck(engine=...) with keywords"
        )
    unknown = sorted(set(marker.kwargs) - {"engine", "examples", "seed"})
    if unknown:
        raise pytest.UsageError(
            f"{node.nodeid}: unknown gradcheck marker option(s): {', '.join(unknown)}"
        )
    return dict(marker.kwargs)


@pytest.fixture
def gradcheck_engine(request: pytest.FixtureRequest) -> EngineUnderTest:
    """The engine to check: the marker's, else --gradcheck-engine's.

    With neither, the target is None, which `check_engine` reads as the
    built-in micrograd. Seed and examples default to the session's.
    """
    settings = request.config.stash[_SETTINGS]
    options = _marker_options(request.node)
    seed = settings.seed
    if options.get("seed") is not None:
        try:
            seed = resolve_seed(options["seed"], last=settings.seed)
        except GradcheckError as err:
            raise pytest.UsageError(f"gradcheck marker: {err}") from None
    examples = settings.examples
    if options.get("examples") is not None:
        examples = _examples(options["examples"], "gradcheck marker examples")
    target = options.get("engine", settings.target)
    return EngineUnderTest(
        target=str(target) if isinstance(target, Path) else target,
        seed=seed,
        examples=examples,
    )


__all__ = [
    "FAMILIES",
    "EngineUnderTest",
    "GradcheckItem",
    "class_line",
    "engine_file",
    "engine_kind",
    "in_family",
    "run_family",
    "tensor_family",
]
