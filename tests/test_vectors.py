"""The shared golden vectors, byte for byte: the same files the Go and Racket suites read."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

import stdiobridge as sb

from vectors import VECTORS, Case, TaggedCase, cases, message, messages, same, tagged_cases


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


# --- tagged mode: protocols/vectors/tagged.json -----------------------------------------------------


def _tagged_codec(case: TaggedCase) -> sb.Codec[tuple[int, Any]]:
    return sb.get_codec(case.codec, **case.options).tagged()


def test_tagged_vectors_are_what_the_generator_writes() -> None:
    tool = Path(__file__).resolve().parent.parent / "tools" / "make_tagged_vectors.py"
    spec = importlib.util.spec_from_file_location("make_tagged_vectors", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (VECTORS / "tagged.json").read_text(encoding="utf-8") == module.build()


def test_tagged_vectors_cover_every_codec_valid_and_invalid() -> None:
    for kind in ("valid", "invalid"):
        assert {c.codec for c in tagged_cases(kind)} == {"lines", "jsonl", "lenprefix", "msgpack"}, kind


TAGGED_VALID = tagged_cases("valid")
TAGGED_DECODES = tagged_cases("valid") + tagged_cases("decodes")


@pytest.mark.parametrize("case", TAGGED_VALID, ids=[c.id for c in TAGGED_VALID])
def test_tagged_valid_encodes_exactly(case: TaggedCase) -> None:
    assert _tagged_codec(case).encode(case.pair).hex() == case.data["hex"]


@pytest.mark.parametrize("case", TAGGED_DECODES, ids=[c.id for c in TAGGED_DECODES])
def test_tagged_valid_decodes_exactly_whole_and_byte_by_byte(case: TaggedCase) -> None:
    frame = bytes.fromhex(case.data["hex"])
    for chunks in ([frame], [frame[i : i + 1] for i in range(len(frame))]):
        dec = _tagged_codec(case).decoder()
        got = [m for c in chunks for m in dec.feed(c)]
        assert len(got) == 1 and got[0][0] == case.data["id"] and same(got[0][1], case.pair[1])
        assert dec.buffered == 0


TAGGED_INVALID = tagged_cases("invalid")


@pytest.mark.parametrize("case", TAGGED_INVALID, ids=[c.id for c in TAGGED_INVALID])
def test_tagged_invalid_is_a_decode_error_after_the_valid_frames_before_it(case: TaggedCase) -> None:
    codec = _tagged_codec(case)
    good = codec.encode((7, message(case.codec, {"message": "x", "message_hex": "78"})))
    plain = sb.get_codec(case.codec, **case.options)
    frame = bytes.fromhex(case.data["hex"])
    assert len(plain.decoder().feed(frame)) == 1  # a valid frame of the codec ...
    with pytest.raises(sb.DecodeError) as info:  # ... that is not a tagged frame
        codec.decoder().feed(good + frame)
    assert info.value.messages == [(7, message(case.codec, {"message": "x", "message_hex": "78"}))]
    assert "not a tagged frame" in str(info.value)


TAGGED_UNENCODABLE = tagged_cases("unencodable")


@pytest.mark.parametrize("case", TAGGED_UNENCODABLE, ids=[c.id for c in TAGGED_UNENCODABLE])
def test_tagged_unencodable(case: TaggedCase) -> None:
    with pytest.raises(sb.EncodeError):
        _tagged_codec(case).encode(case.pair)
