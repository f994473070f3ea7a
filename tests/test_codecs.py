"""Behaviour of each built-in codec that the vectors cannot show: messages, options, errors."""

from __future__ import annotations

import gc
import inspect
import math
import pickle
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

import stdiobridge as sb
from stdiobridge.codecs import DEFAULT_MAX_FRAME, LineDecoder, LinesCodec, check_option, excerpt_of


def test_lines_lone_cr_is_data_and_one_cr_before_lf_is_stripped() -> None:
    dec = sb.get_codec("lines").decoder()
    assert dec.feed(b"a\rb\nc\r\r\n") == ["a\rb", "c\r"]


def test_lines_multibyte_character_split_across_chunks() -> None:
    dec = sb.get_codec("lines").decoder()
    data = "€😀\n".encode()
    assert [m for i in range(len(data)) for m in dec.feed(data[i : i + 1])] == ["€😀"]


@pytest.mark.parametrize(("message", "where"), [("ab\ncd", "position 2"), ("abc\r", "position 3")])
def test_lines_encode_refuses_line_breaks_naming_the_position(message: str, where: str) -> None:
    with pytest.raises(sb.EncodeError, match=where):
        sb.get_codec("lines").encode(message)


def test_lines_encode_refuses_non_str() -> None:
    with pytest.raises(sb.EncodeError, match="str messages, got bytes"):
        sb.get_codec("lines").encode(b"x")  # type: ignore[arg-type,unused-ignore]


def test_lines_invalid_utf8_strict_and_replace() -> None:
    with pytest.raises(sb.DecodeError, match="not valid utf-8 at byte 1") as info:
        sb.get_codec("lines").decoder().feed(b"a\xffb\n")
    assert info.value.excerpt == b"a\xffb"
    assert sb.get_codec("lines", errors="replace").decoder().feed(b"a\xffb\n") == ["a\ufffdb"]


def test_lines_rejects_encodings_that_are_not_ascii_compatible() -> None:
    with pytest.raises(sb.ConfigError, match="utf-16"):
        sb.get_codec("lines", encoding="utf-16")
    with pytest.raises(sb.ConfigError, match="unknown encoding"):
        sb.get_codec("lines", encoding="klingon")


def test_jsonl_log_line_error_shows_bytes_and_hints_at_stdout() -> None:
    with pytest.raises(sb.DecodeError) as info:
        sb.get_codec("jsonl").decoder().feed(b'{"ok": 1}\nINFO listening on :8080\n')
    err = info.value
    assert err.excerpt == b"INFO listening on :8080"
    assert "INFO listening" in str(err) and "stdout" in str(err) and "stderr" in str(err)
    assert err.messages == [{"ok": 1}]


def test_jsonl_encode_error_is_a_value_error_and_names_the_type() -> None:
    with pytest.raises(sb.EncodeError, match="set") as info:
        sb.get_codec("jsonl").encode({1, 2})
    assert isinstance(info.value, ValueError)


def test_lenprefix_message_too_long_for_width() -> None:
    with pytest.raises(sb.EncodeError, match="1-byte prefix holds"):
        sb.get_codec("lenprefix", width=1).encode(b"x" * 256)


def test_lenprefix_accepts_bytearray_and_memoryview() -> None:
    codec = sb.get_codec("lenprefix", width=2)
    assert codec.encode(bytearray(b"ab")) == codec.encode(memoryview(b"ab")) == b"\x00\x02ab"


def test_lenprefix_buffered_counts_the_prefix_of_a_partial_frame() -> None:
    dec = sb.get_codec("lenprefix").decoder()
    assert dec.feed(b"\x00\x00\x00\x05ab") == []
    assert dec.buffered == 6
    assert dec.feed(b"cde") == [b"abcde"]
    assert dec.buffered == 0


def test_msgpack_keeps_bytes_and_str_apart() -> None:
    codec = sb.get_codec("msgpack")
    msg = {"s": "text", "b": b"text", 1: [None, True, 1.5]}
    assert codec.decoder().feed(codec.encode(msg)) == [msg]


def test_msgpack_unencodable() -> None:
    with pytest.raises(sb.EncodeError, match="object"):
        sb.get_codec("msgpack").encode(object())
    with pytest.raises(sb.EncodeError):
        sb.get_codec("msgpack").encode(2**70)


def test_msgpack_error_keeps_earlier_messages() -> None:
    dec = sb.get_codec("msgpack").decoder()
    with pytest.raises(sb.DecodeError) as info:
        dec.feed(b"\x01\x02\xc1")
    assert info.value.messages == [1, 2]


@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack"])
def test_max_frame_option_is_validated(name: str) -> None:
    with pytest.raises(sb.ConfigError, match="max_frame"):
        sb.get_codec(name, max_frame=0)
    with pytest.raises(sb.ConfigError, match="max_frame' must be int"):
        sb.get_codec(name, max_frame="big")


def test_codec_option_errors_name_option_codec_and_allowed_values() -> None:
    with pytest.raises(sb.ConfigError, match=r"codec 'lenprefix': option 'width' must be one of 1, 2, 4, 8; got 3"):
        sb.get_codec("lenprefix", width=3)
    with pytest.raises(sb.ConfigError, match=r"'byteorder' must be one of 'big', 'little'"):
        sb.get_codec({"name": "lenprefix", "byteorder": "middle"})
    with pytest.raises(sb.ConfigError, match=r"codec 'jsonl' has no option 'width'; its options are: max_frame"):
        sb.get_codec("jsonl", width=2)
    with pytest.raises(sb.ConfigError, match="width' must be int, got bool"):
        sb.get_codec("lenprefix", width=True)


# --- options recorded at construction: equality, hashing, pickling -----------------------------------


class SuffixLines(LinesCodec):
    """A subclass keeping the built-in name, with its own option (issue 15, item 2)."""

    name = "lines"

    def __init__(self, *, suffix: str = "!", max_frame: int = 1 << 20) -> None:
        super().__init__(max_frame=max_frame)
        self.suffix = suffix

    def decode_line(self, line: bytes) -> str:
        return line.decode() + self.suffix


def test_equal_codecs_spelled_differently_compare_and_hash_equal() -> None:
    built = [
        LinesCodec(),
        sb.get_codec("lines"),
        sb.get_codec({"name": "lines", "encoding": "utf-8"}),
        sb.get_codec("lines", encoding="UTF8", errors="strict", max_frame=sb.codecs.DEFAULT_MAX_FRAME),
    ]
    assert all(c == built[0] for c in built) and len(set(built)) == 1
    assert LinesCodec().options() == {"encoding": "utf-8", "errors": "strict", "max_frame": 64 << 20}
    assert sb.get_codec("lenprefix", width=2) != sb.get_codec("lenprefix")
    assert sb.get_codec("jsonl") != sb.get_codec("msgpack")
    assert SuffixLines() != LinesCodec()  # same name, another class


@pytest.mark.parametrize(
    "codec",
    [
        sb.get_codec("lines", encoding="latin-1", errors="replace"),
        sb.get_codec("jsonl", max_frame=99),
        sb.get_codec("lenprefix", width=2, byteorder="little"),
        sb.get_codec("msgpack"),
        SuffixLines(suffix="?"),
        sb.get_codec("rot13-lines", shout=True),
        sb.get_codec("lenprefix", width=1).tagged(),
        sb.get_codec("rot13-lines").tagged(),
    ],
    ids=repr,
)
def test_a_codec_pickles_as_exactly_its_class_and_options(codec: sb.Codec[Any]) -> None:
    back = pickle.loads(pickle.dumps(codec))
    assert type(back) is type(codec) and back == codec and back.options() == codec.options()


def test_a_subclass_keeping_a_builtin_name_keeps_its_options_and_decode_line() -> None:
    codec = pickle.loads(pickle.dumps(SuffixLines(suffix="?")))
    assert codec.options() == {"suffix": "?", "max_frame": 1 << 20}
    assert codec.decoder().feed(b"a\nb\n") == ["a?", "b?"]


def test_a_plugin_options_are_its_own() -> None:
    codec = sb.get_codec("rot13-lines", shout=True)
    assert codec.options() == {"shout": True, "max_frame": 1 << 20}
    assert sb.get_codec({"name": "rot13-lines", **codec.options()}) == codec


def test_plugin_author_names_are_exported() -> None:
    assert DEFAULT_MAX_FRAME == 64 << 20 and callable(check_option) and excerpt_of(b"x" * 500) == b"x" * 120
    assert LineDecoder(10, bytes.decode, lambda line, exc: sb.DecodeError(str(exc))).feed(b"hi\n") == ["hi"]


# --- jsonl numbers are never changed silently ----------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, [1, {"a": math.nan}], {"x": [2.0, -math.inf]}])
def test_jsonl_refuses_nan_and_infinities(value: Any) -> None:
    with pytest.raises(sb.EncodeError, match="not a JSON number"):
        sb.get_codec("jsonl").encode(value)
    with pytest.raises(sb.EncodeError, match="not a JSON number"):
        sb.get_codec("jsonl").tagged().encode((1, value))


def test_jsonl_null_itself_still_encodes() -> None:
    assert sb.get_codec("jsonl").encode([None, 1.5, "null"]) == b'[null,1.5,"null"]\n'


@pytest.mark.parametrize(
    "number", [2**64, -(2**63) - 1, 10**30, -(10**40), 2**64 - 1, -(2**63), 1234567890123456789012]
)
def test_jsonl_integers_of_any_size_decode_exactly(number: int) -> None:
    got = sb.get_codec("jsonl").decoder().feed(b'{"n":%d,"f":0.5,"s":"%d"}\n' % (number, number))
    assert got == [{"n": number, "f": 0.5, "s": str(number)}] and type(got[0]["n"]) is int


def test_jsonl_long_float_stays_float_and_non_json_constants_are_refused() -> None:
    assert sb.get_codec("jsonl").decoder().feed(b"[12345678901234567890.5]\n") == [[12345678901234567890.5]]
    with pytest.raises(sb.DecodeError):
        sb.get_codec("jsonl").decoder().feed(b"[NaN, 1234567890123456789012]\n")


# --- lenprefix: a log line read as a length ------------------------------------------------------------


def test_lenprefix_text_prefix_is_shown_as_a_log_line_without_the_flush_hint() -> None:
    with pytest.raises(sb.FrameTooLarge) as info:
        sb.get_codec("lenprefix").decoder().feed(b"listening on :8080\n")
    err = info.value
    assert err.excerpt == b"listening on :8080\n"
    assert "listening on :8080" in str(err) and "Logs belong on stderr" in str(err)
    assert "flush" not in str(err)
    with pytest.raises(sb.FrameTooLarge) as info:  # binary garbage keeps the plain wording
        sb.get_codec("lenprefix").decoder().feed(b"\xff\xff\xff\xff")
    assert "Logs" not in str(info.value)


# --- tagged mode ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack", "rot13-lines"])
@pytest.mark.parametrize("ident", [0, -1, 2**32, 1.0, True, "7", None])
def test_tagged_encode_refuses_ids_outside_the_range(name: str, ident: Any) -> None:
    codec = sb.get_codec(name).tagged()
    message = b"x" if name == "lenprefix" else "x"
    with pytest.raises(sb.EncodeError, match="request id"):
        codec.encode((ident, message))


def test_tagged_fast_paths_write_the_spec_frames() -> None:
    assert sb.get_codec("lines").tagged().encode((7, "hi")) == b"7 hi\n"
    assert sb.get_codec("jsonl").tagged().encode((7, {"a": 1})) == b'[7,{"a":1}]\n'
    assert (
        sb.get_codec("lenprefix", width=2, byteorder="little").tagged().encode((1, b"ab"))
        == b"\x06\x00\x01\x00\x00\x00ab"
    )
    assert sb.get_codec("msgpack").tagged().encode((200, None)) == b"\x92\xcc\xc8\xc0"


def test_a_plugin_is_tagged_by_its_kind_through_its_own_framing() -> None:
    codec = sb.get_codec("rot13-lines").tagged()
    frame = codec.encode((42, "hello"))
    assert frame == b"42 uryyb\n"
    assert codec.decoder().feed(frame + b"7 nop\n") == [(42, "hello"), (7, "abc")]
    with pytest.raises(sb.DecodeError, match="not a tagged frame") as info:
        codec.decoder().feed(b"7 nop\nuryyb\n")
    assert info.value.messages == [(7, "abc")] and info.value.excerpt == b"uryyb\n"  # the frame as the codec reads it


def test_tagged_lines_decode_error_in_the_text_names_the_encoding() -> None:
    with pytest.raises(sb.DecodeError, match="not valid utf-8"):
        sb.get_codec("lines").tagged().decoder().feed(b"7 a\xffb\n")


# --- pending-frame memory <= 2x the pending bytes, however small the reads -------------------------------


def _held_while_feeding(codec: sb.Codec[Any], stream: bytes, step: int) -> tuple[int, int]:
    """(bytes allocated and still held by the decoder, its ``buffered``) after feeding ``stream`` in ``step``-byte reads."""
    dec = codec.decoder()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(0, len(stream), step):  # each read a new object, as from the pipe
            assert dec.feed(stream[i : i + step]) == []
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return held, dec.buffered


PENDING = 60_000

MEMORY_CASES = [
    ("lines", lambda c: c.encode("x" * PENDING)),
    ("jsonl", lambda c: c.encode({"data": "x" * PENDING})),
    ("lenprefix", lambda c: c.encode(b"x" * PENDING)),
    ("msgpack", lambda c: c.encode({"data": b"x" * PENDING, "n": list(range(50))})),
    ("msgpack", lambda c: c.encode(b"x" * PENDING)),
]


@pytest.mark.parametrize("step", [1, 7, 100])
@pytest.mark.parametrize(("name", "frame"), MEMORY_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MEMORY_CASES)])
def test_pending_frame_memory_is_at_most_twice_the_pending_bytes(
    name: str, frame: Callable[[sb.Codec[Any]], bytes], step: int
) -> None:
    codec = sb.get_codec(name)
    stream = frame(codec)[:-1]  # everything but the last byte: the whole frame is pending
    held, buffered = _held_while_feeding(codec, stream, step)
    assert buffered == len(stream)
    assert held <= 2 * buffered, f"{held} bytes held for {buffered} pending"


# --- msgpack: large payloads arriving in pieces are collected aside and swapped back in -----------------

BIG = 200_000
LARGE_MSGPACK = [
    b"x" * BIG,
    "é" * (BIG // 2),
    {"id": 7, "data": b"\x00" * BIG, "after": [1, 2.5, "z"]},
    [msgpack.ExtType(0x7F, b"not the marker"), {"k": "é" * BIG}, b"y" * BIG, None],
    {b"k" * BIG: "key of bytes", "n": -1},
    [msgpack.Timestamp(1, 2), "s" * 70_000],
]


@pytest.mark.parametrize("message", LARGE_MSGPACK, ids=range(len(LARGE_MSGPACK)))
@pytest.mark.parametrize("step", [1000, 4096, 65536, 70_001])
def test_msgpack_large_values_in_chunks_decode_exactly(message: Any, step: int) -> None:
    codec = sb.get_codec("msgpack")
    stream = codec.encode(message) + codec.encode(1) + codec.encode(message)
    dec = codec.decoder()
    got = [m for i in range(0, len(stream), step) for m in dec.feed(stream[i : i + step])]
    assert got == [message, 1, message] and dec.buffered == 0
    first = codec.encode(message)
    dec = codec.decoder()
    for i in range(0, len(first) - 1, step):
        assert dec.feed(first[i : min(i + step, len(first) - 1)]) == []
        assert dec.buffered == min(i + step, len(first) - 1)
    assert dec.feed(first[-1:]) == [message] and dec.buffered == 0


def test_msgpack_invalid_utf8_in_a_large_str_collected_aside_is_a_decode_error() -> None:
    frame = b"\x92\x01\xdb" + (BIG).to_bytes(4, "big") + b"\xff" * BIG
    dec = sb.get_codec("msgpack").decoder()
    with pytest.raises(sb.DecodeError):
        for i in range(0, len(frame), 4096):
            dec.feed(frame[i : i + 4096])


def test_msgpack_large_value_over_max_frame_is_refused_from_its_header() -> None:
    dec = sb.get_codec("msgpack", max_frame=100_000).decoder()
    assert dec.feed(b"\x01\x92\x01") == [1]
    with pytest.raises(sb.FrameTooLarge) as info:
        dec.feed(b"\xc6" + (BIG).to_bytes(4, "big") + b"x" * 10)
    assert info.value.size is not None and info.value.size > 100_000


@pytest.mark.parametrize("step", [1, 100])
@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack"])
def test_tagged_pending_frame_memory_is_at_most_twice_the_pending_bytes(name: str, step: int) -> None:
    codec = sb.get_codec(name).tagged()
    message = b"x" * PENDING if name == "lenprefix" else "x" * PENDING
    stream = codec.encode((123456, message))[:-1]
    held, buffered = _held_while_feeding(codec, stream, step)
    assert buffered == len(stream)
    assert held <= 2 * buffered, f"{held} bytes held for {buffered} pending"


@pytest.mark.parametrize("name", ["lines", "jsonl", "lenprefix", "msgpack", "rot13-lines"])
def test_the_signature_of_a_codec_class_is_its_options(name: str) -> None:
    cls = type(sb.get_codec(name))
    params = inspect.signature(cls).parameters
    assert "max_frame" in params and all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert set(params) == set(sb.get_codec(name).options())


# -- encode_parts: a large frame in pieces, no copy of the payload


@pytest.mark.parametrize("size", [0, 100, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 1 << 20])
def test_lenprefix_encode_parts_is_encode_in_pieces(size: int) -> None:
    codec = sb.get_codec("lenprefix")
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    parts = codec.encode_parts(payload)
    joined = parts if isinstance(parts, bytes) else b"".join(parts)
    assert joined == codec.encode(payload)
    if size >= 1 << 16:
        assert isinstance(parts, tuple) and parts[1] is payload  # the payload itself: not copied


@pytest.mark.parametrize("size", [0, 100, (1 << 16) - 1, 1 << 16, 1 << 20])
@pytest.mark.parametrize("options", [{}, {"width": 8, "byteorder": "little"}], ids=["default", "8-little"])
def test_tagged_lenprefix_encode_parts_is_encode_in_pieces(size: int, options: dict[str, Any]) -> None:
    codec = sb.get_codec("lenprefix", **options).tagged()
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    parts = codec.encode_parts((7, payload))
    assert (parts if isinstance(parts, bytes) else b"".join(parts)) == codec.encode((7, payload))
    if size >= 1 << 16:
        assert isinstance(parts, tuple) and parts[1] is payload  # the payload itself: not copied


@pytest.mark.parametrize(
    "bad",
    [(0, b"x" * (1 << 16)), (1 << 32, b"x" * (1 << 16)), ("7", b"x" * (1 << 16)), (7, "x" * (1 << 16)), (7,), 7],
    ids=["id-0", "id-too-big", "id-str", "str-payload", "no-payload", "no-pair"],
)
def test_tagged_lenprefix_encode_parts_refuses_what_encode_refuses(bad: Any) -> None:
    codec = sb.get_codec("lenprefix").tagged()
    with pytest.raises(sb.EncodeError) as direct:
        codec.encode(bad)
    with pytest.raises(sb.EncodeError) as parts:
        codec.encode_parts(bad)
    assert str(parts.value) == str(direct.value)


@pytest.mark.parametrize("text", ["", "x" * 100, "é" * (1 << 16), "y" * (1 << 20), "ok\r" + "z" * (1 << 16)])
def test_lines_encode_parts_is_encode_in_pieces(text: str) -> None:
    codec = sb.get_codec("lines")
    parts = codec.encode_parts(text)
    assert (parts if isinstance(parts, bytes) else b"".join(parts)) == codec.encode(text)


@pytest.mark.parametrize("bad", ["a\nb" + "x" * (1 << 16), "x" * (1 << 16) + "\r", "\ud800" * (1 << 16)])
def test_lines_encode_parts_refuses_what_encode_refuses(bad: str) -> None:
    codec = sb.get_codec("lines")
    with pytest.raises(sb.EncodeError) as direct:
        codec.encode(bad)
    with pytest.raises(sb.EncodeError) as parts:
        codec.encode_parts(bad)
    assert str(parts.value) == str(direct.value)
