"""Codecs: sans-I/O plugins that turn messages into frames and byte streams back into messages."""

from .base import DEFAULT_MAX_FRAME, Codec, Decoder
from .jsonl import JsonlCodec
from .lenprefix import LenPrefixCodec
from .lines import LinesCodec
from .msgpack import MsgpackCodec
from .registry import ENTRY_POINT_GROUP, CodecSpec, available_codecs, codec_sources, get_codec

__all__ = [
    "DEFAULT_MAX_FRAME",
    "ENTRY_POINT_GROUP",
    "Codec",
    "CodecSpec",
    "Decoder",
    "JsonlCodec",
    "LenPrefixCodec",
    "LinesCodec",
    "MsgpackCodec",
    "available_codecs",
    "codec_sources",
    "get_codec",
]
