"""``jsonl``: one JSON value per line, encoded and decoded with orjson.

Numbers are never changed silently: NaN and infinities (which JSON cannot hold, and
orjson would write as ``null``) are refused with ``EncodeError``; an integer
beyond 64 bits from the child (which orjson would turn into a rounded float) is
decoded exactly, by the standard library's parser for that line.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from ..errors import DecodeError, EncodeError, excerpt_of
from .base import Codec, Decoder
from .lines import LineDecoder

__all__ = ["JsonlCodec", "dumps_line", "loads_line"]

_APPEND_NL = orjson.OPT_APPEND_NEWLINE
# Digits -> "0", anything else -> " ": an integer orjson would turn into a float has 19+ digits in a row.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_exact_loads = json.JSONDecoder(parse_constant=_refuse_constant).decode


def loads_line(line: bytes) -> Any:
    """The JSON value of one line; integers of any size stay exact integers."""
    if len(line) >= 19:
        # A run of 19 digits holds a byte at an index divisible by 19: look at those first (cheap),
        # and for a run only when one of them is a digit.
        sample = line[::19]
        if len(sample.translate(None, b"0123456789")) != len(sample) and _LONG_RUN in line.translate(_DIGITS):
            return _exact_loads(line.decode())  # a long digit run: maybe an integer orjson would round
    return orjson.loads(line)


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

    def encode(self, message: Any) -> bytes:
        try:
            data = orjson.dumps(message, option=_APPEND_NL)
        except orjson.JSONEncodeError:
            return dumps_line(message, type(message).__name__, self.max_frame)  # words the error
        if len(data) > 4096 or data.find(b"null") >= 0 or len(data) - 1 > self.max_frame:
            return dumps_line(message, type(message).__name__, self.max_frame)  # the checks, at length
        return data

    def decoder(self) -> Decoder[Any]:
        return LineDecoder(self.max_frame, loads_line, describe_line)
