"""``msgpack``: any msgpack value per frame, unpacked by ``msgpack`` once the value is whole.

``str`` and ``bytes`` stay distinct (spec 2.0 ``bin``); the unpacker's limits
follow ``max_frame`` so that a huge declared length is refused from its header.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from ..errors import DecodeError, EncodeError, FrameTooLarge, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder, InPlace, Pieces
from .ids import NotTagged, not_tagged

__all__ = ["MsgpackCodec", "MsgpackDecoder"]

# Leading byte -> (width of the length field, bytes before the payload) of str/bin/ext 8/16/32.
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
_BIN = frozenset((0xC4, 0xC5, 0xC6))
_SIZED_EXT = frozenset((0xC7, 0xC8, 0xC9))
# Fixed-size types: leading byte -> whole element size (header included).
_FIXED = {
    0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9,
    0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9, 0xD4: 3, 0xD5: 4, 0xD6: 6, 0xD7: 10, 0xD8: 18,
}  # fmt: skip
# Containers with a length field: leading byte -> (width of the count, values per count).
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}

_INCOMPLETE = ("Unpack failed: incomplete input",)  # unpackb's words for a value cut short
_SPLICE = 1 << 16  # a str/bin payload still missing more than this is collected aside, not in the buffer
_LEND = 1 << 16  # get_buffer: lent for a payload set aside with this much still to come
# What stands in the buffer for a payload collected aside: a fixext 16 that ``ext_hook`` swaps back.
_TOKEN = b"stdiobridge\x00splc"
_MARKER = b"\xd8\x7f" + _TOKEN


class _Limits:
    """The unpacking functions of one ``max_frame``: limits follow it, so a huge declared length is refused."""

    def __init__(self, max_frame: int) -> None:
        self.kwargs: dict[str, Any] = {
            "raw": False,
            "strict_map_key": False,
            "max_str_len": max_frame,
            "max_bin_len": max_frame,
            "max_array_len": max_frame,
            "max_map_len": max_frame // 2 or 1,
            "max_ext_len": max_frame,
        }
        self.unpackb = functools.partial(msgpack.unpackb, **self.kwargs)


class MsgpackDecoder(Decoder[Any]):
    """msgpack values from a byte stream, in time linear in the bytes fed, whatever the chunking.

    A chunk that starts on a value boundary is unpacked at C speed (one ``unpackb``
    for the usual single value, an ``Unpacker`` for several). An incomplete value is
    kept in a buffer and walked by a resumable scanner (like the Go and Racket
    readers) that knows where the value must end, so it is unpacked exactly once,
    when whole. A large str/bin payload arriving in pieces is collected aside (no
    copy into the buffer) and swapped back in at that single unpack; a reader may read
    its rest straight into place instead (``get_buffer``), and a bin payload then
    becomes its ``bytes`` without a copy.
    """

    __slots__ = (
        "_aside",
        "_buf",
        "_extra",
        "_into",
        "_kind",
        "_lim",
        "_max",
        "_need",
        "_pair",
        "_payload",
        "_pos",
        "_stack",
        "_todo",
    )

    def __init__(self, max_frame: int, pair: Callable[[Any], Any] | None = None) -> None:
        self._pair = pair  # tagged mode: ``(id, message)`` of a value, or ``NotTagged``
        self._max = max_frame
        self._lim = _Limits(max_frame)
        self._buf = bytearray()  # the pending (incomplete) value, from its first byte
        self._pos = 0  # where the scanner reads the next element header, in ``_buf``
        self._need = 0  # ``_buf`` must reach this length before scanning resumes
        self._stack: list[int] = [1]  # elements still to read at each open level
        self._aside = Pieces()  # a large payload collected aside
        self._todo = 0  # bytes of that payload still to come
        self._kind = 0  # its leading byte (str or bin)
        self._payload: Any = None  # that payload, complete, until the value is
        self._extra = 0  # bytes received but not in ``_buf`` (the aside payload and its header, minus the marker)
        self._into: InPlace | None = None  # once lent: the aside payload, read into place

    @property
    def buffered(self) -> int:
        return len(self._buf) + self._extra

    def get_buffer(self) -> memoryview | None:
        """The rest of a str/bin payload collected aside, once at least 64 KiB of it are still to come, else
        ``None``. Its whole buffer is allocated then: as much as its header announced, within ``max_frame``."""
        into = self._into
        if into is None:
            if self._todo < _LEND:
                return None
            size = self._aside.held + self._todo
            into = self._into = InPlace(self._aside.join(), size)  # from what came of it so far
        return into.view[len(into.view) - self._todo :]

    def buffer_updated(self, nbytes: int) -> list[Any]:
        self._todo -= nbytes
        self._extra += nbytes
        if self._todo:
            return []
        self._payload = self._lent_payload()
        return self._resume([])

    def _lent_payload(self) -> bytes:
        """The payload read into place, as ``bytes``."""
        assert self._into is not None
        payload = self._into.take()
        self._into = None
        return payload

    def feed(self, data: bytes) -> list[Any]:
        todo = self._todo
        if todo:  # inside a payload collected aside
            size = len(data)
            if size < todo and self._into is None:  # the hot loop of a big value in small chunks
                self._aside.append(data)
                self._todo = todo - size
                self._extra += size
                return []
            return self._aside_end(data)
        if not self._buf:
            if len(data) <= self._max:
                try:  # fast path: most often the chunk is exactly one value
                    # unpackb's limits default to len(data) <= max_frame: the bound of ``_lim``, without the
                    # cost of passing its seven keywords on every call
                    value = msgpack.unpackb(data, raw=False, strict_map_key=False)
                except ValueError as exc:
                    if exc.args == _INCOMPLETE and type(exc) is ValueError:  # one value, begun: what _fresh would
                        self._buf = bytearray(data)  # find without its Unpacker (a big value's first read)
                        self._pos = 0
                        self._stack = [1]
                        return self._resume([])
                except Exception:  # several values, or bad: sorted out below
                    pass
                else:
                    pair = self._pair
                    if pair is None:
                        return [value]
                    try:
                        return [pair(value)]
                    except NotTagged:
                        return [self._tagged(value, data, [])]  # raises, showing the frame
            return self._fresh(data, [])
        self._buf += data
        if len(self._buf) < self._need:
            return []
        return self._resume([])

    def _aside_end(self, data: bytes) -> list[Any]:
        """``feed`` inside a payload collected aside: the chunk that ends it (or any chunk, once the payload is
        lent to a reader), then the rest of the value."""
        todo = self._todo
        take = min(len(data), todo)
        if self._into is None:
            self._aside.append(data[:take])
            payload = self._aside.join()
        else:  # lent to a reader, fed bytes after all: copied into place
            view = self._into.view
            start = len(view) - todo
            view[start : start + take] = data if take == len(data) else memoryview(data)[:take]
            if take < todo:
                self._todo = todo - take
                self._extra += take
                return []
            payload = self._lent_payload()
        self._todo = 0
        self._extra += take
        self._payload = payload
        self._buf += data[take:]
        if len(self._buf) < self._need:
            return []
        return self._resume([])

    def _fresh(self, data: bytes | memoryview, out: list[Any]) -> list[Any]:
        """Values of ``data``, which starts on a value boundary; keep an incomplete last one."""
        size = len(data)
        if not size:
            return out
        unpacker = self._unpacker(data)
        prev = 0  # where the values taken so far end (``tell()`` right after a value; not after the loop)
        try:
            if size <= self._max:
                # Fast path: no value of the chunk can exceed max_frame, so no size check per value, and
                # the loop's names are local. Tagged: the frame is cut out only to show a bad one.
                pair, tell, append = self._pair, unpacker.tell, out.append
                for value in unpacker:
                    if pair is None:
                        append(value)
                    else:
                        try:
                            append(pair(value))
                        except NotTagged:
                            self._tagged(value, data[prev : tell()], out)  # raises
                    prev = tell()
            else:
                for value in unpacker:
                    end = unpacker.tell()
                    if end - prev > self._max:
                        raise self._too_large(end - prev, data[prev : prev + 64], out)
                    out.append(value if self._pair is None else self._tagged(value, data[prev:end], out))
                    prev = end
        except ProtocolError:
            raise
        except Exception as exc:  # the Unpacker raises several types; all mean bad input
            raise self._fail(exc, out, data[prev : prev + 64]) from None
        if prev < size:
            self._buf = bytearray(data[prev:])
            self._pos = 0
            self._stack = [1]
            return self._resume(out)
        return out

    def _unpacker(self, data: bytes | memoryview) -> msgpack.Unpacker:
        """An ``Unpacker`` holding ``data``, with this decoder's limits."""
        size = len(data)
        unpacker = msgpack.Unpacker(read_size=size, max_buffer_size=max(size, self._max), **self._lim.kwargs)
        unpacker.feed(data)
        return unpacker

    def _resume(self, out: list[Any]) -> list[Any]:
        """Scan the pending value on from ``_pos``; unpack it once whole, then go on with what follows."""
        buf = self._buf
        end = len(buf)
        pos = self._pos
        stack = self._stack
        while True:
            if pos > end:  # inside an element whose end is known
                return self._wait(pos, pos, stack, out)
            while stack and stack[-1] == 0:
                stack.pop()
            if not stack:
                break  # the value ends at pos
            if pos == end:
                return self._wait(pos, pos + 1, stack, out)
            b = buf[pos]
            if b <= 0x7F or b >= 0xE0:  # fixint
                pos += 1
            elif b <= 0x8F:  # fixmap
                pos += 1
                stack[-1] -= 1
                stack.append(2 * (b & 0x0F))
                continue
            elif b <= 0x9F:  # fixarray
                pos += 1
                stack[-1] -= 1
                stack.append(b & 0x0F)
                continue
            elif b <= 0xBF:  # fixstr
                pos += 1 + (b & 0x1F)
            elif b in _FIXED:
                pos += _FIXED[b]
            elif b in _SIZED:
                width, fixed = _SIZED[b]
                if pos + 1 + width > end:
                    return self._wait(pos, pos + 1 + width, stack, out)
                size = int.from_bytes(buf[pos + 1 : pos + 1 + width], "big")
                if pos + fixed + size - end > _SPLICE and self._payload is None and b not in _SIZED_EXT:
                    stack[-1] -= 1
                    self._stack = stack
                    return self._set_aside(pos, fixed, size, b, out)
                pos += fixed + size
            elif b in _CONTAINERS:
                width, per = _CONTAINERS[b]
                if pos + 1 + width > end:
                    return self._wait(pos, pos + 1 + width, stack, out)
                stack[-1] -= 1
                stack.append(per * int.from_bytes(buf[pos + 1 : pos + 1 + width], "big"))
                pos += 1 + width
                continue
            else:  # 0xC1, never used
                raise self._fail(ValueError("byte 0xc1 is never used"), out, buf[pos : pos + 64])
            stack[-1] -= 1
        # The pending value is whole: buf[:pos]. One unpack, then what follows it starts on a boundary.
        if pos + self._extra > self._max:
            raise self._too_large(pos + self._extra, buf[:64], out)
        payload = self._payload
        with memoryview(buf) as view:
            try:
                if payload is None:
                    value = self._lim.unpackb(view[:pos])
                else:
                    text = self._kind not in _BIN
                    value = self._lim.unpackb(view[:pos], ext_hook=lambda code, data: _swap(code, data, payload, text))
            except Exception as exc:
                raise self._fail(exc, out, view[:64]) from None
            rest = bytes(view[pos:])
            if self._pair is not None:
                value = self._tagged(value, bytes(view[:120]), out)
        out.append(value)
        self._buf = bytearray()
        self._pos = self._need = self._extra = 0
        self._stack = [1]
        self._payload = None
        return self._fresh(rest, out)

    def _wait(self, pos: int, need: int, stack: list[int], out: list[Any]) -> list[Any]:
        """Stop scanning until ``_buf`` holds ``need`` bytes; refuse a value that cannot fit ``max_frame``."""
        if need + self._extra > self._max:
            raise self._too_large(need + self._extra, self._buf[:64], out)
        self._pos = pos
        self._need = need
        self._stack = stack
        return out

    def _set_aside(self, pos: int, fixed: int, size: int, kind: int, out: list[Any]) -> list[Any]:
        """Collect the str/bin payload at ``pos`` aside; a marker takes its place in the buffer."""
        buf = self._buf
        if pos + fixed + size + self._extra > self._max:
            raise self._too_large(pos + fixed + size, buf[pos : pos + 64], out)
        got = buf[pos + fixed :]
        self._aside.append(got)
        self._todo = size - len(got)
        self._kind = kind
        self._extra = fixed + len(got) - len(_MARKER)
        del buf[pos:]
        buf += _MARKER
        self._pos = self._need = len(buf)
        return out

    def _tagged(self, value: Any, frame: Any, out: list[Any]) -> Any:
        """``(id, message)`` of a tagged value, else the ``DecodeError`` (after ``out``) showing its bytes."""
        assert self._pair is not None
        try:
            return self._pair(value)
        except NotTagged as why:
            err = not_tagged("msgpack", bytes(frame[:120]), str(why))
            err.messages = out
            self._drop()
            raise err from None

    def _drop(self) -> None:
        """Let go of the pending bytes: the decoder is done (it is not fed after it raised)."""
        self._buf = bytearray()
        self._aside.clear()
        self._extra = self._todo = 0
        self._payload = None
        if self._into is not None:
            self._into.view.release()
            self._into = None

    def _too_large(self, size: int, near: Any, out: list[Any]) -> FrameTooLarge:
        near = bytes(near[:64])
        self._drop()
        err = FrameTooLarge(
            f"codec 'msgpack': a value of {size}+ bytes exceeds max_frame={self._max}",
            excerpt=excerpt_of(bytes(near[:64])),
            size=size,
            limit=self._max,
        )
        err.messages = out
        return err

    def _fail(self, exc: Exception, out: list[Any], near: Any) -> ProtocolError:
        shown = excerpt_of(bytes(near[:64]))
        self._drop()
        text = str(exc)
        err: ProtocolError
        if "exceeds max" in text or isinstance(exc, msgpack.BufferFull):
            err = FrameTooLarge(
                f"codec 'msgpack': a value larger than max_frame={self._max} bytes ({text})",
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


def _swap(code: int, data: bytes, payload: bytes, text: bool) -> Any:
    """``ext_hook``: the payload collected aside where its marker stands, any other ext as msgpack gives it."""
    if code == 0x7F and data == _TOKEN:
        return payload.decode() if text else payload
    return msgpack.ExtType(code, data)


def thread_packer(packers: threading.local) -> Callable[[Any], bytes]:
    """A new ``Packer``'s ``pack`` for this thread, kept as ``packers.pack``.

    Codecs keep a Packer per thread (``packb`` builds one per call: 2x the time) in a plain
    ``threading.local``: reading an attribute of a subclass of it costs as much as packing a small value.
    """
    pack: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True).pack
    packers.pack = pack
    return pack


class MsgpackCodec(Codec[Any]):
    """msgpack values. Option: ``max_frame``."""

    name = "msgpack"

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame=max_frame)
        self._packers = threading.local()  # .pack: see ``thread_packer``

    def encode(self, message: Any) -> bytes:
        try:
            try:
                pack = self._packers.pack
            except AttributeError:
                pack = thread_packer(self._packers)
            data: bytes = pack(message)
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"codec 'msgpack': cannot encode {type(message).__name__}: {exc}") from None
        if len(data) > self.max_frame:
            raise EncodeError(f"codec 'msgpack': message of {len(data)} bytes exceeds max_frame={self.max_frame}")
        return data

    def encode_many(self, messages: Iterable[Any]) -> list[bytes]:
        """This thread's packer over every message at C speed; one by one (``encode``) for the error."""
        messages = list(messages)
        try:
            pack = self._packers.pack
        except AttributeError:
            pack = thread_packer(self._packers)
        try:
            frames: list[bytes] = list(map(pack, messages))
        except (TypeError, ValueError, OverflowError):
            return list(map(self.encode, messages))
        if frames and max(map(len, frames)) > self.max_frame:
            return list(map(self.encode, messages))
        return frames

    def decoder(self) -> Decoder[Any]:
        return MsgpackDecoder(self.max_frame)
