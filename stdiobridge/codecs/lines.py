"""``lines``: text messages, one per LF-terminated line (CRLF accepted on input)."""

from __future__ import annotations

import codecs as _pycodecs
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ..errors import ConfigError, DecodeError, EncodeError, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder, check_option
from .linebuffer import LineBuffer

__all__ = ["LinesCodec", "LineDecoder"]

_PARTS = 1 << 16  # encode_parts: a line this long goes out as text and LF (copying it costs more than a writev)

M = TypeVar("M")


class LineDecoder(LineBuffer, Decoder[M]):
    """Cuts lines like ``LineBuffer`` and turns each into a message with ``convert``.

    ``convert`` may raise anything for a line that is not a valid message;
    ``describe`` then turns the line and that exception into a ``DecodeError``.
    Like every decoder, it is not to be fed again after it raised.
    """

    __slots__ = ("_convert", "_describe")

    def __init__(
        self,
        max_frame: int,
        convert: Callable[[bytes], M],
        describe: Callable[[bytes, Exception], DecodeError],
    ) -> None:
        super().__init__(max_frame)
        self._convert = convert
        self._describe = describe

    def feed(self, data: bytes) -> list[M]:
        if data and data[-1] == 10 and not self._pending.held:
            # Fast path: the chunk is one whole line, the usual request/response case. Bytes are
            # tested as ints (``data[-1] == 10``, ``10 in line``: memchr); a bytes needle or find() costs more.
            line = data[:-1]
            if 10 not in line:
                if 13 in line and line[-1] == 13:  # CRLF
                    line = line[:-1]
                if len(line) <= self.max_line:
                    try:
                        return [self._convert(line)]
                    except Exception as exc:
                        raise self._describe(line, exc) from None
        return self.feed_lines(data)

    def feed_lines(self, data: bytes) -> list[M]:
        """``feed`` without its fast path for a chunk that is one whole line (a subclass may override it)."""
        fault: ProtocolError | None = None
        try:
            lines = self.split(data)
        except ProtocolError as err:
            lines, fault = err.messages, err
        return self.convert_lines(lines, fault, self._convert, self._convert)

    def convert_lines(
        self,
        lines: list[bytes],
        fault: ProtocolError | None,
        first: Callable[[bytes], M],
        rest: Callable[[bytes], M],
    ) -> list[M]:
        """The messages of ``lines`` (``first`` converts the first one, ``rest`` the others); raise ``fault``,
        or the ``DecodeError`` of the first line that does not convert, with the messages before it."""
        if fault is None:
            try:
                if first is rest:
                    return list(map(rest, lines))  # (map: no Python step per line)
                return [first(lines[0]), *map(rest, lines[1:])] if lines else []
            except Exception:
                pass  # find which line, below
        out: list[M] = []
        convert = first
        for line in lines:
            try:
                out.append(convert(line))
            except Exception as exc:
                fault = self._describe(line, exc)
                break
            convert = rest
        assert fault is not None
        fault.messages = out
        raise fault


class LinesCodec(Codec[str]):
    """Text lines. Options: ``encoding`` (ASCII-compatible, default UTF-8),
    ``errors`` (as for ``bytes.decode``, default ``strict``), ``max_frame``.

    A subclass may override ``decode_line`` (and ``describe_error``) to change how
    one line becomes a message."""

    name = "lines"
    kind = "text"

    def __init__(self, *, encoding: str = "utf-8", errors: str = "strict", max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame=max_frame)
        check_option(self.name, "encoding", encoding, str)
        check_option(self.name, "errors", errors, str)
        try:
            info = _pycodecs.lookup(encoding)
            _pycodecs.lookup_error(errors)
            line_ends = "\n\r".encode(info.name)
        except LookupError as exc:  # unknown, or not a text encoding ('hex')
            raise ConfigError(f"codec 'lines': option 'encoding': {exc}") from None
        if line_ends != b"\n\r":
            raise ConfigError(
                f"codec 'lines': option 'encoding' must encode LF and CR as single bytes "
                f"(UTF-8, Latin-1, ASCII, ...); {encoding!r} does not"
            )
        self.encoding = info.name
        self.errors = errors
        self._plain = info.name == "utf-8" and errors == "strict"  # str.encode()'s defaults: the fast path
        self._frame_limit = max_frame + 1  # a frame's size with its LF
        if "encoding" in self._options:  # a subclass may not take it as an option
            self._options["encoding"] = info.name  # "UTF8" and "utf-8" are the same codec

    def encode(self, message: str) -> bytes:
        if type(message) is str and "\n" not in message and "\r" not in message and self._plain:
            # Fast path: UTF-8 text without LF or CR, so only the encoding and the size can fail:
            # for those, the general path below gives the error.
            try:
                data = (message + "\n").encode()
            except UnicodeEncodeError:
                pass
            else:
                if len(data) <= self._frame_limit:
                    return data
        return self._text(message) + b"\n"

    def encode_many(self, messages: Iterable[str]) -> list[bytes]:
        """``encode``'s frames, checked for all messages at once: all ``str``, their text joined holds no LF
        and no CR (one ``memchr`` each) and could not exceed ``max_frame`` even at 4 bytes a character.
        Else, or for text that is not UTF-8 (a lone surrogate), the loop, which raises the first message's
        error."""
        items = messages if isinstance(messages, list) else list(messages)
        if self._plain and type(self).encode is LinesCodec.encode and set(map(type, items)) == {str}:
            text = "".join(items)
            if "\n" not in text and "\r" not in text and 4 * len(text) < self._frame_limit:
                lines: Iterator[str] = map(operator.concat, items, itertools.repeat("\n"))  # type: ignore[arg-type]
                try:  # (operator.concat: the fastest ``message + "\n"``; typed for sequences, hence the ignore)
                    return list(map(str.encode, lines))
                except UnicodeEncodeError:
                    pass
        return list(map(self.encode, items))

    def encode_parts(self, message: str) -> bytes | tuple[bytes, ...]:
        """A long line goes out as its text and its LF: no copy of the text just to append the LF."""
        if type(message) is not str or len(message) < _PARTS:
            return self.encode(message)
        return self._text(message), b"\n"

    def _text(self, message: str) -> bytes:
        """The bytes of ``message`` without its LF, or the ``EncodeError`` saying why it is no line."""
        if not isinstance(message, str):
            raise EncodeError(f"codec 'lines' sends str messages, got {type(message).__name__}")
        if "\n" in message:
            raise EncodeError(f"codec 'lines': message contains LF at position {message.index(chr(10))}")
        if message.endswith("\r"):
            raise EncodeError(
                f"codec 'lines': message ends with CR at position {len(message) - 1} "
                "(it would be taken for a CRLF line ending)"
            )
        try:
            data = message.encode(self.encoding, self.errors)
        except UnicodeEncodeError as exc:
            raise EncodeError(f"codec 'lines': {exc}") from None
        if len(data) > self.max_frame:
            raise EncodeError(f"codec 'lines': message of {len(data)} bytes exceeds max_frame={self.max_frame}")
        return data

    def line_converter(self) -> Callable[[bytes], str]:
        """``decode_line``, or the same conversion without a call layer when it is the plain UTF-8 one."""
        if type(self).decode_line is LinesCodec.decode_line and self.encoding == "utf-8" and self.errors == "strict":
            return bytes.decode
        return self.decode_line

    def decoder(self) -> Decoder[str]:
        return LineDecoder(self.max_frame, self.line_converter(), self.describe_error)

    def decode_line(self, line: bytes) -> str:
        """The text of one line (without its line ending)."""
        return line.decode(self.encoding, self.errors)

    def describe_error(self, line: bytes, exc: Exception) -> DecodeError:
        """The ``DecodeError`` for a line that ``decode_line`` refused."""
        where = ""
        if isinstance(exc, UnicodeDecodeError):
            where = f" at byte {exc.start}: {line[exc.start : exc.start + 8]!r}"
        return DecodeError(
            f"codec 'lines': line is not valid {self.encoding}{where} (set errors='replace' to accept it)",
            excerpt=excerpt_of(line),
        )
