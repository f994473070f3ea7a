"""The codecs' fast paths give exactly what their general paths give: the same bytes, the same errors.

Each test runs a codec with its fast path and one with the fast path switched off
(a private flag) on inputs chosen to trip every check; a fast path that skipped a
check would return bytes where the general path raises.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

import stdiobridge as sb
from stdiobridge.codecs import Codec, JsonlCodec, LenPrefixCodec, LinesCodec, MsgpackCodec
from stdiobridge.codecs.jsonl import dumps_line


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


JSON_VALUES = [
    None, 1, "x", "n", "null", [None], {"a": float("nan")}, [1, [float("inf")]], -float("inf"), 1.5, 2**64, 2**70,
    {"k": "v" * 9}, "v" * 10, "v" * 20, ["x" * 5000], ["n" * 5000], [float("nan")] + ["x"] * 3000, {1: 2}, object(),
]  # fmt: skip


def _dumps_outcome(value: Any, what: Any, max_frame: int) -> tuple[str, Any]:
    try:
        return "ok", dumps_line(value, type(what).__name__, max_frame)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
@pytest.mark.parametrize("max_frame", [12, 4095, 4096, 1 << 20])
def test_jsonl_encode_fast_path_matches_dumps_line(value: Any, max_frame: int) -> None:
    codec = JsonlCodec(max_frame=max_frame)
    assert _outcome(codec, value) == _dumps_outcome(value, value, max_frame)
    assert _outcome(codec.tagged(), (9, value)) == _dumps_outcome([9, value], value, max_frame)


JSON_FRAMES = [
    b"1\n", b"1\r\n", b"1\r\r\n", b"\n", b"\r\n", b"x\n", b"[1,2]\n", b"[1,2]\n3\n", b"NaN\n",
    b"12345678901234567890123\n", b"[7,-12345678901234567890123]\n", b'"' + b"x" * 20 + b'"\n',
    b"[" + b"1," * 30 + b"1]\n", b"1",
]  # fmt: skip


@pytest.mark.parametrize("frame", JSON_FRAMES, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_jsonl_single_line_fast_path_matches_the_general_path(frame: bytes, tagged: bool) -> None:
    codec = JsonlCodec(max_frame=24)
    _whole_is_split(codec.tagged() if tagged else codec, frame)


@pytest.mark.parametrize("size", [0, 1, 3, 4, 250, 251, 252, 255, 256])
@pytest.mark.parametrize(("width", "max_frame"), [(1, 1 << 20), (4, 254), (4, 255), (4, 1 << 20)])
@pytest.mark.parametrize("tagged", [False, True])
def test_lenprefix_encode_fast_path_for_bytes_matches_the_general_path(
    size: int, width: int, max_frame: int, tagged: bool
) -> None:
    codec: Codec[Any] = LenPrefixCodec(width=width, max_frame=max_frame)
    if tagged:
        codec = codec.tagged()
    message, general = b"x" * size, bytearray(b"x" * size)  # bytes take the fast path, a bytearray the general one
    if tagged:
        assert _outcome(codec, (5, message)) == _outcome(codec, (5, general))
    else:
        assert _outcome(codec, message) == _outcome(codec, general)


LENPREFIX_FRAMES = [
    b"\x00\x00\x00\x00", b"\x00\x00\x00\x01x", b"\x00\x00\x00\x03abc", b"\x00\x00\x00\x04\x00\x00\x00\x00",
    b"\x00\x00\x00\x04\x00\x00\x00\x07", b"\x00\x00\x00\x06\x00\x00\x00\x07hi", b"\x00\x00\x00\x06\x00\x00\x00\x00hi",
    b"\x00\x00\x00\x09\x00\x00\x00\x07hi", b"\x00\x00\x00\x05\x00\x00\x00\x07hi", b"\x00\x00\x00\x0c" + b"x" * 12,
    b"\x00\x00\x00\x0b" + b"x" * 11, b"\x00\x00\x00\x01",
]  # fmt: skip


@pytest.mark.parametrize("frame", LENPREFIX_FRAMES, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_lenprefix_single_frame_fast_path_matches_the_general_path(frame: bytes, tagged: bool) -> None:
    codec = LenPrefixCodec(max_frame=11)
    _whole_is_split(codec.tagged() if tagged else codec, frame)


_P = msgpack.packb
MSGPACK_FRAMES = [
    _P([7, "hi"]), _P([0, "hi"]), _P([7]), _P("hi"), _P([7, "hi", 1]), _P([2**32, 1]), _P([7.0, 1]), _P({1: 2}),
    b"\xc1", b"\x92\x07\xa2h\xff", _P([7, "x" * 40]),
]  # fmt: skip
MSGPACK_CHUNKS = [
    _P([7, "hi"]) + _P([8, b"x"]) + _P([9, {1: [2]}]), _P([7, "hi"]) + _P([0, "x"]) + _P([9, 1]),
    _P([7, "hi"]) + b"\xc1" + _P([9, 1]), _P([7, "hi"]) + _P([8, "x" * 40]), _P([7, "x" * 40]) + _P([8, 1]),
    _P([7, "hi"]) + _P([8, "hi"])[:-1], _P([7, "hi"]) + _P([8, "hi"])[:1], _P([7, "hi"]) + _P({(1, 2): 3}),
    _P([7, "hi"]) + b"\x92\x07\xa2h\xff" + _P([8, 1]), _P([7, "hi"]) + _P("x"),
]  # fmt: skip


@pytest.mark.parametrize("frame", MSGPACK_FRAMES, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_msgpack_single_value_fast_path_matches_the_general_path(frame: bytes, tagged: bool) -> None:
    codec = MsgpackCodec(max_frame=45)
    _whole_is_split(codec.tagged() if tagged else codec, frame)


@pytest.mark.parametrize("chunk", MSGPACK_CHUNKS, ids=repr)
@pytest.mark.parametrize("tagged", [False, True])
def test_msgpack_chunk_fast_path_matches_the_general_path(chunk: bytes, tagged: bool) -> None:
    # A chunk within max_frame takes the fast loop; one byte over, the general loop (each value still fits).
    fast: Codec[Any] = MsgpackCodec(max_frame=len(chunk))
    general: Codec[Any] = MsgpackCodec(max_frame=len(chunk) - 1)
    if tagged:
        fast, general = fast.tagged(), general.tagged()
    assert _fed(fast, [chunk]) == _fed(general, [chunk])
