"""Splitting a byte stream into LF-terminated lines in linear time, whatever the chunking.

Like h11's receive buffer, it remembers how far it has already searched for the
next LF, so a long line fed in small chunks is scanned once, and it drops
consumed bytes once per ``feed`` rather than once per line.
"""

from __future__ import annotations

from ..errors import FrameTooLarge, excerpt_of

__all__ = ["LineBuffer"]


class LineBuffer:
    """Accumulates bytes and cuts whole lines (LF removed, one CR before it removed).

    ``max_line`` bounds a line's length without its line ending; a longer one
    raises ``FrameTooLarge`` as soon as it is certain, before it is held whole.
    """

    __slots__ = ("_buf", "_scanned", "max_line")

    def __init__(self, max_line: int) -> None:
        self._buf = bytearray()
        self._scanned = 0  # no LF in self._buf[:self._scanned]
        self.max_line = max_line

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def split(self, data: bytes) -> list[bytes]:
        """Return the whole lines that ``data`` completes."""
        buf = self._buf
        buf += data
        lines: list[bytes] = []
        start = 0
        find = buf.find
        nl = find(b"\n", self._scanned)
        if nl >= 0:
            with memoryview(buf) as view:  # one copy per line, not two
                while nl >= 0:
                    end = nl - 1 if nl > start and buf[nl - 1] == 0x0D else nl
                    if end - start > self.max_line:
                        raise self._too_large(bytes(view[start : min(end, start + 64)]), lines, end - start)
                    lines.append(view[start:end].tobytes())
                    start = nl + 1
                    nl = find(b"\n", start)
        if start:
            del buf[:start]
        self._scanned = len(buf)
        # A partial line may still end in the CR of a CRLF, which does not count.
        limit = self.max_line + 1 if buf.endswith(b"\r") else self.max_line
        if len(buf) > limit:
            raise self._too_large(bytes(buf[:64]), lines, len(buf))
        return lines

    def _too_large(self, head: bytes, lines: list[bytes], size: int) -> FrameTooLarge:
        err = FrameTooLarge(
            f"a line of {size}+ bytes exceeds max_frame={self.max_line}",
            excerpt=excerpt_of(head),
            limit=self.max_line,
        )
        err.messages = list(lines)
        self._buf = bytearray()
        self._scanned = 0
        return err
