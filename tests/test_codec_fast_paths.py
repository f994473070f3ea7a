"""The codecs' fast paths give exactly what their general paths give: the same bytes, the same errors.

Each test runs a codec with its fast path and one with the fast path switched off
(a private flag) on inputs chosen to trip every check; a fast path that skipped a
check would return bytes where the general path raises.
"""

from __future__ import annotations

from typing import Any

import pytest

import stdiobridge as sb
from stdiobridge.codecs import Codec, LinesCodec


def _outcome(codec: Codec[Any], message: Any) -> tuple[str, Any]:
    try:
        return "ok", codec.encode(message)
    except Exception as exc:
        return type(exc).__name__, str(exc)


LINES = ["", "x", "a\rb", "a\nb", "\n", "ab\r", "\r", "a\r\n", "é€😀", "\ud800", "x" * 10, "x" * 11, "éé", 7, b"x"]


@pytest.mark.parametrize("message", LINES, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_lines_encode_fast_path_matches_the_general_path(message: Any, tagged: bool) -> None:
    fast = LinesCodec(max_frame=10)
    general = LinesCodec(max_frame=10)
    general._plain = False  # the fast path's switch
    assert fast._plain
    if tagged:
        fast_t, general_t = fast.tagged(), general.tagged()
        assert general_t._plain is False  # type: ignore[attr-defined]
        for ident in (1, 7, 12345, 2**32 - 1):
            assert _outcome(fast_t, (ident, message)) == _outcome(general_t, (ident, message))
    else:
        assert _outcome(fast, message) == _outcome(general, message)


def _fed(codec: Codec[Any], chunks: list[bytes]) -> tuple[str, Any]:
    """What a fresh decoder gives for ``chunks``: its messages, or the error with the messages riding on it."""
    dec = codec.decoder()
    got: list[Any] = []
    try:
        for chunk in chunks:
            got.extend(dec.feed(chunk))
    except sb.FrameTooLarge as exc:  # its size is a lower bound, and depends on the reads ("a line of 12+ bytes")
        return "FrameTooLarge", got + exc.messages
    except Exception as exc:
        return type(exc).__name__, (str(exc), getattr(exc, "excerpt", None), got + getattr(exc, "messages", []))
    return "ok", (got, dec.buffered)


def _whole_is_split(codec: Codec[Any], frame: bytes) -> None:
    """A chunk fed whole (the single-frame fast paths) decodes as when it comes in two reads (the general path)."""
    whole = _fed(codec, [frame])
    for cut in {1, len(frame) // 2, len(frame) - 1}:
        if 0 < cut < len(frame):
            assert whole == _fed(codec, [frame[:cut], frame[cut:]]), cut


LINE_FRAMES = [
    b"\n", b"\r\n", b"x\n", b"x\r\n", b"x\r\r\n", b"\rx\n", b"a\rb\n", b"a\nb\n", b"a\nb", b"x" * 10 + b"\n",
    b"x" * 10 + b"\r\n", b"x" * 11 + b"\n", b"x" * 11 + b"\r\n", b"a\xffb\n", "é€\n".encode(), b"x",
]  # fmt: skip


@pytest.mark.parametrize("frame", LINE_FRAMES, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_lines_single_line_fast_path_matches_the_general_path(frame: bytes, tagged: bool) -> None:
    for codec in (LinesCodec(max_frame=10), LinesCodec(max_frame=10, errors="replace")):
        if tagged:
            _whole_is_split(codec.tagged(), frame)
            _whole_is_split(codec.tagged(), b"12 " + frame)
        else:
            _whole_is_split(codec, frame)
