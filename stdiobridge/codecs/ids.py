"""The request ids of tagged mode: what a tagged frame must hold, shared by the tagged codecs."""

from __future__ import annotations

from typing import Any

from ..errors import DecodeError, excerpt_of
from .base import MAX_ID

__all__ = ["HINT", "NotTagged", "json_pair", "not_tagged"]

HINT = "Is the child printing logs to stdout (logs belong on stderr), or not running in tagged mode (STDIOBRIDGE_TAGGED=1)?"


class NotTagged(ValueError):
    """A frame that the codec decoded but that is not a tagged frame; says why."""


def not_tagged(codec: str, frame: bytes, why: str) -> DecodeError:
    shown = excerpt_of(frame)
    return DecodeError(f"codec {codec!r} (tagged): not a tagged frame ({why}): {shown!r}. {HINT}", excerpt=shown)


def json_pair(value: Any) -> tuple[int, Any]:
    """``(id, message)`` of a decoded json-kind tagged frame ``[id, message]``; ``NotTagged`` if it is not one."""
    if type(value) is not list and type(value) is not tuple:
        raise NotTagged(f"not an array but {type(value).__name__}")
    if len(value) != 2:
        raise NotTagged(f"an array of {len(value)} elements, not 2")
    ident = value[0]
    if type(ident) is not int:
        raise NotTagged(f"the id is {type(ident).__name__} {ident!r}, not an integer")
    if not 0 < ident <= MAX_ID:
        raise NotTagged(f"the id {ident} is outside 1 .. {MAX_ID}")
    return ident, value[1]
