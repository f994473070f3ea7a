"""Hypothesis properties every codec must hold: round trip, any chunking, garbage, size limits."""

from __future__ import annotations

import itertools
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import stdiobridge as sb
from stdiobridge.codecs.jsonl import may_hold_long_int

from strategies import CODEC_CASES, FLOATS, NOT_TAGGED, TAGGED_CASES, case_id, chunkings
from vectors import same

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("case", CODEC_CASES, ids=[case_id(c) for c in CODEC_CASES])
@given(data=st.data())
@PROPS
def test_round_trip(case: tuple[str, dict[str, Any], st.SearchStrategy[Any]], data: st.DataObject) -> None:
    name, opts, messages = case
    codec = sb.get_codec(name, **opts)
    msg = data.draw(messages)
    dec = codec.decoder()
    assert same(dec.feed(codec.encode(msg)), [msg])
    assert dec.buffered == 0


@pytest.mark.parametrize("case", CODEC_CASES, ids=[case_id(c) for c in CODEC_CASES])
@given(data=st.data())
@PROPS
def test_any_chunking_decodes_thesame(
    case: tuple[str, dict[str, Any], st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    name, opts, messages = case
    codec = sb.get_codec(name, **opts)
    _round_trip_in_any_chunking(codec, data.draw(st.lists(messages, max_size=6)), data, same)


def _round_trip_in_any_chunking(
    codec: sb.Codec[Any], msgs: list[Any], data: st.DataObject, equal: Callable[[list[Any], list[Any]], bool]
) -> None:
    """``msgs`` encoded, then decoded from drawn chunks and one byte at a time, come back ``equal``."""
    stream = b"".join(codec.encode(m) for m in msgs)
    dec = codec.decoder()
    got: list[Any] = []
    for chunk in data.draw(chunkings(stream)):
        got.extend(dec.feed(chunk))
    assert equal(got, msgs)
    assert dec.buffered == 0
    # one byte at a time, the hardest split (inside prefixes and UTF-8 sequences)
    dec = codec.decoder()
    assert equal([m for i in range(len(stream)) for m in dec.feed(stream[i : i + 1])], msgs)


@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack"])
@given(garbage=st.binary(max_size=400), data=st.data())
@PROPS
def test_garbage_raises_only_protocol_errors(name: str, garbage: bytes, data: st.DataObject) -> None:
    dec = sb.get_codec(name, max_frame=4096).decoder()
    try:
        for chunk in data.draw(chunkings(garbage)):
            dec.feed(chunk)
    except sb.ProtocolError:
        pass
    assert dec.buffered <= 4096


@pytest.mark.parametrize("case", CODEC_CASES, ids=[case_id(c) for c in CODEC_CASES])
@given(data=st.data())
@PROPS
def test_frame_over_max_frame_is_refused_while_buffered_stays_bounded(
    case: tuple[str, dict[str, Any], st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    name, opts, messages = case
    big = sb.get_codec(name, **opts)
    msg = data.draw(messages)
    frame = big.encode(msg)
    limit = data.draw(st.integers(min_value=1, max_value=max(1, len(frame) - 3)))
    small = sb.get_codec(name, **{**opts, "max_frame": limit})
    payload = (
        len(frame) - (1 if name in ("lines", "jsonl") else 0) - (opts.get("width", 4) if name == "lenprefix" else 0)
    )
    if payload <= limit:
        return  # the frame fits after all (its header does not count)
    with pytest.raises(sb.EncodeError):
        small.encode(msg)
    dec = small.decoder()
    with pytest.raises(sb.FrameTooLarge):
        for chunk in data.draw(chunkings(frame)):
            dec.feed(chunk)
            assert dec.buffered <= limit + 9
    assert dec.buffered <= limit + 9


def test_large_frame_in_small_chunks_is_bounded_before_buffering() -> None:
    for name in ("lines", "jsonl", "lenprefix", "msgpack"):
        dec = sb.get_codec(name, max_frame=1 << 16).decoder()
        # an endless stream with no frame boundary: refused at the limit, not at the end
        header = {"lenprefix": b"\x00\x10\x00\x00", "msgpack": b"\xc6\x00\x10\x00\x00"}.get(name, b"")
        with pytest.raises(sb.FrameTooLarge):
            dec.feed(header)
            for _ in range(100):
                dec.feed(b"x" * 4096)
                assert dec.buffered <= (1 << 16) + 4096


# --- tagged mode: every codec with request ids on the wire -------------------------------------------


def _same_pairs(got: list[Any], want: list[Any]) -> bool:
    return len(got) == len(want) and all(
        type(g) is tuple and g[0] == w[0] and type(g[0]) is int and same(g[1], w[1])
        for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize("case", TAGGED_CASES, ids=[case_id(c) for c in TAGGED_CASES])
@given(data=st.data())
@PROPS
def test_tagged_round_trip_in_any_chunking(
    case: tuple[str, dict[str, Any], st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    name, opts, pairs = case
    codec = sb.get_codec(name, **opts).tagged()
    _round_trip_in_any_chunking(codec, data.draw(st.lists(pairs, max_size=6)), data, _same_pairs)


@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack"])
@given(garbage=st.binary(max_size=400), data=st.data())
@PROPS
def test_tagged_garbage_raises_only_protocol_errors(name: str, garbage: bytes, data: st.DataObject) -> None:
    dec = sb.get_codec(name, max_frame=4096).tagged().decoder()
    try:
        for chunk in data.draw(chunkings(garbage)):
            for ident, _ in dec.feed(chunk):
                assert type(ident) is int and 0 < ident < 2**32
    except sb.ProtocolError:
        pass
    assert dec.buffered <= 4096


@pytest.mark.parametrize("case", TAGGED_CASES, ids=[case_id(c) for c in TAGGED_CASES])
@given(data=st.data())
@PROPS
def test_a_frame_that_is_not_tagged_raises_decode_error_after_the_pairs_before_it(
    case: tuple[str, dict[str, Any], st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    name, opts, pairs = case
    plain = sb.get_codec(name, **opts)
    codec = plain.tagged()
    before = data.draw(st.lists(pairs, max_size=3))
    try:
        stray = plain.encode(data.draw(NOT_TAGGED[name]))
    except sb.EncodeError:  # e.g. a character latin-1 cannot hold
        assume(False)
    stream = b"".join(codec.encode(m) for m in before) + stray
    dec = codec.decoder()
    got: list[Any] = []
    with pytest.raises(sb.DecodeError) as info:
        for chunk in data.draw(chunkings(stream)):
            got.extend(dec.feed(chunk))
    assert _same_pairs(got + info.value.messages, before)
    shown = {"lines": stray[:-1].removesuffix(b"\r"), "jsonl": stray[:-1].removesuffix(b"\r")}.get(name, stray)
    if name == "lenprefix":
        shown = stray[opts.get("width", 4) :]
    assert info.value.excerpt == shown[:120]


BIG_INT_JSON: st.SearchStrategy[Any] = st.recursive(
    st.integers() | st.text(max_size=5) | FLOATS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=10,
)


@pytest.mark.parametrize("tagged", [False, True])
@given(values=st.lists(BIG_INT_JSON, min_size=1, max_size=4), data=st.data())
@PROPS
def test_jsonl_integers_of_any_size_stay_exact_in_any_chunking(
    tagged: bool, values: list[Any], data: st.DataObject
) -> None:
    # the child's bytes, written by the standard library (orjson cannot write integers beyond 64 bits)
    stream = b"".join(
        json.dumps([i + 1, v] if tagged else v, separators=(",", ":")).encode() + b"\n" for i, v in enumerate(values)
    )
    codec = sb.get_codec("jsonl")
    dec = codec.tagged().decoder() if tagged else codec.decoder()
    got = [m for chunk in data.draw(chunkings(stream)) for m in dec.feed(chunk)]
    want = [(i + 1, v) for i, v in enumerate(values)] if tagged else values
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert same(g[1], w[1]) if tagged else same(g, w)


# -- encode_many: call_many's encoding, the same frames as encode one by one


def _encoded_one_by_one(codec: sb.Codec[Any], messages: list[Any]) -> list[bytes] | str:
    try:
        return [codec.encode(m) for m in messages]
    except sb.EncodeError as exc:
        return f"EncodeError: {exc}"


def _encoded_at_once(codec: sb.Codec[Any], messages: list[Any]) -> list[bytes] | str:
    try:
        return codec.encode_many(iter(messages))  # any iterable
    except sb.EncodeError as exc:
        return f"EncodeError: {exc}"


@pytest.mark.parametrize("case", CODEC_CASES + TAGGED_CASES, ids=case_id)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_encode_many_gives_encodes_frames_or_the_first_error(case: tuple[str, dict[str, Any], Any], data: Any) -> None:
    name, options, messages = case
    codec = sb.get_codec(name, **options)
    if case in TAGGED_CASES:
        codec = codec.tagged()
    unsendable = st.sampled_from(
        [object(), float("nan"), 2**70, "a\nb", "cr\r", "\ud800", b"\xff" * 300, None, {1: {2: 3}}]
    )
    batch = data.draw(st.lists(messages | unsendable if data.draw(st.booleans()) else messages, max_size=8))
    assert _encoded_at_once(codec, batch) == _encoded_one_by_one(codec, batch)


@pytest.mark.parametrize(
    ("options", "batch"),
    [
        ({"max_frame": 10}, ["abc", "é" * 5]),  # near max_frame: frames
        ({"max_frame": 10}, ["abc", "é" * 6]),  # beyond: its error
        ({}, ["ok", "mid\rdle", "x"]),  # a CR inside a line is fine
        ({}, ["ok", "cr\r", "x"]),  # at its end, not
        ({}, ["ok", "\ud800"]),  # not UTF-8
        ({}, ["ok", b"bytes"]),  # not text
    ],
)
def test_lines_encode_many_at_its_checks_edges_is_the_loop(options: dict[str, Any], batch: list[Any]) -> None:
    codec = sb.get_codec("lines", **options)
    assert _encoded_at_once(codec, batch) == _encoded_one_by_one(codec, batch)


def test_msgpack_encode_many_refuses_a_frame_beyond_max_frame_as_encode_does() -> None:
    codec = sb.get_codec("msgpack", max_frame=10)
    assert codec.encode_many([1, "short"]) == [codec.encode(1), codec.encode("short")]
    with pytest.raises(sb.EncodeError, match="exceeds max_frame=10"):
        codec.encode_many([1, "much too long for ten bytes", object()])


# -- jsonl: integers beyond 64 bits are found wherever they sit in a chunk


@settings(max_examples=300, deadline=None)
@given(
    before=st.binary(max_size=80),
    digits=st.text(alphabet="0123456789", min_size=19, max_size=40),
    after=st.binary(max_size=80),
)
def test_a_run_of_19_digits_is_always_suspected(before: bytes, digits: str, after: bytes) -> None:
    """The sampled checks (every 19th byte, then every ninth) never miss a run of 19 digits, at any offset."""
    assert may_hold_long_int(before + digits.encode() + after)


@settings(max_examples=100, deadline=None)
@given(
    small=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
    big=st.integers(2**64, 2**200) | st.integers(-(2**200), -(2**63) - 1),
    where=st.integers(0, 30),
)
def test_jsonl_decodes_a_big_integer_exactly_among_many_lines(small: list[int], big: int, where: int) -> None:
    values = [{"id": n, "v": [n, "x"]} for n in small]
    values.insert(min(where, len(values)), {"id": big, "v": [big, "x"]})
    chunk = "".join(json.dumps(v, separators=(",", ":")) + "\n" for v in values).encode()  # (orjson refuses big)
    got = sb.get_codec("jsonl").decoder().feed(chunk)  # one chunk of many lines
    assert got == values and all(type(v["id"]) is int for v in got)


def _payload(size: int, seed: int) -> bytes:
    """``size`` bytes that differ from one message to the next (a shifted byte ramp)."""
    ramp = bytes((seed + i) % 251 for i in range(256))
    return (ramp * (size // 256 + 1))[:size]


def _lending_message(name: str, size: int, seed: int) -> Any:
    """A message of ``name`` with a payload of about ``size`` bytes: lenprefix's bytes; for msgpack by turns a
    bin, a str, and a bin inside a map with values after it (a payload that ends before its frame does)."""
    payload = _payload(size, seed)
    if name == "lenprefix" or seed % 3 == 0:
        return payload
    if seed % 3 == 1:
        return payload.decode("latin-1")
    return {"data": payload, "after": [seed, "tail"]}


@pytest.mark.parametrize("name", ["lenprefix", "msgpack"])
@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
@given(
    sizes=st.lists(st.sampled_from([0, 3, 65_535, 65_536, 70_000]) | st.integers(0, 300_000), min_size=1, max_size=4),
    data=st.data(),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_reads_into_lent_buffers_mixed_with_feeds_decode_the_same(
    name: str, tagged: bool, sizes: list[int], data: Any
) -> None:
    """A reader may read any part of the stream into ``get_buffer()``'s view or feed it, in any chunks:
    the view never reaches past the current frame (lenprefix: it is exactly its rest), ``buffered`` stays
    exact, and the messages are what was sent, of the same types."""
    codec = sb.get_codec(name)
    msgs: list[Any] = [_lending_message(name, size, i) for i, size in enumerate(sizes)]
    if tagged:
        codec = codec.tagged()
        msgs = [(i + 1, m) for i, m in enumerate(msgs)]
    frames = [codec.encode(m) for m in msgs]
    ends = list(itertools.accumulate(map(len, frames)))
    stream = b"".join(frames)
    dec = codec.decoder()
    got: list[Any] = []
    pos = 0
    while pos < len(stream):
        want = data.draw(st.integers(1, 150_000), label="chunk")
        view = dec.get_buffer()
        if view is not None and data.draw(st.booleans(), label="into"):
            end = next(e for e in ends if e > pos)
            assert 0 < len(view) <= end - pos
            assert name != "lenprefix" or len(view) == end - pos
            take = min(want, len(view))
            with view:
                view[:take] = stream[pos : pos + take]
            got += dec.buffer_updated(take)
        else:
            take = min(want, len(stream) - pos)
            got += dec.feed(stream[pos : pos + take])
        pos += take
        assert dec.buffered == pos - max((e for e in ends if e <= pos), default=0)
    assert same(got, msgs)
    assert [type(m) for m in got] == [type(m) for m in msgs]
    if tagged:
        assert [type(m[1]) for m in got] == [type(m[1]) for m in msgs]


@pytest.mark.parametrize("name", ["lenprefix", "msgpack"])
def test_a_frame_read_into_place_is_its_message_without_a_copy(name: str) -> None:
    """Read into the lent buffer, a 4 MiB payload takes about its own size in memory; the chunks a reader
    feeds instead are held, then joined (about twice the size at the peak)."""
    size = 4 << 20
    codec = sb.get_codec(name)
    payload = _payload(size, 0)
    frame = codec.encode(payload)

    def peak(into: bool) -> tuple[int, bytes]:
        dec = codec.decoder()
        tracemalloc.start()
        try:
            pos = 1 << 16
            out = dec.feed(frame[:pos])
            while not out:
                view = dec.get_buffer() if into else None
                if view is None:
                    out = dec.feed(frame[pos : pos + (1 << 16)])
                    pos += 1 << 16
                    continue
                with view:
                    view[:] = memoryview(frame)[pos : pos + len(view)]
                    taken = len(view)
                out = dec.buffer_updated(taken)
                pos += taken
            return tracemalloc.get_traced_memory()[1], out[0]
        finally:
            tracemalloc.stop()

    into_peak, message = peak(into=True)
    fed_peak, same_message = peak(into=False)
    assert message == same_message == payload and type(message) is bytes
    assert into_peak < size * 1.1 < size * 1.8 < fed_peak
