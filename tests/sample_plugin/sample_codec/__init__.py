"""A test plugin: text lines, ROT13 on the wire (a real, if silly, codec)."""

from __future__ import annotations

import codecs

from stdiobridge.codecs import LinesCodec
from stdiobridge.codecs.base import Decoder
from stdiobridge.codecs.lines import LineDecoder


class Rot13Lines(LinesCodec):
    """Lines whose text is ROT13-encoded on the wire. Option ``shout``: upper-case on decode."""

    name = "rot13-lines"

    def __init__(self, *, shout: bool = False, max_frame: int = 1 << 20) -> None:
        super().__init__(max_frame=max_frame)
        self.shout = shout

    def encode(self, message: str) -> bytes:
        return super().encode(codecs.encode(message, "rot13"))

    def decoder(self) -> Decoder[str]:
        def convert(line: bytes) -> str:
            text = codecs.decode(self.decode_line(line), "rot13")
            return text.upper() if self.shout else text

        return LineDecoder(self.max_frame, convert, self.describe_error)


NOT_A_CODEC = 42
