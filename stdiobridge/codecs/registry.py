"""Finding codecs by name: the four built-ins and plugins from the ``stdiobridge.codecs`` entry points."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import Codec, option_signature
from .jsonl import JsonlCodec
from .lenprefix import LenPrefixCodec
from .lines import LinesCodec
from .msgpack import MsgpackCodec

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUP", "get_codec", "available_codecs", "codec_sources", "CodecSpec"]

ENTRY_POINT_GROUP = "stdiobridge.codecs"

#: The values of ``Codec.kind`` the tools understand (``stdiobridge run``/``conform``, the Lambda mappings).
KINDS = ("json", "text", "bytes")

BUILTINS: dict[str, type[Codec[Any]]] = {
    cls.name: cls for cls in (LinesCodec, JsonlCodec, LenPrefixCodec, MsgpackCodec)
}

#: What ``get_codec`` accepts: a name, a table ``{"name": ..., **options}``, or a codec.
CodecSpec = str | Mapping[str, Any] | Codec[Any]


def _entry_points() -> list[EntryPoint]:
    """Every installed entry point of the group (importlib.metadata is imported only now: it is slow)."""
    from importlib.metadata import entry_points  # noqa: PLC0415  (lazy: ~15 ms at import time)

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _plugins() -> dict[str, EntryPoint]:
    """Entry points of installed plugins, by codec name (built-in names win)."""
    return {ep.name: ep for ep in _entry_points() if ep.name not in BUILTINS}


def available_codecs() -> list[str]:
    """Sorted names of every codec that ``get_codec`` can build, plugins included."""
    return sorted({*BUILTINS, *_plugins()})


def _origin(ep: EntryPoint) -> str:
    dist = ep.dist.name if ep.dist is not None else "?"
    return f"plugin {dist} ({ep.value})"


def codec_sources() -> dict[str, str]:
    """Where each codec comes from: ``built-in`` or the plugin's distribution and object.

    Each plugin is loaded to check it: one that fails to load, is not a ``Codec``
    subclass or has an unknown ``kind`` is marked ``BROKEN`` with the reason, and
    a plugin that reuses a built-in name is named next to the built-in it cannot replace.
    """
    sources = {name: "built-in" for name in BUILTINS}
    for ep in _entry_points():
        if ep.name in BUILTINS:
            sources[ep.name] += f"; {_origin(ep)} uses this name too and is ignored (rename it)"
            continue
        sources[ep.name] = _origin(ep)
        try:
            cls = _load(ep.name)
        except ConfigError as exc:
            sources[ep.name] += " BROKEN: " + str(exc).removeprefix(f"codec plugin {ep.name!r} ({ep.value}) ")
            continue
        if cls.kind not in KINDS:
            sources[ep.name] += f" BROKEN: kind {cls.kind!r} is not one of {', '.join(KINDS)}"
    return dict(sorted(sources.items()))


def _load(name: str) -> type[Codec[Any]]:
    if name in BUILTINS:
        return BUILTINS[name]
    ep = _plugins().get(name)
    if ep is None:
        raise ConfigError(f"unknown codec {name!r}; available: {', '.join(available_codecs())}")
    try:
        cls = ep.load()
    except Exception as exc:
        raise ConfigError(f"codec plugin {name!r} ({ep.value}) failed to load: {exc!r}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise ConfigError(f"codec plugin {name!r} ({ep.value}) is not a stdiobridge.Codec subclass: {cls!r}")
    return cls


def get_codec(spec: CodecSpec, /, **options: Any) -> Codec[Any]:
    """Build a codec from a name and keyword options, or from a ``{"name": ..., **options}`` table.

    A ``Codec`` instance is returned as is (then no options may be given).
    """
    if isinstance(spec, Codec):
        if options:
            raise ConfigError(f"codec {spec.name!r} is already built; options {sorted(options)} cannot apply")
        return spec
    if isinstance(spec, Mapping):
        table = dict(spec)
        name = table.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(
                f"a codec table needs a string 'name' (one of {', '.join(available_codecs())}); got {spec!r}"
            )
        table.update(options)
        options = table
    elif isinstance(spec, str):
        name = spec
    else:
        raise ConfigError(f"a codec is a name, a table with 'name', or a Codec; got {type(spec).__name__}")
    cls = _load(name)
    params = option_signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    allowed = sorted(n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)
    unknown = sorted(set(options) - set(allowed))
    if unknown and not takes_any:
        raise ConfigError(
            f"codec {name!r} has no option {unknown[0]!r}; its options are: {', '.join(allowed) or 'none'}"
        )
    try:
        return cls(**options)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"codec {name!r}: bad options {options!r}: {exc}") from exc
