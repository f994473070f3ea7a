"""``msgpack``: any msgpack value per frame, via ``msgpack.Unpacker.feed``.

``str`` and ``bytes`` stay distinct (spec 2.0 ``bin``); the unpacker's limits
follow ``max_frame`` so that a huge declared length is refused from its header.
"""

from __future__ import annotations

import functools
from typing import Any

import msgpack

from ..errors import DecodeError, EncodeError, FrameTooLarge, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder, Pieces

__all__ = ["MsgpackCodec"]

# Leading byte -> (size of the length field, fixed bytes before the payload) for the
# variable-length types whose length msgpack only checks once the payload is whole.
_SIZED = {
    0xC4: (1, 2),
    0xC5: (2, 3),
    0xC6: (4, 5),  # bin 8/16/32
    0xD9: (1, 2),
    0xDA: (2, 3),
    0xDB: (4, 5),  # str 8/16/32
    0xC7: (1, 3),
    0xC8: (2, 4),
    0xC9: (4, 6),  # ext 8/16/32
}


_STREAMED = 1 << 16  # values still missing more than this are collected as pieces


def declared_size(head: bytes) -> int | None:
    """Whole frame size announced by a str/bin/ext header at the start of ``head``, if known yet."""
    sized = _SIZED.get(head[0]) if head else None
    if sized is None:
        return None
    width, fixed = sized
    if len(head) < 1 + width:
        return None
    return fixed + int.from_bytes(head[1 : 1 + width], "big")


# Fixed-size types: leading byte -> whole element size (header included).
_FIXED = {
    0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9,
    0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18,
}  # fmt: skip
# Containers with a length field: leading byte -> (width of the count, values per count).
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}
_HEAD = 4096  # bytes of a pending value kept to read its layout
_SCAN_STEPS = 64  # elements looked at, at most, to find where the value must end


def needed_size(head: bytes) -> int | None:
    """How many bytes the msgpack value starting ``head`` needs at least, when that is known.

    Walks the value's first elements (at most ``_SCAN_STEPS``) until one reaches
    past ``head``: if that one has a known size (a scalar, or a str/bin/ext with
    its length read), the value needs at least up to its end. ``None`` when
    ``head`` ends on an element boundary, inside a header, or the walk is too long.
    """
    end = len(head)
    pos = 0
    todo = [1]  # values still to read at each open level
    for _ in range(_SCAN_STEPS):
        while todo and todo[-1] == 0:
            todo.pop()
        if not todo or pos >= end:
            return None
        todo[-1] -= 1
        b = head[pos]
        if b <= 0x7F or b >= 0xE0:  # fixint
            pos += 1
        elif b <= 0x8F:  # fixmap
            pos += 1
            todo.append(2 * (b & 0x0F))
        elif b <= 0x9F:  # fixarray
            pos += 1
            todo.append(b & 0x0F)
        elif b <= 0xBF:  # fixstr
            pos += 1 + (b & 0x1F)
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED:
            width, fixed = _SIZED[b]
            if pos + 1 + width > end:
                return None
            pos += fixed + int.from_bytes(head[pos + 1 : pos + 1 + width], "big")
        elif b in _CONTAINERS:
            width, per = _CONTAINERS[b]
            if pos + 1 + width > end:
                return None
            todo.append(per * int.from_bytes(head[pos + 1 : pos + 1 + width], "big"))
            pos += 1 + width
        else:  # 0xC1, never used: the Unpacker reports it
            return None
        if pos > end:
            return pos
    return None


class MsgpackDecoder(Decoder[Any]):
    """Feeds an ``Unpacker`` in pieces that never overflow its ``max_frame`` buffer."""

    __slots__ = (
        "_boundary",
        "_expect",
        "_fed",
        "_have",
        "_head",
        "_max",
        "_pieces",
        "_size",
        "_unpackb",
        "_unpacker",
    )

    def __init__(self, max_frame: int) -> None:
        self._unpacker = msgpack.Unpacker(
            raw=False,
            strict_map_key=False,
            max_buffer_size=max_frame,
        )
        self._unpackb = functools.partial(
            msgpack.unpackb,
            raw=False,
            strict_map_key=False,
            max_str_len=max_frame,
            max_bin_len=max_frame,
            max_array_len=max_frame,
            max_map_len=max_frame // 2,
            max_ext_len=max_frame,
        )
        self._fed = 0  # bytes fed in all
        self._boundary = 0  # stream offset just after the last whole value
        self._head = b""  # first bytes of the value being received, to check its header
        self._expect = 0  # stream offset before which the pending value cannot be whole (skip unpacking)
        self._pieces = Pieces()  # a large top-level str/bin/ext arriving in pieces
        self._size: int | None = None
        self._max = max_frame

    @property
    def buffered(self) -> int:
        return self._fed - self._boundary + self._pieces.held

    def feed(self, data: bytes) -> list[Any]:
        pieces = self._pieces
        if pieces.held:  # inside a large str/bin/ext: collect, join once when whole
            pieces.append(data)
            if self._size is None:
                self._size = declared_size(pieces.head(9))
                self._refuse_oversize(self._size, data)
            if self._size is None or pieces.held < self._size:
                return []
            self._size = None
            data = pieces.join()
        elif self._fed == self._boundary and data and data[0] in _SIZED:
            size = declared_size(data[:9])
            self._refuse_oversize(size, data)
            if size is None or size - len(data) > _STREAMED:
                pieces.append(data)
                self._size = size
                return []
        if self._fed == self._boundary and len(data) <= self._max:
            # Fast path: nothing pending, and most often the chunk is exactly one value.
            try:
                return [self._unpackb(data)]
            except Exception:  # partial, several values, or bad: the Unpacker sorts it out
                pass
        unpacker = self._unpacker
        out: list[Any] = []
        view: Any = data
        while True:
            room = self._max - (self._fed - self._boundary)
            if len(view) > room:  # feed only what fits; the rest after unpacking
                if room <= 0:
                    raise self._fail(None, out, view)
                view = memoryview(view)
                piece, view = view[:room], view[room:]
            else:
                piece, view = view, b""
            try:
                unpacker.feed(piece)
                self._fed += len(piece)
                if self._fed >= self._expect:  # else a known-size value is still incomplete
                    for value in unpacker:
                        out.append(value)
                        self._boundary = unpacker.tell()
            except Exception as exc:  # the Unpacker raises several types; all mean bad input
                raise self._fail(exc, out, piece) from None
            pending = self._fed - self._boundary
            if pending and (pending <= len(piece) or len(self._head) < _HEAD):  # the layout to (re)read
                self._check_header(piece, out)
            if not view:
                return out

    def _refuse_oversize(self, size: int | None, near: bytes) -> None:
        if size is not None and size > self._max:
            self._pieces.clear()
            err = self._fail(ValueError(f"declared size {size} exceeds max_frame"), [], near)
            assert isinstance(err, FrameTooLarge)
            err.size = size
            raise err

    def _check_header(self, piece: Any, out: list[Any]) -> None:
        """Read the pending value's layout: where it must end at least, and refuse it now if past ``max_frame``.

        msgpack itself checks a str/bin length only once the payload is whole; and
        while the value cannot be whole, no unpacking is attempted (each attempt of
        the Unpacker costs in proportion to what it holds).
        """
        pending = self._fed - self._boundary
        if pending <= len(piece):  # the pending value starts in this piece
            self._head = bytes(piece[len(piece) - pending :][:_HEAD])
        elif len(self._head) < _HEAD:
            self._head += bytes(piece[: _HEAD - len(self._head)])
        size = needed_size(self._head)
        self._expect = self._boundary + size if size is not None else 0
        if size is not None and size > self._max:
            err = self._fail(ValueError(f"declared size {size} exceeds max_frame"), out, self._head)
            assert isinstance(err, FrameTooLarge)
            err.size = size
            raise err

    def _fail(self, exc: Exception | None, out: list[Any], near: Any) -> ProtocolError:
        shown = excerpt_of(bytes(near[:64]))
        text = str(exc) if exc is not None else ""
        if exc is None or "exceeds max" in text or isinstance(exc, msgpack.BufferFull):
            err: ProtocolError = FrameTooLarge(
                f"codec 'msgpack': a value larger than max_frame={self._max} bytes ({text or 'buffer full'})",
                excerpt=shown,
                limit=self._max,
            )
        else:
            err = DecodeError(
                f"codec 'msgpack': invalid msgpack from the child ({type(exc).__name__}: {text}); "
                "is the child printing logs to stdout?",
                excerpt=shown,
            )
        err.messages = out
        return err


class MsgpackCodec(Codec[Any]):
    """msgpack values. Option: ``max_frame``."""

    name = "msgpack"

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame=max_frame)

    def encode(self, message: Any) -> bytes:
        try:
            data: bytes = msgpack.packb(message, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"codec 'msgpack': cannot encode {type(message).__name__}: {exc}") from None
        if len(data) > self.max_frame:
            raise EncodeError(f"codec 'msgpack': message of {len(data)} bytes exceeds max_frame={self.max_frame}")
        return data

    def decoder(self) -> Decoder[Any]:
        return MsgpackDecoder(self.max_frame)
