"""stdiobridge: start a program once, then talk to it over stdin/stdout with a pluggable codec."""

from .aio import AsyncBridge
from .bridge import Bridge
from .codecs import Codec, Decoder, available_codecs, get_codec
from .config import Settings, load_config
from .core import BridgeStats
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
from .pool import AsyncBridgePool, BridgePool
from .spec import BridgeSpec

__version__ = "0.1.0"

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
