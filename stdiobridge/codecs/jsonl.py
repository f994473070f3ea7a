"""``jsonl``: one JSON value per line, encoded and decoded with orjson."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import DecodeError, EncodeError, excerpt_of
from .base import Codec, Decoder
from .lines import LineDecoder

__all__ = ["JsonlCodec"]

_APPEND_NL = orjson.OPT_APPEND_NEWLINE


def _describe(line: bytes, exc: Exception) -> DecodeError:
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
        except orjson.JSONEncodeError as exc:
            raise EncodeError(f"codec 'jsonl': cannot encode {type(message).__name__}: {exc}") from None
        if len(data) - 1 > self.max_frame:
            raise EncodeError(f"codec 'jsonl': message of {len(data) - 1} bytes exceeds max_frame={self.max_frame}")
        return data

    def decoder(self) -> Decoder[Any]:
        return LineDecoder(self.max_frame, orjson.loads, _describe)
