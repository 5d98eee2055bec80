"""Frames on a pipe: a 4-byte big-endian length, then UTF-8 JSON.

JSON and not pickle: the parent must never unpickle what an engine could
have written into the channel. Python's `json` keeps floats exact (repr
round-trips) and spells nan and inf, which engines do produce.

The many floats of a run's answer (a value and a gradient per node) go as
one string: the 8-byte doubles in base64 (`pack_floats`). Exact, nan and
inf included, like JSON's own spelling, and plain bytes, never code; but
writing and parsing the decimal repr of each float cost more than running
a small graph on most engines.
"""

from __future__ import annotations

import binascii
import json
import os
import struct
from array import array
from typing import Any

MAX_FRAME = 1 << 30  # a frame above 1 GiB is garbage, not a result
_HEADER = struct.Struct(">I")
# Bound now: an engine that replaces json.dumps cannot change what we send.
_encode = json.JSONEncoder(allow_nan=True, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode
# base64 without the `base64` module's Python layer (one call per answer).
_b2a, _a2b = binascii.b2a_base64, binascii.a2b_base64


class ChannelClosed(EOFError):
    """The other end closed the pipe (or died)."""


class BadFrame(ValueError):
    """A frame that is not a length-prefixed JSON document."""


def encode(message: Any) -> bytes:
    body = _encode(message).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    try:
        return _decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadFrame(f"not a JSON frame: {err}") from None


def pack_floats(values: list[float]) -> str:
    """Floats as one ASCII string (the worker's side); see `unpack_floats`.

    In the machine's byte order: both ends of the channel run on one machine.
    """
    return _b2a(array("d", values).tobytes(), newline=False).decode("ascii")


def unpack_floats(text: str) -> list[float]:
    """The floats of `pack_floats`; `BadFrame` for what cannot be decoded."""
    try:
        raw = _a2b(text)
    except (TypeError, ValueError) as err:  # binascii.Error is a ValueError
        raise BadFrame(f"not packed floats: {err}") from None
    if len(raw) % 8:
        raise BadFrame(f"packed floats of {len(raw)} bytes")
    floats = array("d")
    floats.frombytes(raw)
    return floats.tolist()


def write_all(fd: int, data: bytes) -> None:
    """Blocking write of every byte (the worker's side)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exact(fd: int, size: int) -> bytes:
    """Blocking read of exactly `size` bytes (the worker's side)."""
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise ChannelClosed("channel closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> Any:
    (size,) = _HEADER.unpack(read_exact(fd, _HEADER.size))
    if size > MAX_FRAME:
        raise BadFrame(f"frame of {size} bytes")
    return decode(read_exact(fd, size))


class FrameReader:
    """Incremental frames from bytes read without blocking (the parent's side)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)

    def frames(self) -> list[Any]:
        out = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise BadFrame(f"frame of {size} bytes")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            out.append(decode(bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return out
