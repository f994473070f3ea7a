"""Codecs: sans-I/O plugins that turn messages into frames and byte streams back into messages.

For plugin authors: subclass ``Codec`` (and ``Decoder``, or reuse ``LineDecoder``
for a line-based format), check options with ``check_option``, show offending
bytes with ``excerpt_of``, default ``max_frame`` to ``DEFAULT_MAX_FRAME``.
"""

from ..errors import excerpt_of
from .base import DEFAULT_MAX_FRAME, MAX_ID, Codec, Decoder, InPlace, Pieces, check_option
from .jsonl import JsonlCodec
from .lenprefix import LenPrefixCodec
from .lines import LineDecoder, LinesCodec
from .msgpack import MsgpackCodec
from .registry import ENTRY_POINT_GROUP, CodecSpec, available_codecs, codec_sources, get_codec
from .tagged import TaggedCodec

__all__ = [
    "DEFAULT_MAX_FRAME",
    "ENTRY_POINT_GROUP",
    "MAX_ID",
    "Codec",
    "CodecSpec",
    "Decoder",
    "InPlace",
    "JsonlCodec",
    "LenPrefixCodec",
    "LineDecoder",
    "LinesCodec",
    "MsgpackCodec",
    "Pieces",
    "TaggedCodec",
    "available_codecs",
    "check_option",
    "codec_sources",
    "excerpt_of",
    "get_codec",
]
