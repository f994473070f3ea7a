"""Byte-exact examples of the ``lsp`` codec: what it writes, what it accepts, how it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from lsp_helpers import frame, same
from stdiobridge_lsp import HEADER_LIMIT, LspCodec

import stdiobridge as sb

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
INITIALIZE_BODY = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}'


# -- encode


def test_encode_is_content_length_blank_line_body() -> None:
    codec = sb.get_codec("lsp")
    assert codec.encode(INITIALIZE) == b"Content-Length: 58\r\n\r\n" + INITIALIZE_BODY
    assert codec.encode([]) == b"Content-Length: 2\r\n\r\n[]"
    assert codec.encode(None) == b"Content-Length: 4\r\n\r\nnull"


def test_content_length_counts_utf8_bytes_not_characters() -> None:
    assert sb.get_codec("lsp").encode("é€😀") == b'Content-Length: 11\r\n\r\n"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"'


def test_content_type_is_sent_only_when_set() -> None:
    codec = sb.get_codec("lsp", content_type="application/vscode-jsonrpc; charset=utf-8")
    assert codec.encode(1) == (b"Content-Length: 1\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n1")
    assert b"Content-Type" not in sb.get_codec("lsp").encode(1)


def test_encode_refuses_what_json_cannot_carry() -> None:
    codec = sb.get_codec("lsp")
    for bad in ({1, 2}, object(), b"bytes", 2**64, {1: "non-str key"}, "\ud800"):
        with pytest.raises(sb.EncodeError, match="codec 'lsp': cannot encode") as info:
            codec.encode(bad)
        assert isinstance(info.value, ValueError)


def test_encode_refuses_a_body_over_max_frame() -> None:
    codec = sb.get_codec("lsp", max_frame=4)
    with pytest.raises(sb.EncodeError, match="message of 5 bytes exceeds max_frame=4"):
        codec.encode([1, 2])
    assert codec.encode([1]) == b"Content-Length: 3\r\n\r\n[1]"  # the header does not count


# -- decode: what is accepted


def test_decode_one_frame_and_a_dap_frame() -> None:
    dec = sb.get_codec("lsp").decoder()
    assert dec.feed(b"Content-Length: 58\r\n\r\n" + INITIALIZE_BODY) == [INITIALIZE]
    dap = b'{"seq":153,"type":"request","command":"next","arguments":{"threadId":3}}'
    assert dec.feed(b"Content-Length: 72\r\n\r\n" + dap) == [
        {"seq": 153, "type": "request", "command": "next", "arguments": {"threadId": 3}}
    ]
    assert dec.buffered == 0


@pytest.mark.parametrize(
    "headers",
    [
        [b"content-length: 2"],
        [b"CONTENT-LENGTH: 2"],
        [b"Content-Length:2"],
        [b"Content-Length: \t 2 \t"],
        [b"Content-Length: 0002"],
        [b"Content-Type: application/vscode-jsonrpc; charset=utf-8", b"Content-Length: 2"],
        [b"Content-Length: 2", b"Content-Type: application/vscode-jsonrpc; charset=utf8"],
        [b"X-Custom: anything at all \xc3\xa9", b"Content-Length: 2", b"X-Empty:"],
    ],
)
def test_header_variants_other_writers_use(headers: list[bytes]) -> None:
    data = frame(b"[]", *headers) * 2
    assert sb.get_codec("lsp").decoder().feed(data) == [[], []]
    dec = sb.get_codec("lsp").decoder()
    assert [m for i in range(len(data)) for m in dec.feed(data[i : i + 1])] == [[], []]


def test_body_is_any_json_value_with_whitespace_around() -> None:
    dec = sb.get_codec("lsp").decoder()
    values: list[Any] = [0, -1.5, "s", True, None, [1, [2]], {"a": {"b": []}}]
    for value, body in zip(
        values, [b"0", b" -1.5", b'"s"\n', b"\ttrue", b"null ", b"[1,[2]]", b'{"a": {"b": []}}'], strict=True
    ):
        assert same(dec.feed(frame(body, b"Content-Length: %d" % len(body))), [value])


def test_partial_frames_are_buffered_and_counted() -> None:
    dec = sb.get_codec("lsp").decoder()
    assert dec.feed(b"Content-Len") == []
    assert dec.buffered == 11
    assert dec.feed(b"gth: 7\r\n\r\n[1,") == []
    assert dec.buffered == 24
    assert dec.feed(b"2,3]Content-Length: 1\r\n\r\n4Content") == [[1, 2, 3], 4]
    assert dec.buffered == 7
    assert dec.feed(b"-Length: 1\r\n\r\n5") == [5]
    assert dec.buffered == 0


def test_a_large_body_in_small_chunks_counts_its_header_too() -> None:
    codec = sb.get_codec("lsp")
    data = codec.encode("x" * 300_000)
    dec = codec.decoder()
    assert dec.feed(data[:1000]) == []  # 26 header bytes and the first 974 of the body
    assert dec.buffered == 1000
    assert dec.feed(data[1000:-1]) == []
    assert dec.buffered == len(data) - 1
    assert dec.feed(data[-1:] + data) == ["x" * 300_000, "x" * 300_000]
    assert dec.buffered == 0


def test_header_block_of_exactly_header_limit_is_accepted_one_more_is_refused() -> None:
    def padded(size: int) -> bytes:
        head = b"Content-Length: 2\r\nX-Pad: \r\n\r\n"
        return head[:-4] + b"p" * (size - len(head)) + b"\r\n\r\n[]"

    ok, too_long = padded(HEADER_LIMIT), padded(HEADER_LIMIT + 1)
    assert len(ok) - 2 == HEADER_LIMIT
    assert sb.get_codec("lsp").decoder().feed(ok) == [[]]
    dec = sb.get_codec("lsp").decoder()
    assert [m for i in range(len(ok)) for m in dec.feed(ok[i : i + 1])] == [[]]
    with pytest.raises(sb.FrameTooLarge, match=f"header block exceeds {HEADER_LIMIT} bytes") as info:
        sb.get_codec("lsp").decoder().feed(too_long)
    assert info.value.limit == HEADER_LIMIT and info.value.excerpt.startswith(b"Content-Length: 2\r\nX-Pad: ppp")
    dec = sb.get_codec("lsp").decoder()
    with pytest.raises(sb.FrameTooLarge):
        for i in range(len(too_long)):
            dec.feed(too_long[i : i + 1])
    assert i == HEADER_LIMIT - 1  # refused once the block is certain to be too long, not later


# -- decode: how it refuses, with the offending bytes on .excerpt


@pytest.mark.parametrize(
    ("data", "kind", "message", "excerpt"),
    [
        (
            b"Content-Length: abc\r\n\r\n{}",
            sb.DecodeError,
            "Content-Length is not a byte count",
            b"Content-Length: abc",
        ),
        (b"Content-Length: -1\r\n\r\n", sb.DecodeError, "not a byte count", b"Content-Length: -1"),
        (b"Content-Length: 1_0\r\n\r\n", sb.DecodeError, "not a byte count", b"Content-Length: 1_0"),
        (b"Content-Length: \xd9\xa3\r\n\r\n", sb.DecodeError, "not a byte count", b"Content-Length: \xd9\xa3"),
        (
            b"Content-Length: 2\r\nCONTENT-LENGTH: 2\r\n\r\n{}",
            sb.DecodeError,
            "duplicate Content-Length",
            b"CONTENT-LENGTH: 2",
        ),
        (
            b"Content-Type: application/json\r\n\r\n{}",
            sb.DecodeError,
            "without a Content-Length header",
            b"Content-Type: application/json\r\n\r\n",
        ),
        (b"Content-Length 2\r\n\r\n{}", sb.DecodeError, "malformed header line", b"Content-Length 2"),
        (b"Content-Length : 2\r\n\r\n{}", sb.DecodeError, "malformed header line", b"Content-Length : 2"),
        (b"Content-Length: 2\r\nX: a\rb\r\n\r\n{}", sb.DecodeError, "malformed header line", b"X: a\rb"),
        (b"Content-Length: 2\n\n{}", sb.DecodeError, "bare LF instead of CRLF", b"Content-Length: 2\n"),
        (b'{"jsonrpc": "2.0"}\n', sb.DecodeError, "printing logs to stdout", b'{"jsonrpc": "2.0"}\n'),
        (b"Content-Length: 3\r\n\r\nnop", sb.DecodeError, "body that is not JSON", b"nop"),
        (b"Content-Length: 0\r\n\r\n", sb.DecodeError, "an empty body", b""),
        (b"Content-Length: 2\r\n\r\n\xff1", sb.DecodeError, "not JSON", b"\xff1"),
        (
            b"Content-Length: 67108865\r\n",
            sb.FrameTooLarge,
            "body of 67108865 bytes; max_frame is 67108864",
            b"Content-Length: 67108865",
        ),
        (
            b"Content-Length: " + b"9" * 40 + b"\r\n",
            sb.FrameTooLarge,
            "over 10\\*\\*30",
            b"Content-Length: " + b"9" * 40,
        ),
    ],
)
def test_refusals_name_the_fault_and_show_the_bytes(
    data: bytes, kind: type[sb.ProtocolError], message: str, excerpt: bytes
) -> None:
    good = sb.get_codec("lsp").encode({"ok": 1})
    for chunks in ([good + data], [good, data], [bytes([b]) for b in good + data]):
        dec = sb.get_codec("lsp").decoder()
        got: list[Any] = []
        with pytest.raises(kind, match=message) as info:
            for chunk in chunks:
                got.extend(dec.feed(chunk))
        assert type(info.value) is kind
        assert info.value.excerpt == excerpt
        assert got + info.value.messages == [{"ok": 1}]  # the message before the fault, exactly once
        assert dec.buffered == 0


def test_the_python_lsp_jsonrpc_bug_previous_message_is_never_redelivered() -> None:
    """pylsp_jsonrpc's JsonRpcStreamReader.listen() catches the ValueError of an invalid
    Content-Length, does not ``continue``, and hands the previous request_str to the consumer
    a second time. Here: the good message comes out once, then the fault, then the fault again."""
    codec = sb.get_codec("lsp")
    dec = codec.decoder()
    assert dec.feed(codec.encode({"id": 1})) == [{"id": 1}]
    with pytest.raises(sb.DecodeError) as first:
        dec.feed(b"Content-Length: twelve\r\n\r\n")
    assert first.value.messages == []
    for more in (codec.encode({"id": 2}), b"", b"\r\n"):
        with pytest.raises(sb.DecodeError) as again:
            dec.feed(more)
        assert again.value.messages == []
        assert str(again.value) == str(first.value) and again.value.excerpt == first.value.excerpt

    # Messages decoded in the same feed as the fault ride on the first error only.
    dec = codec.decoder()
    with pytest.raises(sb.DecodeError) as first:
        dec.feed(codec.encode({"id": 1}) + codec.encode({"id": 2}) + b"Content-Length: x\r\n\r\n")
    assert first.value.messages == [{"id": 1}, {"id": 2}]
    with pytest.raises(sb.DecodeError) as again:
        dec.feed(codec.encode({"id": 3}))
    assert again.value.messages == []
    assert first.value.messages == [{"id": 1}, {"id": 2}]  # the first error is left as it was


def test_a_large_body_then_a_fault_in_the_same_chunk() -> None:
    codec = sb.get_codec("lsp")
    big = codec.encode(["y" * 200_000])
    dec = codec.decoder()
    assert dec.feed(big[:100]) == []
    with pytest.raises(sb.DecodeError) as info:
        dec.feed(big[100:] + b"oops\r\n\r\n")
    assert info.value.messages == [["y" * 200_000]]
    assert dec.buffered == 0


def test_frame_too_large_keeps_size_and_limit_when_raised_again() -> None:
    dec = sb.get_codec("lsp", max_frame=10).decoder()
    with pytest.raises(sb.FrameTooLarge):
        dec.feed(b"Content-Length: 11\r\n")
    with pytest.raises(sb.FrameTooLarge) as again:
        dec.feed(b"\r\n")
    assert (again.value.size, again.value.limit) == (11, 10)


def test_codec_instance_and_repr() -> None:
    codec = sb.get_codec("lsp", max_frame=1024, content_type="application/json")
    assert isinstance(codec, LspCodec)
    assert repr(codec) == "<LspCodec 'lsp' max_frame=1024, content_type='application/json'>"
    assert codec.options() == {"max_frame": 1024, "content_type": "application/json"}
    assert sb.get_codec("lsp").options() == {"max_frame": 64 * 1024 * 1024, "content_type": None}
