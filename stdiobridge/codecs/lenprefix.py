"""``lenprefix``: byte-string messages behind an unsigned length prefix (Erlang's ``{packet,N}``)."""

from __future__ import annotations

import struct
from typing import Any

from ..errors import DecodeError, EncodeError, FrameTooLarge, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder, InPlace, Pieces, check_option

__all__ = ["LenPrefixCodec", "LenPrefixDecoder"]

_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_ORDERS = {"big": ">", "little": "<"}
_PARTS = 1 << 16  # encode_parts: a payload this large is written in place (copying it costs more than a writev)
_LEND = 1 << 16  # get_buffer: lent for a payload with this much still to come (less: plain reads cost less)
_TEXT = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}  # printable ASCII, tab, LF, CR


def _oversize(head: bytes, size: int, limit: int, width: int) -> FrameTooLarge:
    """The error for a prefix announcing more than ``limit``; a prefix of text is most likely a log line."""
    shown = excerpt_of(head)
    if width > 1 and all(b in _TEXT for b in head[:width]):
        text = (
            f"codec 'lenprefix': the child wrote text where a length prefix belongs: {shown!r} "
            f"(read as a frame of {size} bytes; max_frame is {limit}). "
            "Is the child printing logs to stdout? Logs belong on stderr."
        )
    else:
        text = f"codec 'lenprefix': the prefix announces a frame of {size} bytes; max_frame is {limit}"
    return FrameTooLarge(text, excerpt=shown, size=size, limit=limit)


class LenPrefixDecoder(Decoder[Any]):
    """Reads a prefix, then waits for exactly that many bytes; linear in bytes fed.

    Between calls it holds a partial prefix (fewer than ``width`` bytes) or the
    payload received so far of one frame (as ``Pieces``: about its own size in
    memory, however small the chunks), joined once when the payload is whole.
    With ``tag`` (tagged mode), every payload starts with a 4-byte request id and
    messages are ``(id, bytes)`` pairs.

    A reader may instead read the rest of a big payload straight into place (``get_buffer``): the
    payload is then one buffer of its whole size, which becomes the message without a copy.
    """

    __slots__ = ("_got", "_ident", "_into", "_max", "_need", "_pieces", "_prefix", "_tag", "_unpack", "_width")

    def __init__(self, header: struct.Struct, max_frame: int, tag: struct.Struct | None = None) -> None:
        self._prefix = b""  # a partial prefix
        self._need = -1  # payload length of the frame in ``_pieces``, once its prefix is read
        self._pieces = Pieces()
        self._unpack = header.unpack_from
        self._width = header.size
        self._max = max_frame
        self._tag = tag.unpack_from if tag is not None else None
        # Once a buffer is lent: the payload (the message, after the id when tagged) being read into place,
        # the bytes of the payload received so far (id included) and the id.
        self._into: InPlace | None = None
        self._got = 0
        self._ident = 0

    @property
    def buffered(self) -> int:
        if self._need < 0:
            return len(self._prefix)
        return self._width + (self._got if self._into is not None else self._pieces.held)

    def get_buffer(self) -> memoryview | None:
        """The rest of the current payload, once at least 64 KiB of it are still to come, else ``None``.
        Its whole buffer is allocated then: as much as the prefix announced, at most ``max_frame``."""
        into = self._into
        if into is None:
            if self._need < 0 or self._need - self._pieces.held < _LEND:
                return None
            into = self._lend()
            if into is None:
                return None
        return into.view[self._got - (4 if self._tag else 0) :]

    def _lend(self) -> InPlace | None:
        """Move the payload received so far into a buffer of the payload's size; ``None`` (tagged) while
        its id is not in yet or is 0 (which ``feed`` reports as it completes)."""
        pieces = self._pieces
        skip = 0
        if self._tag is not None:
            if pieces.held < 4 or not (ident := self._tag(pieces.head(4))[0]):
                return None
            self._ident = ident
            skip = 4
        self._got = pieces.held
        self._into = InPlace(pieces.join(skip=skip), self._need - skip)
        return self._into

    def buffer_updated(self, nbytes: int) -> list[Any]:
        self._got += nbytes
        return [self._done()] if self._got >= self._need else []

    def _done(self) -> Any:
        """The message read into place, as ``bytes``."""
        assert self._into is not None
        message = self._into.take()
        self._into = None
        self._need = -1
        self._got = 0
        return message if self._tag is None else (self._ident, message)

    def feed(self, data: bytes) -> list[Any]:
        need = self._need
        if need >= 0:  # inside a payload
            if self._into is None and len(data) < need - self._pieces.held:  # the hot loop of a big frame
                self._pieces.append(data)  # in small chunks
                return []
            return self._payload(data)
        width = self._width
        if not self._prefix and len(data) > width:
            # Fast path: the chunk is exactly one frame, the usual request/response case.
            size = self._unpack(data)[0]
            if size == len(data) - width and size <= self._max:
                tag = self._tag
                if tag is None:
                    return [data[width:]]
                if size >= 4 and (ident := tag(data, width)[0]):  # else ``_emit`` below says why it is not tagged
                    return [(ident, data[width + 4 :])]
        out: list[Any] = []
        if self._prefix:
            missing = self._width - len(self._prefix)
            if len(data) < missing:
                self._prefix += data
                return out
            head = self._prefix + data[:missing]
            self._prefix = b""
            return self._frames(head + data[missing:], out)  # copies one chunk, once per partial prefix
        return self._frames(data, out)

    def _payload(self, data: bytes) -> list[Any]:
        """``feed`` inside a payload: the chunk that ends it (or any chunk, once the payload is lent to a
        reader), then the frames after it."""
        out: list[Any] = []
        end = len(data)
        if self._into is not None:  # a payload lent to a reader (get_buffer), fed bytes after all: copied in
            take = min(end, self._need - self._got)
            start = self._got - (4 if self._tag else 0)
            self._into.view[start : start + take] = data if take == end else memoryview(data)[:take]
            self._got += take
            if self._got < self._need:
                return out
            out.append(self._done())
            pos = take
        else:  # (``feed`` kept the chunks before this one)
            pieces = self._pieces
            rest = self._need - pieces.held
            last = memoryview(data)[:rest]
            if self._tag is None:
                out.append(pieces.join(last))
            elif self._need >= 4 and pieces.held >= 4 and self._tag(pieces.head(4))[0]:
                out.append((self._tag(pieces.head(4))[0], pieces.join(last, skip=4)))  # no second copy
            else:
                self._emit(pieces.join(last), 0, self._need, out)  # checks the id (and raises when bad)
            self._need = -1
            pos = rest
        if pos == end:
            return out
        return self._frames(data[pos:], out)

    def _frames(self, src: bytes, out: list[Any]) -> list[Any]:
        """Cut the frames of ``src``, which starts on a frame boundary; keep what is left of it."""
        unpack, width, end, tag = self._unpack, self._width, len(src), self._tag
        pos = 0
        while end - pos >= width:
            need = unpack(src, pos)[0]
            if need > self._max:
                err = _oversize(src[pos : pos + 64], need, self._max, width)
                err.messages = out
                raise err
            start = pos + width
            if end - start < need:
                self._need = need
                self._pieces.append(memoryview(src)[start:])  # no copy: Pieces keeps views of bytes
                return out
            pos = start + need
            if tag is None:
                out.append(src[start:pos])
            elif need >= 4 and (ident := tag(src, start)[0]):  # ``_emit`` inlined for a good frame
                out.append((ident, src[start + 4 : pos]))
            else:
                self._emit(src, start, need, out)  # raises
        if pos < end:
            self._prefix = src[pos:]
        return out

    def _emit(self, src: bytes, start: int, size: int, out: list[Any]) -> None:
        """Append the ``(id, message)`` of the tagged payload ``src[start:start + size]``, or raise."""
        assert self._tag is not None
        ident = self._tag(src, start)[0] if size >= 4 else 0
        if not ident:
            payload = src[start : start + size]
            why = "shorter than the 4-byte request id" if size < 4 else "request id 0"
            err: ProtocolError = DecodeError(
                f"codec 'lenprefix' (tagged): not a tagged frame (payload {why}): {excerpt_of(payload)!r}. "
                "Does the child run in tagged mode (STDIOBRIDGE_TAGGED=1)?",
                excerpt=excerpt_of(payload),
            )
            err.messages = out
            raise err
        out.append((ident, src[start + 4 : start + size]))


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

    def check_size(self, size: int) -> None:
        """Refuse a payload of ``size`` bytes that the prefix or ``max_frame`` cannot hold."""
        if size > self._limit:
            why = (
                f"max_frame={self.max_frame}"
                if size > self.max_frame
                else f"the largest length a {self.width}-byte prefix holds ({2 ** (8 * self.width) - 1})"
            )
            raise EncodeError(f"codec 'lenprefix': message of {size} bytes exceeds {why}")

    def encode(self, message: bytes) -> bytes:
        if type(message) is bytes and len(message) <= self._limit:  # the usual case, in fewer steps
            return self._header.pack(len(message)) + message
        if not isinstance(message, (bytes, bytearray, memoryview)):
            raise EncodeError(f"codec 'lenprefix' sends bytes messages, got {type(message).__name__}")
        size = len(message) if not isinstance(message, memoryview) else message.nbytes
        if size > self._limit:
            self.check_size(size)
        return self._header.pack(size) + message

    def encode_parts(self, message: bytes) -> bytes | tuple[bytes, ...]:
        """A large ``bytes`` payload stays where it is, behind its own prefix (no copy of it)."""
        if type(message) is bytes and len(message) <= self._limit:
            if len(message) < _PARTS:  # ``encode``'s usual case, without a call more (Bridge.call encodes here)
                return self._header.pack(len(message)) + message
            return self._header.pack(len(message)), message
        return self.encode(message)

    def decoder(self) -> Decoder[bytes]:
        return LenPrefixDecoder(self._header, self.max_frame)
