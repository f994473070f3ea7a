"""The shared golden vectors, byte for byte: the same files the Go and Racket suites read."""

from __future__ import annotations

import pytest

import stdiobridge as sb

from vectors import Case, cases, message, messages, same


def _ids(all_cases: list[Case]) -> list[str]:
    return [c.id for c in all_cases]


VALID = cases("valid")


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid_decodes_exactly(case: Case) -> None:
    codec = sb.get_codec(case.codec, **case.options)
    frame = bytes.fromhex(case.data["hex"])
    got = codec.decoder().feed(frame)
    assert len(got) == 1 and same(got[0], message(case.codec, case.data))


@pytest.mark.parametrize(
    "case",
    [c for c in VALID if c.data.get("direction", "both") == "both"],
    ids=_ids([c for c in VALID if c.data.get("direction", "both") == "both"]),
)
def test_valid_encodes_exactly(case: Case) -> None:
    codec = sb.get_codec(case.codec, **case.options)
    assert codec.encode(message(case.codec, case.data)).hex() == case.data["hex"]


STREAMS = cases("streams")


@pytest.mark.parametrize("case", STREAMS, ids=_ids(STREAMS))
def test_stream(case: Case) -> None:
    dec = sb.get_codec(case.codec, **case.options).decoder()
    data = bytes.fromhex(case.data["hex"])
    assert same(dec.feed(data), messages(case.codec, case.data, "messages"))
    assert dec.buffered == case.data["buffered"]
    # and byte by byte, the same
    dec = sb.get_codec(case.codec, **case.options).decoder()
    got = [m for i in range(len(data)) for m in dec.feed(data[i : i + 1])]
    assert same(got, messages(case.codec, case.data, "messages"))
    assert dec.buffered == case.data["buffered"]


INVALID = cases("invalid")


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid(case: Case) -> None:
    error = getattr(sb, case.data["error"])
    dec = sb.get_codec(case.codec, **case.options).decoder()
    with pytest.raises(error) as info:
        dec.feed(bytes.fromhex(case.data["hex"]))
    assert same(info.value.messages, messages(case.codec, case.data, "messages_before"))
    assert isinstance(info.value, sb.ProtocolError)
    assert dec.buffered <= max(case.options.get("max_frame", 0), len(case.data["hex"]) // 2)


UNENCODABLE = cases("unencodable")


@pytest.mark.parametrize("case", UNENCODABLE, ids=_ids(UNENCODABLE))
def test_unencodable(case: Case) -> None:
    codec = sb.get_codec(case.codec, **case.options)
    with pytest.raises(sb.EncodeError):
        codec.encode(message(case.codec, case.data))


def test_every_codec_has_vectors_of_every_kind() -> None:
    for kind in ("valid", "streams", "invalid", "unencodable"):
        assert {c.codec for c in cases(kind)} == {"lines", "jsonl", "lenprefix", "msgpack"}, kind
