"""``jsonl``: one JSON value per line, encoded and decoded with orjson.

Numbers are never changed silently: NaN and infinities (which JSON cannot hold, and
orjson would write as ``null``) are refused with ``EncodeError``; an integer
beyond 64 bits from the child (which orjson would turn into a rounded float) is
decoded exactly, by the standard library's parser for that line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from ..errors import DecodeError, EncodeError, ProtocolError, excerpt_of
from .base import DEFAULT_MAX_FRAME, Codec, Decoder
from .lines import LineDecoder

__all__ = ["JsonlCodec", "JsonlDecoder", "check_line", "dumps_line", "loads_line"]

M = TypeVar("M")

_APPEND_NL = orjson.OPT_APPEND_NEWLINE
# Digits -> "0", anything else -> " ": an integer orjson would turn into a float has 19+ digits in a row.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19
_TWO = b"00"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _exact_loads(text: str) -> Any:
    """The stdlib's exact parser (imported on first use: it is the rare path)."""
    import json  # noqa: PLC0415  (cold start: only a line with a 19-digit run needs it)

    return json.JSONDecoder(parse_constant=_refuse_constant).decode(text)


def may_hold_long_int(data: bytes) -> bool:
    """Whether ``data`` has a run of 19 digits (an integer beyond 64 bits has one; orjson would round it)."""
    # Cheap samples first, the whole scan last. Such a run holds a byte at a multiple of 19 (``48 in``: a
    # memchr for b"0"), and two bytes at consecutive multiples of 9 (19 bytes span two of them, whatever the
    # start): many short numbers pass the first test, seldom the second. (find() beats ``in`` for a bytes needle.)
    return (
        len(data) >= 19
        and 48 in data[::19].translate(_DIGITS)
        and data[::9].translate(_DIGITS).find(_TWO) >= 0
        and data.translate(_DIGITS).find(_LONG_RUN) >= 0
    )


def loads_line(line: bytes) -> Any:
    """The JSON value of one line; integers of any size stay exact integers."""
    # ``may_hold_long_int(line)`` inlined (it runs per line; a call costs a third of the check), without its
    # every-ninth-byte step: that one pays off across a chunk of many numbers, not within one line
    if len(line) >= 19 and 48 in line[::19].translate(_DIGITS) and line.translate(_DIGITS).find(_LONG_RUN) >= 0:
        return _exact_loads(line.decode())  # maybe an integer orjson would round: the exact parser
    return orjson.loads(line)


class JsonlDecoder(LineDecoder[M]):
    """``LineDecoder`` for JSON lines that checks each chunk of several lines, not each line, for integers
    orjson would round.

    ``exact`` converts a line that may hold one (``loads_line`` based), ``fast`` one that
    cannot (``orjson.loads`` based). The first line of a feed that completes a held
    partial line is always converted with ``exact`` (its digits may span the reads).
    """

    __slots__ = ("_fast",)

    def __init__(
        self,
        max_frame: int,
        exact: Callable[[bytes], M],
        fast: Callable[[bytes], M],
        describe: Callable[[bytes, Exception], DecodeError],
    ) -> None:
        super().__init__(max_frame, exact, describe)
        self._fast = fast

    def feed_lines(self, data: bytes) -> list[M]:
        # (A chunk that is one whole line is converted by ``exact`` in ``LineDecoder.feed``: the check is the same.)
        convert = self._convert if may_hold_long_int(data) else self._fast
        first = self._convert if self._pending.held else convert
        fault: ProtocolError | None = None
        try:
            lines = self.split(data)
        except ProtocolError as err:
            lines, fault = err.messages, err
        return self.convert_lines(lines, fault, first, convert)


def _non_finite(value: Any, budget: int) -> float | None:
    """A NaN or infinity inside ``value``; raises ``LookupError`` after ``budget`` containers and floats."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return item
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
        else:
            continue
        budget -= 1
        if budget < 0:
            raise LookupError("walk too long")
    return None


def _find_non_finite(value: Any, data: bytes) -> float | None:
    """A NaN or infinity inside ``value``, whose JSON is ``data`` (it holds ``null`` where one was)."""
    if len(data) < 4096:
        return _non_finite(value, 1 << 62) if data.find(b"null") >= 0 else None
    # Large: walking the message costs per value, searching the bytes per byte: walk while that is cheaper.
    try:
        return _non_finite(value, len(data) >> 7)
    except LookupError:
        return _non_finite(value, 1 << 62) if data.find(b"null") >= 0 else None


def dumps_line(value: Any, what: str, max_frame: int) -> bytes:
    """The compact JSON of ``value`` and an LF; ``EncodeError`` naming ``what`` when it cannot be sent exactly."""
    try:
        data = orjson.dumps(value, option=_APPEND_NL)
    except orjson.JSONEncodeError as exc:
        raise EncodeError(f"codec 'jsonl': cannot encode {what}: {exc}") from None
    return check_line(data, value, what, max_frame)


def check_line(data: bytes, value: Any, what: str, max_frame: int) -> bytes:
    """``data``, orjson's line for ``value``, if it holds ``value`` exactly within ``max_frame``; else ``EncodeError``."""
    if len(data) > 4096 or data.find(b"null") >= 0:
        bad = _find_non_finite(value, data)  # orjson writes NaN and infinities as null
        if bad is not None:
            raise EncodeError(f"codec 'jsonl': cannot encode {what}: {bad} is not a JSON number")
    if len(data) - 1 > max_frame:
        raise EncodeError(f"codec 'jsonl': message of {len(data) - 1} bytes exceeds max_frame={max_frame}")
    return data


def describe_line(line: bytes, exc: Exception) -> DecodeError:
    """The ``DecodeError`` for a line that is not JSON."""
    shown = excerpt_of(line)
    return DecodeError(
        f"codec 'jsonl': the child wrote a line that is not JSON ({exc}): {shown!r}. "
        "Is the child printing logs to stdout? Logs belong on stderr.",
        excerpt=shown,
    )


class JsonlCodec(Codec[Any]):
    """JSON lines (any JSON value per line). Option: ``max_frame``."""

    name = "jsonl"

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_frame=max_frame)
        self._fast_size = min(4096, max_frame + 1)  # a line up to this size (LF included) skips the long checks

    def encode(self, message: Any) -> bytes:
        try:
            data = orjson.dumps(message, option=_APPEND_NL)
        except orjson.JSONEncodeError:
            return dumps_line(message, type(message).__name__, self.max_frame)  # raises, wording the error
        # Fast path: a short line without an "n" byte holds no null (where orjson wrote a NaN or an
        # infinity): ``check_line`` would return it as it is. ``110 in data`` is one memchr.
        if 110 not in data and len(data) <= self._fast_size:
            return data
        return check_line(data, message, type(message).__name__, self.max_frame)

    def decoder(self) -> Decoder[Any]:
        return JsonlDecoder(self.max_frame, loads_line, orjson.loads, describe_line)
