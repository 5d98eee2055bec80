"""The worker's session: the loaded engine, and the table of request handlers.

`serve` fills the table with the scalar handlers; `worker/tensor.py`
registers the tensor ones when a tensor request first arrives. Both import
this module, never each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gradcheck.internal.worker.api import Api

LOADING, RECIPE, DETECT = 1, 5, 6


@dataclass
class Session:
    """The loaded engine and the status page the parent reads after a crash."""

    mark_page: Callable[[int, int], None] = lambda item, phase: None
    cls: type | None = None
    api: Api | None = None
    module: Any = None
    item: int = 0
    # Bytes of resident memory below which a large program's garbage is set
    # aside rather than freed (`runner.set_aside_garbage`); 0: always freed.
    garbage_ceiling: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def mark(self, phase: int) -> None:
        self.mark_page(self.item, phase)


Handler = Callable[[Session, dict[str, Any]], Iterator[dict[str, Any]]]


# Request op -> its handler.
HANDLERS: dict[str, Handler] = {}
