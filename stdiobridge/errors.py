"""The exception hierarchy: every error stdiobridge raises is a ``BridgeError``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "BridgeError",
    "ConfigError",
    "SpawnError",
    "ChildExited",
    "CallTimeout",
    "ProtocolError",
    "DecodeError",
    "FrameTooLarge",
    "EncodeError",
    "BridgeClosed",
    "excerpt_of",
]

EXCERPT_BYTES = 120


def excerpt_of(data: bytes | bytearray | memoryview, limit: int = EXCERPT_BYTES) -> bytes:
    """First ``limit`` bytes of ``data``: enough to recognise, small enough to log."""
    return bytes(data[:limit])


class BridgeError(Exception):
    """Base class of every error raised by stdiobridge.

    ``results``: for a failed ``call_many``, the responses received before the failure.
    Errors raised by the scale-out faces also name where in the input they happened:
    ``batch_index``, ``first_event`` and ``size`` of the batch, ``event_index`` of the
    event, and ``in_flight`` (what became of the other batches in flight).
    """

    results: Sequence[Any] = ()
    # Set by the scale-out faces only; declared without a class value so that an engine's wrapper
    # (Ray's RayTaskError) still forwards them to the error it wraps.
    batch_index: int | None
    first_event: int | None
    size: int | None
    event_index: int | None
    in_flight: Sequence[Any]


class ConfigError(BridgeError, ValueError):
    """A setting is unknown, missing or has the wrong type or value."""


class SpawnError(BridgeError, OSError):
    """The child program could not be started (not found, not executable, ...)."""


class ChildExited(BridgeError):
    """The child died or closed its stdout before answering.

    ``returncode`` is the exit status (negative: killed by that signal; ``None``:
    unknown), ``stderr_tail`` the last lines it wrote to stderr, ``partial`` the
    bytes of an incomplete response frame, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        stderr_tail: str = "",
        partial: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.partial = partial


class CallTimeout(BridgeError, TimeoutError):
    """No whole response arrived before the deadline; ``received`` bytes had."""

    def __init__(self, message: str, *, received: int = 0, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.received = received
        self.stderr_tail = stderr_tail


class ProtocolError(BridgeError):
    """Bytes from the child break the codec; ``excerpt`` shows the offending bytes.

    ``messages`` holds the whole messages decoded from the same input before the
    fault, so that a caller can still hand them to whoever was waiting for them.
    The decoder that raised it is done: it is discarded, never fed again.
    """

    def __init__(self, message: str, *, excerpt: bytes = b"") -> None:
        super().__init__(message)
        self.excerpt = excerpt
        self.messages: list[Any] = []


class DecodeError(ProtocolError):
    """A frame arrived whole but its content is not valid for the codec."""


class FrameTooLarge(ProtocolError):
    """A frame is larger than ``max_frame``; it was refused before being buffered."""

    def __init__(self, message: str, *, excerpt: bytes = b"", size: int | None = None, limit: int = 0) -> None:
        super().__init__(message, excerpt=excerpt)
        self.size = size
        self.limit = limit


class EncodeError(BridgeError, ValueError):
    """A message cannot be encoded by the codec; nothing was sent."""


class BridgeClosed(BridgeError):
    """The bridge was closed; no more calls are accepted."""
