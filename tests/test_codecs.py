"""Behaviour of each built-in codec that the vectors cannot show: messages, options, errors."""

from __future__ import annotations

import pytest

import stdiobridge as sb


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
