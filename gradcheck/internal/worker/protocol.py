"""Frames on a pipe: a 4-byte big-endian length, then UTF-8 JSON.

JSON and not pickle: the parent must never unpickle what an engine could
have written into the channel. Python's `json` keeps floats exact (repr
round-trips) and spells nan and inf, which engines do produce.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

MAX_FRAME = 1 << 30  # a frame above 1 GiB is garbage, not a result
_HEADER = struct.Struct(">I")
# Bound now: an engine that replaces json.dumps cannot change what we send.
_encode = json.JSONEncoder(allow_nan=True, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


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


def send(fd: int, message: Any) -> None:
    write_all(fd, encode(message))


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
