"""Abstract bases for codecs: a codec turns messages into bytes and back, without I/O.

A codec is sans-I/O in the style of h11 and ``msgpack.Unpacker``: ``encode`` makes
the bytes of one frame, and a ``Decoder`` is fed whatever bytes arrived, in any
chunking, and hands back the whole messages they complete.
"""

from __future__ import annotations

import inspect
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from ..errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Codec", "Decoder", "DEFAULT_MAX_FRAME", "InPlace", "MAX_ID", "Pieces", "check_option", "option_signature"]

M = TypeVar("M")

DEFAULT_MAX_FRAME = 64 * 1024 * 1024
#: The largest request id of tagged mode (ids are 1 .. 2**32 - 1).
MAX_ID = 0xFFFFFFFF


class Decoder(ABC, Generic[M]):
    """Incremental decoder: ``feed`` bytes as they come, get whole messages back.

    ``feed`` raises a ``ProtocolError`` subclass (and only that) when the bytes
    break the codec; messages completed earlier in the same call ride on the
    exception's ``messages``. A decoder that raised is done: it must not be fed
    again (the front discards it with the child), so decoders keep no copy of
    their error. ``buffered`` is 0 exactly when the bytes fed so far end on a
    frame boundary.
    """

    __slots__ = ()

    @abstractmethod
    def feed(self, data: bytes) -> list[M]:
        """Take ``data`` and return the messages it completes, oldest first."""

    @property
    @abstractmethod
    def buffered(self) -> int:
        """Bytes held that do not make a whole frame yet."""

    def get_buffer(self) -> memoryview | None:
        """Where the next bytes of the stream may be read straight into, or ``None``: feed them instead.

        As ``asyncio.BufferedProtocol.get_buffer``: a decoder that knows how much of a big frame is still
        to come may lend a writable view of its rest, which saves a reader the allocation of every read
        and the copy that joins the chunks. Whoever reads into it releases the view, then reports the
        bytes with ``buffer_updated``. Calling ``feed`` instead stays right at any time. The default
        lends nothing."""
        return None

    def buffer_updated(self, nbytes: int) -> list[M]:
        """Take the ``nbytes`` just read into the start of ``get_buffer()``'s view; returns as ``feed``."""
        raise TypeError(f"{type(self).__name__} lends no buffer (get_buffer returned None)")


_SIGNATURES: dict[type, inspect.Signature] = {}

#: How ``Codec.tagged()`` tags a codec: by exact class (the built-ins' fast paths), else by ``kind``.
#: Filled by ``stdiobridge.codecs.tagged``.
TAGGERS: dict[type | str, Callable[[Any], Any]] = {}


def option_signature(cls: type[Any]) -> inspect.Signature:
    """The signature of ``cls.__init__`` without ``self``: the options a codec class takes."""
    sig = _SIGNATURES.get(cls)
    if sig is None:
        full = inspect.signature(cls.__init__)
        sig = full.replace(parameters=list(full.parameters.values())[1:])
        _SIGNATURES[cls] = sig
    return sig


def _rebuild(cls: type[Codec[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Codec[Any]:
    """Unpickle a codec: build it again from its class and construction arguments."""
    return cls(*args, **kwargs)


class Codec(ABC, Generic[M]):
    """A wire format: ``encode(message) -> bytes`` and a fresh ``decoder()`` per stream.

    Subclasses set ``name`` and ``kind`` and take their options as keyword-only
    ``__init__`` arguments (the registry reads that signature to reject unknown
    options); all of them accept ``max_frame``, the largest encoded frame they
    will make or accept. The arguments a codec is built with are recorded
    automatically (``options()``, with defaults applied): two codecs are equal
    when they have the same class and options, and a codec pickles as its class
    and arguments, so any importable subclass comes back as exactly that class.
    Codec instances are immutable and may be shared between threads.
    """

    name: ClassVar[str]
    #: What a message is: ``"json"`` (any JSON value), ``"text"`` (str) or ``"bytes"``.
    #: Tools that read messages from text (``stdiobridge run``, the conformance kit)
    #: and the default ``tagged()`` rely on it.
    kind: ClassVar[str] = "json"
    max_frame: int
    _args: tuple[Any, ...]
    _kwargs: dict[str, Any]
    _options: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        self._args = args
        self._kwargs = kwargs
        self._options = _bound_options(cls, args, kwargs)
        return self

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``inspect.signature(cls)`` shows the options (``__init__``), not ``__new__``'s (*args, **kwargs).
        setattr(cls, "__signature__", option_signature(cls))  # noqa: B010

    def __init__(self, *, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        check_option(self.name, "max_frame", max_frame, int)
        if max_frame < 1:
            raise ConfigError(f"codec {self.name!r}: option 'max_frame' must be >= 1, got {max_frame!r}")
        self.max_frame = max_frame

    @abstractmethod
    def encode(self, message: M) -> bytes:
        """The bytes of one frame carrying ``message``; raises ``EncodeError``."""

    def encode_parts(self, message: M) -> bytes | tuple[bytes, ...]:
        """``encode``, or the frame in a few pieces that a front writes back to back (one ``writev``).

        For a large message a codec can so leave the payload uncopied behind its header
        (``lenprefix``) or line ending (``lines``). The default is ``encode``; override it
        only for that."""
        return self.encode(message)

    def encode_many(self, messages: Iterable[M]) -> list[bytes]:
        """``[encode(m) for m in messages]``: the same frames, or the ``EncodeError`` of the first message
        that cannot be sent. ``call_many`` encodes its messages with it.

        The default is that loop; a codec may override it to check and encode them all at C speed
        (``msgpack`` does), falling back to the loop for the error."""
        return list(map(self.encode, messages))

    @abstractmethod
    def decoder(self) -> Decoder[M]:
        """A new incremental decoder for one byte stream (not to be fed again after it raised)."""

    def options(self) -> dict[str, Any]:
        """The options this codec was built with, defaults applied (used by ``repr`` and specs).

        Recorded by ``Codec`` itself: a subclass need not override it (equality and
        pickling use the recorded arguments, not this method)."""
        return dict(self._options)

    def tagged(self) -> Codec[tuple[int, M]]:
        """This codec with request ids on the wire: messages are ``(id, message)`` pairs.

        The default works from ``kind`` (``json``: ``[id, message]``; ``text``:
        ``"<id> <text>"``; ``bytes``: a 4-byte id in the codec's ``byteorder``
        attribute, else big-endian, before the message), through this codec's own
        ``encode`` and ``decoder``. A plugin may override it.
        """
        fast = TAGGERS.get(type(self)) or TAGGERS.get(self.kind)
        if fast is None:
            raise ConfigError(
                f"codec {self.name!r} has kind {self.kind!r}: tagged mode needs kind 'json', 'text' or 'bytes', "
                "or the codec's own tagged()"
            )
        tagged: Codec[tuple[int, M]] = fast(self)
        return tagged

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Codec):
            return NotImplemented
        return type(self) is type(other) and self._options == other._options

    def __hash__(self) -> int:
        try:
            return hash((type(self), tuple(self._options.items())))
        except TypeError:  # an unhashable option value: equal codecs still hash alike
            return hash((type(self), tuple(self._options)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._args, self._kwargs))

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"<{type(self).__name__} {self.name!r} {opts}>"


setattr(Codec, "__signature__", option_signature(Codec))  # noqa: B010


def _bound_options(cls: type[Codec[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The construction arguments by name, defaults applied (as given when they do not fit: ``__init__`` says why)."""
    sig = option_signature(cls)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        if sig.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    return out


class Pieces:
    """The bytes of one pending frame, held in at most about 1.2x their size however small the chunks.

    Chunks of ``_SMALL`` bytes or more are kept as they came (no copy); smaller ones
    are appended to a trailing ``bytearray``, so that a stream fed one byte at a
    time does not hold one object per byte. ``join`` makes the frame in one copy.
    """

    __slots__ = ("held", "parts")

    _SMALL = 512

    def __init__(self) -> None:
        self.parts: list[bytes | bytearray | memoryview] = []
        self.held = 0

    def append(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if n >= 512 and type(data) is bytes:  # (512: ``_SMALL``) the usual chunk first: a big frame in small reads
            self.held += n
            self.parts.append(data)
            return
        if not n:
            return
        self.held += n
        parts = self.parts
        if n >= self._SMALL:  # kept as is when immutable: bytes, or a view of bytes
            immutable = isinstance(data, bytes) or (isinstance(data, memoryview) and isinstance(data.obj, bytes))
            parts.append(data if immutable else bytes(data))
        elif parts and isinstance(parts[-1], bytearray):
            parts[-1] += data
        else:
            parts.append(bytearray(data))

    def join(self, last: bytes | memoryview = b"", skip: int = 0) -> bytes:
        """Everything held plus ``last``, without its first ``skip`` bytes, as one ``bytes``; then empty."""
        parts: list[Any] = self.parts
        if skip and parts and len(parts[0]) >= skip:
            parts[0] = memoryview(parts[0])[skip:]
            skip = 0
        if last:
            parts.append(last)
        joined = b"".join(parts)
        self.parts = []
        self.held = 0
        return joined[skip:] if skip else joined

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes held (fewer if fewer are held)."""
        out = b""
        for part in self.parts:
            out += bytes(part[: size - len(out)])
            if len(out) >= size:
                break
        return out

    def clear(self) -> None:
        self.parts = []
        self.held = 0


class InPlace:
    """A payload read straight into place (``Decoder.get_buffer``): one buffer of its whole ``size``, that
    starts with ``head``; ``view`` to read the rest into. ``take()`` hands it out as ``bytes``, without a copy
    once no other view of it is left."""

    __slots__ = ("_buf", "view")

    def __init__(self, head: bytes, size: int) -> None:
        buf = io.BytesIO(head)
        buf.seek(size - 1)
        buf.write(b"\0")  # sized at once (zero-filled: Python has no uninitialised bytes to read into)
        self._buf = buf
        self.view = buf.getbuffer()

    def take(self) -> bytes:
        self.view.release()
        return self._buf.getvalue()


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
