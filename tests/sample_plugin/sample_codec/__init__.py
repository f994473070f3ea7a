"""A test plugin: text lines, ROT13 on the wire (a real, if silly, codec)."""

from __future__ import annotations

import codecs

from stdiobridge.codecs import LinesCodec


class Rot13Lines(LinesCodec):
    """Lines whose text is ROT13-encoded on the wire. Option ``shout``: upper-case on decode.

    Its options are recorded by ``Codec`` itself (``{"shout": ..., "max_frame": ...}``), so it
    pickles, compares and goes into a spec as exactly this class; ``decode_line`` is overridden
    as a plain method, and tagged mode comes from its ``kind`` ("text"), through its own framing.
    """

    name = "rot13-lines"

    def __init__(self, *, shout: bool = False, max_frame: int = 1 << 20) -> None:
        super().__init__(max_frame=max_frame)
        self.shout = shout

    def encode(self, message: str) -> bytes:
        return super().encode(codecs.encode(message, "rot13"))

    def decode_line(self, line: bytes) -> str:
        text = codecs.decode(super().decode_line(line), "rot13")
        return text.upper() if self.shout else text


NOT_A_CODEC = 42
