"""Splitting a byte stream into LF-terminated lines in linear time, whatever the chunking.

Like h11's receive buffer, it never searches the same bytes twice: what it holds
between calls is one partial line (no LF in it), kept as ``Pieces`` (about its own
size in memory, however small the chunks) and joined once, when its LF arrives.
Each ``split`` looks for the last LF only in the bytes just fed and cuts every
whole line at C speed (``bytes.split`` for short lines, memchr-based ``find`` for
long ones).
"""

from __future__ import annotations

from ..errors import FrameTooLarge, excerpt_of
from .base import Pieces

__all__ = ["LineBuffer"]

_LONG = 4096  # a first line this long: cut by memchr-based find, not byte-by-byte split


def _cut(block: bytes) -> list[bytes]:
    """The lines of ``block`` (which ends with LF), without their LFs.

    ``bytes.split`` is fastest for many short lines but walks byte by byte; ``find``
    jumps with memchr, so long lines are cut with it.
    """
    nl = block.find(b"\n")
    if nl < _LONG:
        lines = block.split(b"\n")
        lines.pop()  # the empty piece after the final LF
        return lines
    lines = []
    start = 0
    while nl >= 0:
        lines.append(block[start:nl])
        start = nl + 1
        nl = block.find(b"\n", start)
    return lines


class LineBuffer:
    """Accumulates bytes and cuts whole lines (LF removed, one CR before it removed).

    ``max_line`` bounds a line's length without its line ending; a longer one
    raises ``FrameTooLarge`` as soon as it is certain, before it is held whole.
    """

    __slots__ = ("_cr", "_pending", "max_line")

    def __init__(self, max_line: int) -> None:
        self._pending = Pieces()  # one partial line: never an LF in it
        self._cr = False  # the partial line ends with CR (maybe of a CRLF, which does not count)
        self.max_line = max_line

    @property
    def buffered(self) -> int:
        return self._pending.held

    def split(self, data: bytes) -> list[bytes]:
        """Return the whole lines that ``data`` completes."""
        last = data.rfind(b"\n")  # only the new bytes can hold an LF
        pending = self._pending
        if last < 0:
            if data:
                pending.append(data)
                self._cr = data.endswith(b"\r")
                self._check_partial([])
            return []
        crlf = data.find(b"\r") >= 0  # memchr; a CR that ends no line is left alone below
        size = pending.held + last + 1  # bytes of the whole lines, line endings included
        if pending.held:
            # The first line is the held part and the new bytes up to the first LF: one join, no other copy.
            nl = data.find(b"\n")
            crlf = crlf or (nl == 0 and self._cr)
            first = pending.join(memoryview(data)[:nl])
            lines = [first] if nl == last else [first, *_cut(data[nl + 1 : last + 1])]
        else:
            lines = _cut(data if last == len(data) - 1 else data[: last + 1])
        rest = data[last + 1 :]
        if rest:
            pending.append(rest)
            self._cr = rest.endswith(b"\r")
        if crlf:
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        if size > self.max_line and max(map(len, lines)) > self.max_line:
            first_long = next(i for i, line in enumerate(lines) if len(line) > self.max_line)
            raise self._too_large(lines[first_long][:64], lines[:first_long], len(lines[first_long]))
        self._check_partial(lines)
        return lines

    def _check_partial(self, lines: list[bytes]) -> None:
        # A partial line may still end in the CR of a CRLF, which does not count.
        held = self._pending.held
        if held > self.max_line + self._cr:
            raise self._too_large(self._pending.head(64), lines, held)

    def _too_large(self, head: bytes, lines: list[bytes], size: int) -> FrameTooLarge:
        err = FrameTooLarge(
            f"a line of {size}+ bytes exceeds max_frame={self.max_line}",
            excerpt=excerpt_of(head),
            limit=self.max_line,
        )
        err.messages = list(lines)
        self._pending.clear()
        return err
