"""``lsp``: the LSP/DAP base protocol, ``Content-Length: N`` headers, a blank line, N bytes of JSON.

The wire format (the Language Server Protocol's and the Debug Adapter Protocol's
"base protocol")::

    Content-Length: 52\\r\\n
    Content-Type: application/vscode-jsonrpc; charset=utf-8\\r\\n
    \\r\\n
    {"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}

Header lines end in CRLF; names are case-insensitive; ``Content-Length`` is
required exactly once, other headers are checked for form and otherwise ignored.
The body is UTF-8 JSON (any JSON value), decoded and encoded with orjson.

The decoder is sans-I/O and linear in the bytes fed, whatever the chunking: it
remembers where it stopped looking for the end of a header line, refuses a
declared length over ``max_frame`` as soon as the ``Content-Length`` line is
complete (before any of the body is buffered), bounds the header block to
``HEADER_LIMIT`` bytes, and collects a large body as a list of pieces joined once.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson

from stdiobridge.codecs import DEFAULT_MAX_FRAME, Codec, Decoder
from stdiobridge.codecs.base import check_option
from stdiobridge.errors import ConfigError, DecodeError, EncodeError, FrameTooLarge, ProtocolError, excerpt_of

__all__ = ["HEADER_LIMIT", "LspCodec", "LspDecoder"]

#: Largest header block accepted, blank line included: a child that never ends its
#: headers is refused here instead of filling memory.
HEADER_LIMIT = 8 * 1024

_STREAMED = 1 << 16  # bodies still missing more than this are collected as pieces
_FAST_PREFIX = b"Content-Length: "
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP field name (RFC 9110 token)
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # control bytes other than HTAB
_HINT = "Is the child printing logs to stdout? Logs belong on stderr."


class LspDecoder(Decoder[Any]):
    """Cuts ``Content-Length`` frames out of a byte stream and parses their JSON bodies.

    Invariants between calls, outside a streamed body: ``_buf[0]`` is the first
    byte of the current frame's header block; ``_line`` is where its next
    unparsed header line starts; there is no LF in ``_buf[_line:_scan]``; once
    the blank line has been read, ``_need`` is the body length and ``_body`` the
    offset where the body starts (``_need`` is -1 before that).
    """

    __slots__ = (
        "_body",
        "_buf",
        "_error",
        "_have",
        "_head",
        "_length",
        "_line",
        "_max",
        "_need",
        "_parts",
        "_scan",
    )

    def __init__(self, max_frame: int) -> None:
        self._max = max_frame
        self._buf = bytearray()
        self._line = 0
        self._scan = 0
        self._length = -1  # Content-Length of the header being read, once seen
        self._need = -1
        self._body = 0
        self._parts: list[bytes] = []  # a large body arriving in pieces, joined once whole
        self._have = 0  # bytes in _parts
        self._head = 0  # header bytes of the frame whose body is in _parts
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf) + self._have + self._head

    def feed(self, data: bytes) -> list[Any]:
        if self._parts:  # inside a large body: the hot loop of a big frame in small chunks
            rest = self._need - self._have
            if len(data) < rest:
                self._parts.append(data)
                self._have += len(data)
                return []
            return self._finish_parts(data, rest)
        if self._error is not None:
            raise self._again()
        if not self._buf and data.startswith(_FAST_PREFIX):
            # Fast path: exactly one whole frame with only a Content-Length header,
            # in one chunk (the usual request/response case). Anything else, valid
            # or not, takes the general path below, which also words the errors.
            blank = data.find(b"\r\n\r\n", len(_FAST_PREFIX))
            digits = data[len(_FAST_PREFIX) : blank]
            if blank > 0 and 0 < len(digits) <= 18 and digits.isdigit():
                size = int(digits)
                if size <= self._max and blank + 4 + size == len(data):
                    try:
                        return [orjson.loads(memoryview(data)[blank + 4 :])]
                    except orjson.JSONDecodeError:
                        pass  # the general path raises the DecodeError
        return self._feed(data)

    def _feed(self, data: bytes) -> list[Any]:
        buf = self._buf
        buf += data
        out: list[Any] = []
        start = 0  # the current frame's first byte in buf
        end = len(buf)
        line = self._line
        scan = self._scan
        need = self._need
        body = self._body
        length = self._length
        find = buf.find
        while True:
            if need < 0:  # still reading the header block, one CRLF-terminated line at a time
                nl = find(b"\n", scan)
                while nl >= 0:
                    if nl + 1 - start > HEADER_LIMIT:
                        raise self._too_long_header(buf, start, out)
                    if nl == line or buf[nl - 1] != 0x0D:
                        raise self._fail(
                            DecodeError(
                                f"codec 'lsp': a header line ends in a bare LF instead of CRLF: "
                                f"{excerpt_of(buf[line : nl + 1])!r}. {_HINT}",
                                excerpt=excerpt_of(buf[line : nl + 1]),
                            ),
                            out,
                        )
                    if nl - 1 == line:  # the blank line: the header block is complete
                        if length < 0:
                            raise self._fail(
                                DecodeError(
                                    f"codec 'lsp': a header block without a Content-Length header: "
                                    f"{excerpt_of(buf[start : nl + 1])!r}. {_HINT}",
                                    excerpt=excerpt_of(buf[start : nl + 1]),
                                ),
                                out,
                            )
                        need = length
                        body = nl + 1
                        break
                    length = self._header_line(bytes(buf[line : nl - 1]), length, out)
                    line = nl + 1
                    nl = find(b"\n", line)
                if need < 0:
                    # No blank line yet: the block so far (without its final LF) must leave room.
                    if end - start >= HEADER_LIMIT:
                        raise self._too_long_header(buf, start, out)
                    scan = end
                    break
            if end - body < need:  # the body is not whole yet
                if need - (end - body) > _STREAMED:  # large and far from whole: collect pieces
                    self._parts.append(bytes(buf[body:]))
                    self._have = end - body
                    self._head = body - start
                    start = line = scan = body = end  # the buffer empties; the offsets restart at 0
                break
            with memoryview(buf) as view:
                try:
                    out.append(orjson.loads(view[body : body + need]))
                except orjson.JSONDecodeError as exc:
                    raise self._bad_body(bytes(view[body : body + need]), exc, out) from None
            start = line = scan = body = body + need
            need = length = -1
        if start:
            del buf[:start]
        self._line = line - start
        self._scan = scan - start
        self._body = body - start
        self._need = need
        self._length = length
        return out

    def _header_line(self, raw: bytes, length: int, out: list[Any]) -> int:
        """Check one header line (CRLF removed); the Content-Length so far, or the one it sets."""
        name, colon, value = raw.partition(b":")
        value = value.strip(b" \t")
        if not colon or not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            raise self._fail(
                DecodeError(
                    f"codec 'lsp': malformed header line {excerpt_of(raw)!r} (expected 'Name: value'). {_HINT}",
                    excerpt=excerpt_of(raw),
                ),
                out,
            )
        if name.lower() != b"content-length":
            return length  # Content-Type and any other header: allowed, ignored
        if length >= 0:
            raise self._fail(
                DecodeError(
                    f"codec 'lsp': duplicate Content-Length header {excerpt_of(raw)!r}", excerpt=excerpt_of(raw)
                ),
                out,
            )
        if not value.isdigit():  # ASCII digits only: no sign, no '_', no spaces inside
            raise self._fail(
                DecodeError(
                    f"codec 'lsp': Content-Length is not a byte count: {excerpt_of(raw)!r}", excerpt=excerpt_of(raw)
                ),
                out,
            )
        digits = value.lstrip(b"0") or b"0"
        size = int(digits) if len(digits) <= 30 else None  # bounded: int() of 8000 digits is slow
        if size is None or size > self._max:
            err = FrameTooLarge(
                f"codec 'lsp': the header announces a body of {size if size is not None else 'over 10**30'} bytes; "
                f"max_frame is {self._max}",
                excerpt=excerpt_of(raw),
                size=size,
                limit=self._max,
            )
            raise self._fail(err, out)
        return size

    def _too_long_header(self, buf: bytearray, start: int, out: list[Any]) -> ProtocolError:
        shown = excerpt_of(buf[start:])
        err = FrameTooLarge(
            f"codec 'lsp': the header block exceeds {HEADER_LIMIT} bytes without its blank line: {shown[:64]!r}... "
            f"{_HINT}",
            excerpt=shown,
            limit=HEADER_LIMIT,
        )
        return self._fail(err, out)

    def _bad_body(self, body: bytes, exc: Exception, out: list[Any]) -> ProtocolError:
        what = "an empty body" if not body else f"a body that is not JSON ({exc})"
        return self._fail(
            DecodeError(f"codec 'lsp': the child sent {what}: {excerpt_of(body)!r}", excerpt=excerpt_of(body)), out
        )

    def _finish_parts(self, data: bytes, rest: int) -> list[Any]:
        """Complete a large body with the first ``rest`` bytes of ``data``: one join, one parse."""
        self._parts.append(data[:rest])
        body = b"".join(self._parts)
        self._parts = []
        self._have = self._head = 0
        self._need = -1
        self._length = -1
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise self._bad_body(body, exc, []) from None
        try:
            more = self.feed(data[rest:]) if len(data) > rest else []
        except ProtocolError as err:
            err.messages = [message, *err.messages]
            raise
        return [message, *more]

    def _fail(self, err: ProtocolError, out: list[Any]) -> ProtocolError:
        """Poison the decoder with ``err`` (carrying ``out``, the messages decoded before it)."""
        err.messages = out
        self._error = err
        self._buf = bytearray()
        self._parts = []
        self._line = self._scan = self._body = self._have = self._head = 0
        self._need = self._length = -1
        return err

    def _again(self) -> ProtocolError:
        """The poisoning error once more, without its ``messages``: those were delivered the first time."""
        assert self._error is not None
        again = copy.copy(self._error)
        again.messages = []
        return again


class LspCodec(Codec[Any]):
    """LSP/DAP base-protocol frames carrying JSON values.

    Options: ``max_frame`` (largest body, default 64 MiB; the header block is
    bounded separately by ``HEADER_LIMIT``) and ``content_type`` (a
    ``Content-Type`` header to send with every frame; none by default).
    """

    name = "lsp"

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME, content_type: str | None = None) -> None:
        super().__init__(max_frame=max_frame)
        check_option(self.name, "content_type", content_type, (str, type(None)))
        if content_type is not None and not (
            content_type
            and content_type.isascii()
            and content_type.isprintable()
            and content_type.strip() == content_type
        ):
            raise ConfigError(
                f"codec 'lsp': option 'content_type' must be non-empty printable ASCII without surrounding "
                f"spaces, got {content_type!r}"
            )
        self.content_type = content_type
        self._extra = b"" if content_type is None else b"Content-Type: " + content_type.encode("ascii") + b"\r\n"

    def encode(self, message: Any) -> bytes:
        try:
            body = orjson.dumps(message)
        except orjson.JSONEncodeError as exc:
            raise EncodeError(f"codec 'lsp': cannot encode {type(message).__name__}: {exc}") from None
        if len(body) > self.max_frame:
            raise EncodeError(f"codec 'lsp': message of {len(body)} bytes exceeds max_frame={self.max_frame}")
        return b"Content-Length: %d\r\n%s\r\n%s" % (len(body), self._extra, body)

    def decoder(self) -> Decoder[Any]:
        return LspDecoder(self.max_frame)
