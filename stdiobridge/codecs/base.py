"""Abstract bases for codecs: a codec turns messages into bytes and back, without I/O.

A codec is sans-I/O in the style of h11 and ``msgpack.Unpacker``: ``encode`` makes
the bytes of one frame, and a ``Decoder`` is fed whatever bytes arrived, in any
chunking, and hands back the whole messages they complete.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import Any, ClassVar, Generic, TypeVar

from ..errors import ConfigError

__all__ = ["Codec", "Decoder", "DEFAULT_MAX_FRAME", "check_option"]

M = TypeVar("M")

DEFAULT_MAX_FRAME = 64 * 1024 * 1024


class Decoder(ABC, Generic[M]):
    """Incremental decoder: ``feed`` bytes as they come, get whole messages back.

    ``feed`` raises a ``ProtocolError`` subclass (and only that) when the bytes
    break the codec; messages completed earlier in the same call ride on the
    exception's ``messages``. After that the decoder is unusable: every further
    ``feed`` raises the same error again (``error.again()``: with no messages, so
    none is delivered twice). ``buffered`` is 0 exactly when the bytes fed so far
    end on a frame boundary.
    """

    __slots__ = ()

    @abstractmethod
    def feed(self, data: bytes) -> list[M]:
        """Take ``data`` and return the messages it completes, oldest first."""

    @property
    @abstractmethod
    def buffered(self) -> int:
        """Bytes held that do not make a whole frame yet."""


class Codec(ABC, Generic[M]):
    """A wire format: ``encode(message) -> bytes`` and a fresh ``decoder()`` per stream.

    Subclasses set ``name`` and take their options as keyword-only ``__init__``
    arguments (the registry reads that signature to reject unknown options); all
    of them accept ``max_frame``, the largest encoded frame they will make or
    accept. Codec instances are immutable and may be shared between threads.
    """

    name: ClassVar[str]
    #: What a message is, for tools that read messages from text (``stdiobridge run``,
    #: the conformance kit): ``"json"`` (any JSON value), ``"text"`` (str) or ``"bytes"``.
    kind: ClassVar[str] = "json"
    max_frame: int

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        check_option(self.name, "max_frame", max_frame, int)
        if max_frame < 1:
            raise ConfigError(f"codec {self.name!r}: option 'max_frame' must be >= 1, got {max_frame!r}")
        self.max_frame = max_frame

    @abstractmethod
    def encode(self, message: M) -> bytes:
        """The bytes of one frame carrying ``message``; raises ``EncodeError``."""

    @abstractmethod
    def decoder(self) -> Decoder[M]:
        """A new incremental decoder for one byte stream."""

    def options(self) -> dict[str, Any]:
        """The options this codec was built with (used by ``repr`` and specs)."""
        return {"max_frame": self.max_frame}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"<{type(self).__name__} {self.name!r} {opts}>"


def check_option(
    codec: str,
    option: str,
    value: object,
    kind: type | tuple[type, ...],
    allowed: Collection[object] | None = None,
) -> None:
    """Raise ``ConfigError`` naming codec, option and what is allowed when ``value`` is off."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    wrong_type = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    if wrong_type:
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"codec {codec!r}: option {option!r} must be {names}, got {type(value).__name__} {value!r}")
    if allowed is not None and value not in allowed:
        raise ConfigError(
            f"codec {codec!r}: option {option!r} must be one of {', '.join(map(repr, allowed))}; got {value!r}"
        )
