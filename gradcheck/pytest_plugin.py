"""pytest plugin: `pytest --gradcheck-engine path/to/engine.py` checks an engine.

Every check of `gradcheck engine` becomes one test item, `gradcheck::<check>`,
failing with the command line's explanation. The engine is checked once per
session (once per xdist worker), when the items are collected. Item names
depend only on the engine's supported ops, never on results, and every
xdist worker gets the controller's seed, so all workers collect the same
items. Options exist as flags and as ini keys (`gradcheck_engine`,
`gradcheck_examples`, `gradcheck_seed`).

This module imports nothing from gradcheck at start-up: without
`--gradcheck-engine` it costs pytest nothing.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gradcheck.report import Check, EngineReport

DEFAULT_EXAMPLES = 100
_SEED = pytest.StashKey[int]()
_REPORT = pytest.StashKey["EngineReport"]()


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
        type=int,
        default=None,
        help=f"random graphs to try (default {DEFAULT_EXAMPLES})",
    )
    group.addoption(
        "--gradcheck-seed",
        metavar="S",
        type=int,
        default=None,
        help="seed of the engine check (default: random, 0 when CI is set)",
    )
    parser.addini("gradcheck_engine", "engine to check (like --gradcheck-engine)")
    parser.addini("gradcheck_examples", "random graphs (like --gradcheck-examples)")
    parser.addini("gradcheck_seed", "seed (like --gradcheck-seed)")


def _setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"--gradcheck-{name}")
    if value is None:
        value = config.getini(f"gradcheck_{name}") or None
    return value


def _engine(config: pytest.Config) -> str | None:
    value = _setting(config, "engine")
    return str(value) if value else None


def _int(config: pytest.Config, name: str) -> int | None:
    value = _setting(config, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(
            f"gradcheck_{name} must be a whole number: {value!r}"
        ) from None


def pytest_configure(config: pytest.Config) -> None:
    if _engine(config) is None:
        return
    worker = getattr(config, "workerinput", None)
    seed = _int(config, "seed")
    if worker is not None and "gradcheck_seed" in worker:
        seed = int(worker["gradcheck_seed"])  # the controller's choice
    elif seed is None:
        seed = 0 if os.environ.get("CI") else random.SystemRandom().randrange(2**31)
    config.stash[_SEED] = seed


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the controller's seed to every worker."""
    config = node.config
    if _SEED in config.stash:
        node.workerinput["gradcheck_seed"] = config.stash[_SEED]


def pytest_report_header(config: pytest.Config) -> str | None:
    target = _engine(config)
    if target is None:
        return None
    examples = _int(config, "examples")
    examples = DEFAULT_EXAMPLES if examples is None else examples
    seed = config.stash.get(_SEED, None)
    return (
        f"gradcheck: engine={target}, seed={seed}, examples={examples} "
        f"(rerun with --gradcheck-seed={seed})"
    )


def _report(config: pytest.Config) -> EngineReport:
    if _REPORT not in config.stash:
        from gradcheck.checking.check import check_engine
        from gradcheck.errors import GradcheckError

        examples = _int(config, "examples")
        try:
            config.stash[_REPORT] = check_engine(
                _engine(config),
                examples=DEFAULT_EXAMPLES if examples is None else examples,
                seed=config.stash[_SEED],
            )
        except GradcheckError as err:
            raise pytest.UsageError(f"gradcheck: {err}") from err
    return config.stash[_REPORT]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _engine(config) is None:
        return
    report = _report(config)
    collector = GradcheckCollector.from_parent(
        session, name="gradcheck", nodeid="gradcheck"
    )
    items.extend(
        GradcheckItem.from_parent(collector, name=check.name, check=check)
        for check in report.checks
    )


class GradcheckCollector(pytest.Collector):
    """The parent of the engine's check items."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class GradcheckFailure(Exception):
    """A failing engine check; its text is the command line's explanation."""


class GradcheckItem(pytest.Item):
    """One check of the engine report."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        if self.check.status == "skip":
            pytest.skip(self.check.message or "skipped")
        if self.check.status == "fail":
            raise GradcheckFailure(self.check.name)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, GradcheckFailure):
            from gradcheck.output.render import explain_check

            seed = self.config.stash.get(_SEED, None)
            return (
                explain_check(self.check)
                + f"\nseed: {seed} (rerun with --gradcheck-seed={seed})"
            )
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"gradcheck::{self.name}"
