"""The hypothesis properties every stdiobridge codec must hold, applied to ``lsp``.

The same four as stdiobridge's own ``tests/test_codec_properties.py`` (round trip;
any chunking decodes the same; garbage raises only ``ProtocolError``; frames over
``max_frame`` are refused while ``buffered`` stays bounded), plus the ones this
format needs: headers as other writers send them, no re-delivery after a fault,
and linear time whatever the chunking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsp_helpers import CODEC_OPTIONS, chunkings, json_values, options_id, same
from stdiobridge_lsp import HEADER_LIMIT, LspDecoder

import stdiobridge as sb

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("options", CODEC_OPTIONS, ids=options_id)
@given(msg=json_values)
@PROPS
def test_round_trip(options: dict[str, Any], msg: Any) -> None:
    codec = sb.get_codec("lsp", **options)
    dec = codec.decoder()
    assert same(dec.feed(codec.encode(msg)), [msg])
    assert dec.buffered == 0


@pytest.mark.parametrize("options", CODEC_OPTIONS, ids=options_id)
@given(data=st.data())
@PROPS
def test_any_chunking_decodes_the_same(options: dict[str, Any], data: st.DataObject) -> None:
    codec = sb.get_codec("lsp", **options)
    msgs = data.draw(st.lists(json_values, max_size=6))
    stream = b"".join(codec.encode(m) for m in msgs)
    dec = codec.decoder()
    got: list[Any] = []
    for chunk in data.draw(chunkings(stream)):
        got.extend(dec.feed(chunk))
    assert same(got, msgs)
    assert dec.buffered == 0
    # one byte at a time, the hardest split (inside header names, CRLFs, digits, UTF-8)
    dec = codec.decoder()
    assert same([m for i in range(len(stream)) for m in dec.feed(stream[i : i + 1])], msgs)
    assert dec.buffered == 0


# Frames as other writers produce them: any case, optional whitespace, extra headers in any order.
_names = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~", min_size=1, max_size=12
)
_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)
_ows = st.sampled_from(["", " ", "  ", "\t", " \t "])


@st.composite
def foreign_frames(draw: st.DrawFn) -> tuple[bytes, Any]:
    """A frame another LSP implementation could send, and the message it carries."""
    msg = draw(json_values)
    body = orjson.dumps(msg, option=draw(st.sampled_from([0, orjson.OPT_INDENT_2])))
    body = draw(_ows).replace("\t", "\n").encode() + body + draw(_ows).encode()  # JSON whitespace around it
    name = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in "content-length")
    digits = draw(st.sampled_from(["", "0", "00"])) + str(len(body))
    length = f"{name}:{draw(_ows)}{digits}{draw(_ows)}".encode()
    others = draw(
        st.lists(
            st.tuples(_names, _ows, _values).filter(lambda t: t[0].lower() != "content-length"),
            max_size=3,
        )
    )
    lines = [f"{n}:{ows}{v}".encode() for n, ows, v in others]
    lines.insert(draw(st.integers(min_value=0, max_value=len(lines))), length)
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n" + body, msg


@given(frames=st.lists(foreign_frames(), max_size=5), data=st.data())
@PROPS
def test_frames_from_other_writers_decode_in_any_chunking(frames: list[tuple[bytes, Any]], data: st.DataObject) -> None:
    stream = b"".join(f for f, _ in frames)
    dec = sb.get_codec("lsp").decoder()
    got = [m for chunk in data.draw(chunkings(stream)) for m in dec.feed(chunk)]
    assert same(got, [m for _, m in frames])
    assert dec.buffered == 0


_PIECES = st.sampled_from(
    [
        *(b"Content-Length: ", b"content-length:", b"Content-Type: x", b"\r\n", b"\r\n\r\n", b"\n", b"\r", b":"),
        *(b" ", b"0", b"1", b"2", b"10", b"99999999999", b"{}", b"[1]", b'"a"', b"{", b"\xff", b"\x00"),
    ]
)
structured_garbage = st.lists(_PIECES | st.binary(max_size=6), max_size=40).map(b"".join)


@given(garbage=st.binary(max_size=400) | structured_garbage, data=st.data())
@PROPS
def test_garbage_raises_only_protocol_errors(garbage: bytes, data: st.DataObject) -> None:
    dec = sb.get_codec("lsp", max_frame=4096).decoder()
    try:
        for chunk in data.draw(chunkings(garbage)):
            dec.feed(chunk)
    except sb.ProtocolError:
        pass
    assert dec.buffered <= len(garbage)


@pytest.mark.parametrize("options", CODEC_OPTIONS, ids=options_id)
@given(data=st.data())
@PROPS
def test_frame_over_max_frame_is_refused_while_buffered_stays_bounded(
    options: dict[str, Any], data: st.DataObject
) -> None:
    big = sb.get_codec("lsp", **options)
    msg = data.draw(json_values)
    frame = big.encode(msg)
    body = orjson.dumps(msg)
    header = len(frame) - len(body)
    limit = data.draw(st.integers(min_value=1, max_value=max(1, len(frame) - 3)))
    if len(body) <= limit:
        return  # the frame fits after all (max_frame bounds the body; the header does not count)
    small = sb.get_codec("lsp", **{**options, "max_frame": limit})
    with pytest.raises(sb.EncodeError):
        small.encode(msg)
    dec = small.decoder()
    with pytest.raises(sb.FrameTooLarge) as info:
        for chunk in data.draw(chunkings(frame)):
            dec.feed(chunk)
            assert dec.buffered < header  # refused from the header: no byte of the body is held
    assert info.value.size == len(body) and info.value.limit == limit
    assert dec.buffered == 0


MALFORMED = [
    b"Content-Length: abc\r\n\r\n{}",  # not a number
    b"Content-Length: -2\r\n\r\n{}",  # signed
    b"Content-Length: +2\r\n\r\n{}",
    b"Content-Length: 1_0\r\n\r\n0123456789",  # int() would accept this one
    b"Content-Length: 1 0\r\n\r\n0123456789",
    b"Content-Length:\r\n\r\n",  # empty
    b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n{}",  # duplicate, even if equal
    b"Content-Type: application/json\r\n\r\n{}",  # missing
    b"\r\n{}",  # an empty header block
    b"Content-Length 2\r\n\r\n{}",  # no colon
    b"Content Length: 2\r\n\r\n{}",  # space in the name
    b" Content-Length: 2\r\n\r\n{}",  # folded / leading space
    b"Content-Length: 2\r\nX-Bad: a\x01b\r\n\r\n{}",  # a control byte in a value
    b"Content-Length: 2\n\n{}",  # bare LF line ends
    b"INFO server started\n",  # a log line on stdout
    b"Content-Length: 3\r\n\r\nnop",  # not JSON
    b"Content-Length: 0\r\n\r\n",  # empty body
    b"Content-Length: 2\r\n\r\n\xff\xfe",  # not UTF-8
    b"Content-Length: 99999999999999999999999999999999999999\r\n\r\n",  # over max_frame
]


@given(
    before=st.lists(json_values, max_size=4),
    bad=st.sampled_from(MALFORMED),
    after=st.lists(json_values, min_size=1, max_size=3),
    data=st.data(),
)
@PROPS
def test_a_fault_never_redelivers_a_message(
    before: list[Any], bad: bytes, after: list[Any], data: st.DataObject
) -> None:
    """Each message before the fault arrives exactly once (returned or on ``err.messages``), none after.

    python-lsp-jsonrpc's reader hands the *previous* message to its consumer again
    after an invalid Content-Length; here nothing decoded is ever handed out twice.
    """
    codec = sb.get_codec("lsp")
    stream = b"".join(map(codec.encode, before)) + bad + b"".join(map(codec.encode, after))
    dec = codec.decoder()
    got: list[Any] = []
    errors: list[sb.ProtocolError] = []
    for chunk in [*data.draw(chunkings(stream)), codec.encode({"late": True}), b""]:
        try:
            got.extend(dec.feed(chunk))
        except sb.ProtocolError as err:
            got.extend(err.messages)
            errors.append(err)
    assert same(got, before)
    assert errors, "the malformed frame was accepted"
    assert all(type(e) is type(errors[0]) and str(e) == str(errors[0]) for e in errors)  # poisoned: the same error
    assert dec.buffered == 0


def test_large_frame_in_small_chunks_is_bounded_before_buffering() -> None:
    # a declared body over max_frame: refused as soon as its header line is complete
    dec = sb.get_codec("lsp", max_frame=1 << 16).decoder()
    with pytest.raises(sb.FrameTooLarge) as info:
        dec.feed(b"Content-Length: 65537\r\n")
    assert (info.value.size, info.value.limit) == (65537, 1 << 16)
    # a header block that never ends, with or without line breaks: refused at HEADER_LIMIT
    for filler in (b"x" * 4096, b"X-Pad: yyyyyyyyyyyy\r\n" * 200):
        dec = sb.get_codec("lsp", max_frame=1 << 16).decoder()
        with pytest.raises(sb.FrameTooLarge) as info:
            for _ in range(100):
                dec.feed(filler)
                assert dec.buffered < HEADER_LIMIT
        assert info.value.limit == HEADER_LIMIT


class _CountingBuffer(bytearray):
    """A bytearray that counts the bytes its ``find`` examines."""

    searched = 0

    def find(self, sub: Any, start: Any = 0, *rest: Any) -> int:
        found = super().find(sub, start, *rest)
        self.searched += (found + len(sub) if found >= 0 else len(self)) - start
        return found


def test_each_header_byte_is_searched_once_whatever_the_chunking() -> None:
    """The decoder remembers where it stopped looking for a line end: header lines fed a
    byte at a time are not searched again from their start (or the frame's) on every feed."""
    headers = [b"X-Header-%d: %s" % (i, b"v" * 60) for i in range(100)]
    stream = (b"\r\n".join([*headers, b"Content-Length: 2", b"", b"[]"])) * 3
    dec = LspDecoder(1 << 20)
    dec._buf = counting = _CountingBuffer()  # white-box: observe the decoder's own buffer
    assert [m for i in range(len(stream)) for m in dec.feed(stream[i : i + 1])] == [[], [], []]
    assert dec._buf is counting
    assert counting.searched <= len(stream) + 3 * len(headers)  # linear; rescanning each line: ~40x this


def _best_of(runs: int, fn: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def test_decoding_is_linear_whatever_the_chunking() -> None:
    """A 14 MiB frame in 4 KiB chunks costs about what it costs whole: a decoder that
    rescanned or recopied its buffer per chunk would be hundreds of times slower."""
    codec = sb.get_codec("lsp")
    frame = codec.encode({"blob": 'x\u00e9"\\' * (2 << 20)})
    chunks = [frame[i : i + 4096] for i in range(0, len(frame), 4096)]

    def whole() -> None:
        assert len(codec.decoder().feed(frame)) == 1

    def chunked() -> None:
        dec = codec.decoder()
        assert len([m for c in chunks for m in dec.feed(c)]) == 1
        assert dec.buffered == 0

    assert _best_of(3, chunked) <= 3 * _best_of(3, whole) + 0.05
