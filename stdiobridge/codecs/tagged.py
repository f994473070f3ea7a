"""Tagged mode: request ids on the wire, for any codec (``Codec.tagged()``).

Wire format (``protocols/README.md``, golden vectors in ``protocols/vectors/tagged.json``):
ids are integers 1 .. 2**32 - 1; by codec kind, ``json``: the message is
``[id, message]``; ``text``: ``"<id> <text>"`` (decimal ASCII digits, no sign, no
leading zero, one space); ``bytes``: the payload starts with the id as 4 bytes in
the codec's byte order. A tagged codec's messages are ``(id, message)`` pairs; its
decoder raises ``DecodeError`` for a frame that is not a tagged frame.

``TaggedCodec`` and its kind subclasses work through any codec's own ``encode``
and ``decoder``; the four built-ins have fast paths that build and cut the frame
in one step.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

import orjson

from ..errors import DecodeError, EncodeError, ProtocolError, excerpt_of
from .base import MAX_ID, TAGGERS, Codec, Decoder
from .ids import NotTagged, json_pair, not_tagged
from .jsonl import _APPEND_NL, JsonlCodec, JsonlDecoder, check_line, describe_line, dumps_line, loads_line
from .lenprefix import _FORMATS, _ORDERS, _PARTS, LenPrefixCodec, LenPrefixDecoder
from .lines import LineDecoder, LinesCodec
from .msgpack import MsgpackCodec, MsgpackDecoder, thread_packer

__all__ = [
    "TaggedBytes",
    "TaggedCodec",
    "TaggedJson",
    "TaggedJsonlCodec",
    "TaggedLenPrefixCodec",
    "TaggedLinesCodec",
    "TaggedMsgpackCodec",
    "TaggedText",
    "check_id",
]

M = TypeVar("M")


def check_id(ident: object, codec: str) -> int:
    """``ident`` when it is a valid request id (an int 1 .. 2**32 - 1), else ``EncodeError``."""
    if type(ident) is not int or not 0 < ident <= MAX_ID:
        raise EncodeError(f"codec {codec!r} (tagged): a request id is an int 1 .. {MAX_ID}, got {ident!r}")
    return ident


def _pair(item: Any, codec: str) -> tuple[int, Any]:
    """``(id, message)`` from what was given to a tagged ``encode``."""
    try:
        ident, message = item
    except (TypeError, ValueError):
        raise EncodeError(f"codec {codec!r} (tagged) sends (id, message) pairs, got {type(item).__name__}") from None
    return check_id(ident, codec), message


def _text_pair(text: str) -> tuple[int, str]:
    """``(id, text)`` of a text-kind tagged message ``"<id> <text>"``; ``NotTagged`` if it is not one."""
    space = text.find(" ", 0, 11)
    digits = text[:space] if space > 0 else ""
    if not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
        raise NotTagged("expected '<id> <text>': a decimal id 1 .. 4294967295 without sign or leading zero, a space")
    ident = int(digits)
    if ident > MAX_ID:
        raise NotTagged(f"the id {ident} is outside 1 .. {MAX_ID}")
    return ident, text[space + 1 :]


class _PairDecoder(Decoder[tuple[int, M]], Generic[M]):
    """Turns the messages of an inner decoder into ``(id, message)`` pairs with ``parse``."""

    __slots__ = ("_excerpt", "_inner", "_name", "_parse")

    def __init__(
        self,
        inner: Decoder[Any],
        parse: Callable[[Any], tuple[int, M]],
        name: str,
        excerpt: Callable[[Any], bytes],
    ) -> None:
        self._inner = inner
        self._parse = parse
        self._name = name
        self._excerpt = excerpt

    @property
    def buffered(self) -> int:
        return self._inner.buffered

    def feed(self, data: bytes) -> list[tuple[int, M]]:
        try:
            got = self._inner.feed(data)
        except ProtocolError as err:
            err.messages = self._pairs(err.messages)  # raises the earlier fault, if one of these is not tagged
            raise
        parse = self._parse
        try:
            return [parse(m) for m in got]
        except NotTagged:
            self._pairs(got)
            raise AssertionError("unreachable") from None

    def _pairs(self, got: list[Any]) -> list[tuple[int, M]]:
        out: list[tuple[int, M]] = []
        for m in got:
            try:
                out.append(self._parse(m))
            except NotTagged as why:
                err = not_tagged(self._name, self._excerpt(m), str(why))
                err.messages = out
                raise err from None
        return out


class TaggedCodec(Codec[tuple[int, M]]):
    """``codec`` with request ids on the wire, through its own ``encode`` and ``decoder`` (by ``codec.kind``)."""

    name = "tagged"
    tag_kind: ClassVar[str] = ""

    def __init__(self, codec: Codec[M]) -> None:
        super().__init__(max_frame=codec.max_frame)
        self.codec = codec

    def _excerpt(self, message: Any) -> bytes:
        """The frame bytes of an inner message, to show in an error (its ``repr`` if it cannot be encoded)."""
        try:
            return excerpt_of(self.codec.encode(message))
        except Exception:
            return excerpt_of(repr(message).encode("utf-8", "replace"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.codec!r}>"


class TaggedJson(TaggedCodec[M]):
    """json kind: the message is ``[id, message]``."""

    tag_kind = "json"

    def encode(self, message: tuple[int, M]) -> bytes:
        ident, inner = _pair(message, self.codec.name)
        return self.codec.encode([ident, inner])  # type: ignore[arg-type]

    def decoder(self) -> Decoder[tuple[int, M]]:
        return _PairDecoder(self.codec.decoder(), json_pair, self.codec.name, self._excerpt)


class TaggedText(TaggedCodec[str]):
    """text kind: the message is ``"<id> <text>"``."""

    tag_kind = "text"

    def encode(self, message: tuple[int, str]) -> bytes:
        ident, text = _pair(message, self.codec.name)
        if not isinstance(text, str):
            raise EncodeError(f"codec {self.codec.name!r} sends str messages, got {type(text).__name__}")
        return self.codec.encode(f"{ident} {text}")

    def decoder(self) -> Decoder[tuple[int, str]]:
        def parse(text: Any) -> tuple[int, str]:
            if not isinstance(text, str):
                raise NotTagged(f"a {type(text).__name__}, not text")
            return _text_pair(text)

        return _PairDecoder(self.codec.decoder(), parse, self.codec.name, self._excerpt)


class TaggedBytes(TaggedCodec[bytes]):
    """bytes kind: the payload is the id as 4 bytes (in the codec's ``byteorder``, else big) and the message."""

    tag_kind = "bytes"

    def __init__(self, codec: Codec[bytes]) -> None:
        super().__init__(codec)
        order = getattr(codec, "byteorder", "big")
        self._order: Any = order if order in ("big", "little") else "big"

    def encode(self, message: tuple[int, bytes]) -> bytes:
        ident, payload = _pair(message, self.codec.name)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise EncodeError(f"codec {self.codec.name!r} sends bytes messages, got {type(payload).__name__}")
        return self.codec.encode(ident.to_bytes(4, self._order) + bytes(payload))

    def decoder(self) -> Decoder[tuple[int, bytes]]:
        order = self._order

        def parse(payload: Any) -> tuple[int, bytes]:
            if not isinstance(payload, (bytes, bytearray)) or len(payload) < 4:
                raise NotTagged("the payload is shorter than the 4-byte request id")
            ident = int.from_bytes(payload[:4], order)
            if not ident:
                raise NotTagged("request id 0")
            return ident, bytes(payload[4:])

        return _PairDecoder(self.codec.decoder(), parse, self.codec.name, self._excerpt)


# --- fast paths for the built-ins ---------------------------------------------------------------------


class TaggedLinesCodec(TaggedCodec[str]):
    """``lines`` tagged: ``b"%d " % id + text`` on the way out, one parse per line on the way in."""

    tag_kind = "text"
    codec: LinesCodec

    def __init__(self, codec: LinesCodec) -> None:
        super().__init__(codec)
        # The fast path below writes what ``LinesCodec.encode`` would: not what a subclass's encode might.
        self._plain = codec._plain and type(codec).encode is LinesCodec.encode

    def encode(self, message: tuple[int, str]) -> bytes:
        try:
            ident, text = message
        except (TypeError, ValueError):
            _pair(message, "lines")  # raises, wording the error
        if type(ident) is not int or not 0 < ident <= MAX_ID:
            check_id(ident, "lines")
        if type(text) is str and "\n" not in text and "\r" not in text and self._plain:
            # Fast path, as in ``LinesCodec.encode``: only the encoding and the size can fail, and for
            # those the general path below gives the error. One f-string: fewer steps than bytes % and +.
            try:
                frame = f"{ident} {text}\n".encode()
            except UnicodeEncodeError:
                pass
            else:
                if len(frame) <= self.codec._frame_limit:
                    return frame
        frame = b"%d " % ident + self.codec.encode(text)
        if len(frame) - 1 > self.max_frame:
            raise EncodeError(
                f"codec 'lines' (tagged): frame of {len(frame) - 1} bytes exceeds max_frame={self.max_frame}"
            )
        return frame

    def decoder(self) -> Decoder[tuple[int, str]]:
        decode = self.codec.line_converter()

        def convert(line: bytes) -> tuple[int, str]:
            # partition: one call cuts id and text (find + two slices cost more); the length bound comes
            # before int(), which is slow (and limited) for long digit strings
            head, space, text = line.partition(b" ")
            if space and len(head) <= 10 and head.isdigit() and head[0] != 0x30:  # isdigit: ASCII digits only
                ident = int(head)
                if ident <= MAX_ID:
                    return ident, decode(text)
            raise NotTagged(
                "expected '<id> <text>': a decimal id 1 .. 4294967295 without sign or leading zero, a space"
            )

        def describe(line: bytes, exc: Exception) -> DecodeError:
            if isinstance(exc, NotTagged):
                return not_tagged("lines", line, str(exc))
            return self.codec.describe_error(exc.object if isinstance(exc, UnicodeDecodeError) else line, exc)

        return LineDecoder(self.max_frame, convert, describe)


class TaggedJsonlCodec(TaggedCodec[Any]):
    """``jsonl`` tagged: one ``orjson.dumps([id, message])`` out, one parse per line in."""

    tag_kind = "json"

    def __init__(self, codec: JsonlCodec) -> None:
        super().__init__(codec)
        self._fast_size = codec._fast_size

    def encode(self, message: tuple[int, Any]) -> bytes:
        try:
            ident, inner = message
        except (TypeError, ValueError):
            _pair(message, "jsonl")
        if type(ident) is not int or not 0 < ident <= MAX_ID:
            check_id(ident, "jsonl")
        value = [ident, inner]
        try:
            data = orjson.dumps(value, option=_APPEND_NL)
        except orjson.JSONEncodeError:
            return dumps_line(value, type(inner).__name__, self.max_frame)  # raises, wording the error
        if 110 not in data and len(data) <= self._fast_size:  # the fast path of ``JsonlCodec.encode``
            return data
        return check_line(data, value, type(inner).__name__, self.max_frame)

    def decoder(self) -> Decoder[tuple[int, Any]]:
        def exact(line: bytes) -> tuple[int, Any]:
            return json_pair(loads_line(line))

        def fast(line: bytes) -> tuple[int, Any]:
            return json_pair(orjson.loads(line))

        def describe(line: bytes, exc: Exception) -> DecodeError:
            if isinstance(exc, NotTagged):
                return not_tagged("jsonl", line, str(exc))
            return describe_line(line, exc)

        return JsonlDecoder(self.max_frame, exact, fast, describe)


class TaggedLenPrefixCodec(TaggedCodec[bytes]):
    """``lenprefix`` tagged: one ``struct.pack`` of length and id out; the id read in place on the way in."""

    tag_kind = "bytes"
    codec: LenPrefixCodec

    def __init__(self, codec: LenPrefixCodec) -> None:
        super().__init__(codec)
        order = _ORDERS[codec.byteorder]
        self._pack = struct.Struct(order + _FORMATS[codec.width] + "I").pack
        self._tag = struct.Struct(order + "I")
        self._limit = codec._limit - 4  # the largest message: the id counts in the prefixed length

    def encode(self, message: tuple[int, bytes]) -> bytes:
        try:
            ident, payload = message
        except (TypeError, ValueError):
            _pair(message, "lenprefix")
        if type(ident) is not int or not 0 < ident <= MAX_ID:
            check_id(ident, "lenprefix")
        if type(payload) is bytes and len(payload) <= self._limit:  # the usual case, in fewer steps
            return self._pack(len(payload) + 4, ident) + payload
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise EncodeError(f"codec 'lenprefix' sends bytes messages, got {type(payload).__name__}")
        size = 4 + (len(payload) if not isinstance(payload, memoryview) else payload.nbytes)
        self.codec.check_size(size)
        return self._pack(size, ident) + payload

    def encode_parts(self, message: tuple[int, bytes]) -> bytes | tuple[bytes, ...]:
        """A large ``bytes`` payload stays where it is, behind its prefix and id (no copy of it)."""
        try:
            ident, payload = message
        except (TypeError, ValueError):
            _pair(message, "lenprefix")
        if type(ident) is int and 0 < ident <= MAX_ID and type(payload) is bytes and len(payload) <= self._limit:
            if len(payload) < _PARTS:  # ``encode``'s usual case, without a call more (Bridge.call encodes here)
                return self._pack(len(payload) + 4, ident) + payload
            return self._pack(len(payload) + 4, ident), payload
        return self.encode(message)

    def decoder(self) -> Decoder[tuple[int, bytes]]:
        return LenPrefixDecoder(self.codec._header, self.max_frame, self._tag)


class TaggedMsgpackCodec(TaggedCodec[Any]):
    """``msgpack`` tagged: one ``packb([id, message])`` out, the pair checked per value in."""

    tag_kind = "json"
    codec: MsgpackCodec

    def __init__(self, codec: MsgpackCodec) -> None:
        super().__init__(codec)
        self._packers = threading.local()  # .pack: see ``thread_packer``

    def encode(self, message: tuple[int, Any]) -> bytes:
        try:
            ident, inner = message
        except (TypeError, ValueError):
            _pair(message, "msgpack")
        if type(ident) is not int or not 0 < ident <= MAX_ID:
            check_id(ident, "msgpack")
        try:
            try:
                pack = self._packers.pack
            except AttributeError:
                pack = thread_packer(self._packers)
            data: bytes = pack([ident, inner])
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"codec 'msgpack': cannot encode {type(inner).__name__}: {exc}") from None
        if len(data) > self.max_frame:
            raise EncodeError(f"codec 'msgpack': message of {len(data)} bytes exceeds max_frame={self.max_frame}")
        return data

    def decoder(self) -> Decoder[tuple[int, Any]]:
        return MsgpackDecoder(self.max_frame, json_pair)


TAGGERS.update(
    {
        "json": TaggedJson,
        "text": TaggedText,
        "bytes": TaggedBytes,
        LinesCodec: TaggedLinesCodec,
        JsonlCodec: TaggedJsonlCodec,
        LenPrefixCodec: TaggedLenPrefixCodec,
        MsgpackCodec: TaggedMsgpackCodec,
    }
)
