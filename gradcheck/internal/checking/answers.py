"""What the worker answers for one graph run, as the checker's objects.

A run gives per-node values and gradients (`Run`), the engine's exception as
plain data (`EngineFault`), or a worker that died or hung (`WorkerCrash`).
Kept apart from the worker client (`engine_client.py`) so that modules judging
answers need not import the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class EngineFault(Exception):
    """The engine raised while running a graph; plain data from the worker."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        self.type_name = str(error.get("type", "Exception"))
        self.text = str(error.get("message", self.type_name))
        self.where: dict[str, Any] | None = error.get("where")
        self.phase = str(error.get("phase", ""))
        self.cause: str | None = error.get("cause")
        super().__init__(self.text)

    @property
    def location(self) -> str:
        if not self.where:
            return ""
        return f"{self.where['file']}:{self.where['line']} in {self.where['function']}"


class WorkerCrash(Exception):
    """The worker died or was killed on its deadline while running a graph."""

    def __init__(self, message: str, phase: str, timeout: bool) -> None:
        super().__init__(message)
        self.message = message
        self.phase = phase
        self.timeout = timeout


@dataclass
class Run:
    """One graph run on an engine: per-node values and gradients."""

    data: list[float]
    grads: list[float]
    # Nodes whose gradient the engine does not keep (None), counted as 0 above.
    missing: list[bool] = field(default_factory=list)
