"""stdiobridge: start a program once, then talk to it over stdin/stdout with a pluggable codec."""

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
from .spec import BridgeSpec

__version__ = "0.1.0"

__all__ = [
    "Bridge",
    "BridgeSpec",
    "BridgeStats",
    "BridgeClosed",
    "BridgeError",
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
