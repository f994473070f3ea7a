"""``lenprefix``: byte-string messages behind an unsigned length prefix (Erlang's ``{packet,N}``)."""

from __future__ import annotations

import struct
from typing import Any

from ..errors import EncodeError, FrameTooLarge, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder, check_option

__all__ = ["LenPrefixCodec"]

_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_ORDERS = {"big": ">", "little": "<"}
_STREAMED = 1 << 16  # payloads still missing more than this are collected as pieces


class LenPrefixDecoder(Decoder[bytes]):
    """Reads a prefix, then waits for exactly that many bytes; linear in bytes fed.

    Between calls it holds either a short tail (a partial prefix or a payload that
    is nearly whole) or, for a large payload, the pieces received so far, joined
    once when the payload is whole.
    """

    __slots__ = ("_error", "_have", "_max", "_need", "_parts", "_tail", "_unpack", "_width")

    def __init__(self, header: struct.Struct, max_frame: int) -> None:
        self._tail = b""  # bytes after the last whole frame (a partial prefix or payload)
        self._need = -1  # payload length once the prefix of the frame in ``_parts`` is read
        self._parts: list[bytes] = []  # a large payload arriving in pieces, joined once whole
        self._have = 0
        self._unpack = header.unpack_from
        self._width = header.size
        self._max = max_frame
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        return len(self._tail) + self._have + (self._width if self._parts else 0)

    def feed(self, data: bytes) -> list[bytes]:
        if self._parts:  # inside a large payload: the hot loop of a big frame in small chunks
            rest = self._need - self._have
            if len(data) < rest:
                self._parts.append(data)
                self._have += len(data)
                return []
            return self._finish_part(data, rest)
        if self._error is not None:
            raise self._error.again()
        src = self._tail + data if self._tail else data
        unpack, width, end = self._unpack, self._width, len(src)
        out: list[bytes] = []
        pos = 0
        while end - pos >= width:
            need = unpack(src, pos)[0]
            if need > self._max:
                self._tail = b""
                self._error = FrameTooLarge(
                    f"codec 'lenprefix': the prefix announces a frame of {need} bytes; max_frame is {self._max}",
                    excerpt=excerpt_of(src[pos : pos + 64]),
                    size=need,
                    limit=self._max,
                )
                self._error.messages = out
                raise self._error
            start = pos + width
            if end - start < need:
                if need - (end - start) > _STREAMED:  # large and far from whole: collect pieces
                    self._parts = [src[start:]]
                    self._have = end - start
                    self._need = need
                    self._tail = b""
                    return out
                break
            pos = start + need
            out.append(src[start:pos])
        self._tail = src[pos:] if pos < end else b""
        return out

    def _finish_part(self, data: bytes, rest: int) -> list[bytes]:
        """Complete a large payload with the first ``rest`` bytes of ``data``: one join, one copy."""
        self._parts.append(data[:rest])
        frame = b"".join(self._parts)
        self._parts = []
        self._have = 0
        self._need = -1
        try:
            more = self.feed(data[rest:]) if len(data) > rest else []
        except ProtocolError as err:
            err.messages = [frame, *err.messages]
            raise
        return [frame, *more]


class LenPrefixCodec(Codec[bytes]):
    """Length-prefixed bytes. Options: ``width`` (1, 2, 4, 8; default 4),
    ``byteorder`` (``big`` or ``little``; default big), ``max_frame``."""

    name = "lenprefix"
    kind = "bytes"

    def __init__(self, *, width: int = 4, byteorder: str = "big", max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame=max_frame)
        check_option(self.name, "width", width, int, allowed=tuple(_FORMATS))
        check_option(self.name, "byteorder", byteorder, str, allowed=tuple(_ORDERS))
        self.width = width
        self.byteorder = byteorder
        self._header = struct.Struct(_ORDERS[byteorder] + _FORMATS[width])
        self._limit = min(max_frame, 2 ** (8 * width) - 1)

    def options(self) -> dict[str, Any]:
        return {"width": self.width, "byteorder": self.byteorder, **super().options()}

    def encode(self, message: bytes) -> bytes:
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise EncodeError(f"codec 'lenprefix' sends bytes messages, got {type(message).__name__}")
        size = len(message) if not isinstance(message, memoryview) else message.nbytes
        if size > self._limit:
            why = (
                f"max_frame={self.max_frame}"
                if size > self.max_frame
                else f"the largest length a {self.width}-byte prefix holds ({2 ** (8 * self.width) - 1})"
            )
            raise EncodeError(f"codec 'lenprefix': message of {size} bytes exceeds {why}")
        return self._header.pack(size) + message

    def decoder(self) -> Decoder[bytes]:
        return LenPrefixDecoder(self._header, self.max_frame)
