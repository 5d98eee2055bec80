"""The probes' references, computed ahead of time and shipped with the package.

Every engine run asks for the same references first: each op alone at the
spread points, the reuse and accumulation graphs, the deep chain. They do
not depend on the engine or the seed, and computing them was a third of a
run's fixed cost. `checking/probe_table.py` computes them with the code a
run uses (`references.reference`) and writes them to `TABLE`; a test
recomputes every entry and compares it bit for bit, so a change to a rule,
an op or a reference that moves any number fails until the table is written
again.

A run takes an entry only at float64 with margins, and only for a graph
whose ops are all the built-in table's own (`expr.ops.BUILT_IN`): under
`--op-def` the same name can mean another function. Anything not in the
table, or a table that does not load, is computed as before.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import mpmath
from mpmath.libmp import BACKEND, MPZ

from gradcheck.internal.expr.graph import Graph
from gradcheck.internal.expr.ops import BUILT_IN, OPS
from gradcheck.internal.refs.numeric import NumericResult
from gradcheck.internal.refs.symbolic import SymbolicResult
from gradcheck.internal.refs.tolerance import UNIT, Bounds

TABLE = Path(__file__).with_name("probe_references.bin")
# Bump when the layout of an entry changes: an older file is then ignored.
FORMAT = 2
# marshal, not JSON or pickle: the table is plain tuples of ints, floats and
# strings that this package wrote itself, and marshal reads its ~2 MB in a few
# milliseconds (JSON took 20 times longer to turn back into mpf numbers);
# unlike pickle it can build no object but those. A SHA-256 of the payload
# guards against a damaged file. The version argument fixes the format across
# the Pythons we support.
_MARSHAL_VERSION = 4
# The lazy blobs are compared as bytes (a test recomputes every entry): version
# 2 writes no back-references, whose use follows the objects' reference
# counts, so the same numbers always give the same bytes.
_BLOB_VERSION = 2

Key = tuple[tuple[tuple[Any, ...], ...], tuple[tuple[str, float], ...]]
# symbolic, numeric, bounds, magnitudes, disagreement, floats: a `Reference`
# without its graph and point.
Parts = tuple[
    SymbolicResult, NumericResult, Bounds, list[float], str | None, list[float]
]
_enabled = [True]


def lookup(
    graph: Graph,
    point: tuple[tuple[str, float], ...],
    unit_roundoff: float,
    margins: bool,
) -> Parts | None:
    """The shipped reference's parts for this graph and point, or None."""
    if not (_enabled[0] and margins and unit_roundoff == UNIT):
        return None
    entries, sizes = _table()
    if len(graph.nodes) not in sizes:
        return None
    for name in graph.ops_used():
        if OPS.get(name) is not BUILT_IN.get(name):  # declared anew (--op-def)
            return None
    entry = entries.get((nodes_key(graph), point))
    return None if entry is None else decode(entry)


def nodes_key(graph: Graph) -> tuple[tuple[Any, ...], ...]:
    """The graph as plain data: what the table is keyed by."""
    return tuple((n.op, n.args, n.constant, n.name) for n in graph.nodes)


def use(enabled: bool) -> None:
    """Turn the table on or off (off: every reference is computed; the
    generator and its test need that)."""
    _enabled[0] = enabled


@cache
def _table() -> tuple[dict[Key, tuple[Any, ...]], frozenset[int]]:
    entries = read(TABLE)
    return entries, frozenset(len(nodes) for nodes, _ in entries)


def read(path: Path) -> dict[Key, tuple[Any, ...]]:
    """The entries of a table file; none when it is missing, damaged or old."""
    try:
        data = path.read_bytes()
        digest, payload = data[:32], data[32:]
        if hashlib.sha256(payload).digest() != digest:
            return {}
        version, entries = marshal.loads(payload)
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if version != FORMAT or not isinstance(entries, dict):
        return {}
    return entries


def write(path: Path, entries: Mapping[Key, tuple[Any, ...]]) -> None:
    """Write a table file (sorted, so the same entries give the same bytes)."""
    payload = marshal.dumps((FORMAT, dict(sorted(entries.items()))), _MARSHAL_VERSION)
    path.write_bytes(hashlib.sha256(payload).digest() + payload)
    _table.cache_clear()


def encode(parts: Parts) -> tuple[Any, ...] | None:
    """A reference's parts as plain data; None if a number is not a real mpf.

    The symbolic values, partials, adjoints and second partials go as one
    marshal blob, read only when something asks for them (`_Symbolic`): a
    passing verdict reads the floats, the bounds and the variables'
    gradients, and turning every number of the table back into an mpf was
    half the table's cost in a run.
    """
    sym, num, bounds, magnitudes, disagreement, floats = parts
    try:
        lazy = (
            _reals(sym.values),
            tuple(_reals(row) for row in sym.partials),
            _reals(sym.adjoints),
            tuple(tuple(_reals(row) for row in node) for node in sym.seconds),
        )
        return (
            marshal.dumps(lazy, _BLOB_VERSION),
            tuple((name, _real(g)) for name, g in sym.gradients.items()),
            _real(num.value),
            tuple((name, _real(g)) for name, g in num.gradients.items()),
            tuple(bounds.value),
            tuple(bounds.grad),
            bounds.unit_roundoff,
            bounds.floor,
            tuple(magnitudes),
            disagreement,
            tuple(floats),
        )
    except TypeError:
        return None


def decode(entry: tuple[Any, ...]) -> Parts:
    """The parts `encode` wrote, as a computed reference has them."""
    make = _maker()
    (lazy, gradients, value, numeric_gradients, bound_value, bound_grad, unit,
     floor, magnitudes, disagreement, floats) = entry  # fmt: skip
    sym = _Symbolic(lazy, {name: make(g) for name, g in gradients})
    num = NumericResult(make(value), {name: make(g) for name, g in numeric_gradients})
    bounds = Bounds(list(bound_value), list(bound_grad), unit, floor)
    return sym, num, bounds, list(magnitudes), disagreement, list(floats)


class _Symbolic(SymbolicResult):
    """A shipped symbolic result whose per-node numbers are made on first use.

    Equal to, and read like, the computed one: `values`, `partials`,
    `adjoints` and `seconds` are decoded together the first time one of them
    is read (a failure's diagnosis); until then only the gradients exist.
    """

    _LAZY = frozenset({"values", "partials", "adjoints", "seconds"})

    def __init__(self, lazy: bytes, gradients: dict[str, Any]) -> None:
        self._lazy = lazy
        self.gradients = gradients

    def __getattr__(self, name: str) -> Any:
        if name not in _Symbolic._LAZY or "_lazy" not in self.__dict__:
            raise AttributeError(name)
        make = _maker()
        values, partials, adjoints, seconds = marshal.loads(self.__dict__["_lazy"])
        self.values = [make(v) for v in values]
        self.partials = [tuple([make(p) for p in row]) for row in partials]
        self.adjoints = [make(a) for a in adjoints]
        self.seconds = [
            tuple([tuple([make(s) for s in row]) for row in node]) for node in seconds
        ]
        return getattr(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SymbolicResult):
            return NotImplemented
        fields = ("values", "partials", "adjoints", "gradients", "seconds")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    __hash__ = None  # type: ignore[assignment]  # as the dataclass's: mutable


def _maker() -> Any:
    """mpf from the stored (sign, mantissa, exponent, bits)."""
    if BACKEND != "python":  # mpmath on gmpy keeps mantissas as its own mpz
        return _gmpy_make
    return mpmath.mp.make_mpf


def _gmpy_make(t: tuple[int, int, int, int]) -> Any:
    return mpmath.mp.make_mpf((t[0], MPZ(t[1]), t[2], t[3]))


def _real(x: Any) -> tuple[int, int, int, int]:
    if type(x) is not mpmath.mpf:
        raise TypeError(f"not a real mpf: {x!r}")
    sign, man, exp, bc = x._mpf_
    return sign, int(man), exp, bc  # int: marshal cannot write gmpy's mpz


def _reals(xs: Iterable[Any]) -> tuple[tuple[int, int, int, int], ...]:
    return tuple(_real(x) for x in xs)
