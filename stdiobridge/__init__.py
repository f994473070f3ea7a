"""stdiobridge: start a program once, then talk to it over stdin/stdout with a pluggable codec.

The public names are imported on first use (module ``__getattr__``), so that
``import stdiobridge`` and one ``Bridge`` load neither asyncio, the pools nor the
plugin registry's ``importlib.metadata``: a Lambda cold start pays only for what
it uses. The errors are light and imported at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BridgeClosed,
    BridgeError,
    CallTimeout,
    ChildExited,
    ConfigError,
    DecodeError,
    EncodeError,
    FrameTooLarge,
    ProtocolError,
    SpawnError,
)

if TYPE_CHECKING:
    from .aio import AsyncBridge
    from .bridge import Bridge
    from .codecs import Codec, Decoder, available_codecs, get_codec
    from .config import Settings, load_config
    from .core import BridgeStats
    from .pool import AsyncBridgePool, BridgePool
    from .spec import BridgeSpec

__version__ = "0.1.0"

#: Public name -> the submodule that defines it (imported when the name is first used).
_LAZY: dict[str, str] = {
    "AsyncBridge": ".aio",
    "AsyncBridgePool": ".pool",
    "Bridge": ".bridge",
    "BridgePool": ".pool",
    "BridgeSpec": ".spec",
    "BridgeStats": ".core",
    "Codec": ".codecs",
    "Decoder": ".codecs",
    "Settings": ".config",
    "available_codecs": ".codecs",
    "get_codec": ".codecs",
    "load_config": ".config",
}

__all__ = [
    "AsyncBridge",
    "AsyncBridgePool",
    "Bridge",
    "BridgeSpec",
    "BridgeStats",
    "BridgeClosed",
    "BridgeError",
    "BridgePool",
    "CallTimeout",
    "ChildExited",
    "Codec",
    "ConfigError",
    "DecodeError",
    "Decoder",
    "EncodeError",
    "FrameTooLarge",
    "ProtocolError",
    "Settings",
    "SpawnError",
    "available_codecs",
    "get_codec",
    "load_config",
]


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use and cache the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stdiobridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
