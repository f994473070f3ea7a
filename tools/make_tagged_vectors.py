"""Write ``protocols/vectors/tagged.json``: golden vectors of the tagged wire format, for every codec.

The frames are built here byte by byte from the codecs' own vector files (the
canonical frame of each message there), not with stdiobridge's tagged codecs, so
that the vectors check the implementation instead of repeating it. Run it after
changing a codec's vector file; ``tests/test_vectors.py`` fails when the committed
file differs from what this script writes.

    python tools/make_tagged_vectors.py          # rewrite the file
    python tools/make_tagged_vectors.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent.parent / "protocols" / "vectors"
TARGET = VECTORS / "tagged.json"

#: Ids spread over every size class (msgpack fixint/uint8/uint16/uint32, 1..10 decimal digits),
#: with asymmetric byte patterns so that a wrong byte order shows.
IDS = (1, 7, 42, 127, 128, 255, 256, 65535, 65536, 16909060, 2**31, 3735928559, 2**32 - 1)

DESCRIPTION = (
    "Tagged mode (STDIOBRIDGE_TAGGED=1 in the child's environment): every frame carries a request id, an integer "
    "1 .. 2^32-1 chosen by the host; the child copies it onto its answer and may answer in any order. "
    "jsonl and msgpack: the message is the 2-element array [id, message] (jsonl compact, no fraction or exponent "
    "in the id; msgpack any integer encoding holding the value, encoders write the smallest). lines: "
    "'<id> <text>' (decimal ASCII digits, no sign, no leading zero, exactly one space, then the text, which may be "
    "empty). lenprefix: the payload is the id as a 4-byte unsigned integer in the codec's byteorder, then the "
    "message bytes; the length prefix counts both. Messages are written as in each codec's own vector file. "
    "'valid': encoding (id, message) gives exactly hex, decoding hex gives (id, message), and a tagged echo child "
    "writes hex back unchanged. 'decodes': non-canonical but valid tagged frames that the host decodes to "
    "(id, message) (not echo-exact). 'invalid': frames valid for the codec but not tagged frames; the host's "
    "decoder raises error. 'unencodable': (id, message) the host refuses to encode (EncodeError)."
)


def _load(codec: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{codec}.json").read_text(encoding="utf-8"))
    return data


def _canonical(codec: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """The valid, encode-exact cases of ``codec``'s vector set with exactly these options."""
    for vset in _load(codec)["sets"]:
        if vset["options"] == options:
            return [dict(c) for c in vset["valid"] if c.get("direction", "both") == "both"]
    raise LookupError(f"{codec}.json has no set with options {options!r}")


def _case(name: str, ident: int, frame: bytes, **message: Any) -> dict[str, Any]:
    return {"name": name, "id": ident, **message, "hex": frame.hex()}


def _bad(name: str, frame: bytes) -> dict[str, Any]:
    return {"name": name, "hex": frame.hex(), "error": "DecodeError"}


# --- lines ------------------------------------------------------------------------------------------


def lines_set() -> dict[str, Any]:
    valid = []
    for i, case in enumerate(_canonical("lines", {})):
        ident = IDS[i % len(IDS)]
        text: str = case["message"]
        frame = b"%d " % ident + bytes.fromhex(case["hex"])  # the untagged frame: the text and its LF
        valid.append(_case(case["name"], ident, frame, message=text))
    valid.append(_case("text-starting-with-a-space", 9, b"9  x\n", message=" x"))
    valid.append(_case("text-that-looks-tagged", 12, b"12 34 56\n", message="34 56"))
    decodes = [
        _case("crlf", 7, b"7 hi\r\n", message="hi"),
        _case("crlf-empty-text", 7, b"7 \r\n", message=""),
    ]
    invalid = [
        _bad("empty-line", b"\n"),
        _bad("no-space", b"7\n"),
        _bad("no-space-text", b"hello\n"),
        _bad("empty-id", b" hi\n"),
        _bad("tab-instead-of-space", b"7\thi\n"),
        _bad("plus-sign", b"+7 hi\n"),
        _bad("minus-sign", b"-7 hi\n"),
        _bad("leading-zero", b"07 hi\n"),
        _bad("id-zero", b"0 hi\n"),
        _bad("id-2^32", b"4294967296 hi\n"),
        _bad("id-20-digits", b"18446744073709551616 hi\n"),
        _bad("non-digit-in-id", b"7x hi\n"),
        _bad("underscore-in-id", b"1_000 hi\n"),
        _bad("fullwidth-digit", "\uff17 hi\n".encode()),
        _bad("arabic-indic-digit", "\u0667 hi\n".encode()),
        _bad("log-line", b"INFO listening on :8080\n"),
    ]
    return {"codec": "lines", "options": {}, "valid": valid, "decodes": decodes, "invalid": invalid}


# --- jsonl ------------------------------------------------------------------------------------------


def jsonl_set() -> dict[str, Any]:
    valid = []
    for i, case in enumerate(_canonical("jsonl", {})):
        ident = IDS[i % len(IDS)]
        body = bytes.fromhex(case["hex"])[:-1]  # the compact JSON of the message, without its LF
        valid.append(_case(case["name"], ident, b"[%d,%s]\n" % (ident, body), message=case["message"]))
    decodes = [
        _case("whitespace", 7, b' [ 7 , "hi" ] \n', message="hi"),
        _case("crlf", 7, b'[7,"hi"]\r\n', message="hi"),
    ]
    invalid = [
        _bad("object", b'{"id":7,"message":"hi"}\n'),
        _bad("number", b"7\n"),
        _bad("string", b'"7 hi"\n'),
        _bad("null", b"null\n"),
        _bad("empty-array", b"[]\n"),
        _bad("one-element", b"[7]\n"),
        _bad("three-elements", b'[7,"hi",1]\n'),
        _bad("id-true", b'[true,"hi"]\n'),
        _bad("id-false", b'[false,"hi"]\n'),
        _bad("id-null", b'[null,"hi"]\n'),
        _bad("id-string", b'["7","hi"]\n'),
        _bad("id-float", b'[7.0,"hi"]\n'),
        _bad("id-exponent", b'[7e0,"hi"]\n'),
        _bad("id-array", b'[[7],"hi"]\n'),
        _bad("id-zero", b'[0,"hi"]\n'),
        _bad("id-minus-zero", b'[-0,"hi"]\n'),
        _bad("id-negative", b'[-7,"hi"]\n'),
        _bad("id-2^32", b'[4294967296,"hi"]\n'),
        _bad("id-2^64", b'[18446744073709551616,"hi"]\n'),
        _bad("message-and-id-swapped", b'["hi",7]\n'),
    ]
    return {"codec": "jsonl", "options": {}, "valid": valid, "decodes": decodes, "invalid": invalid}


# --- lenprefix --------------------------------------------------------------------------------------


def lenprefix_set(options: dict[str, Any]) -> dict[str, Any]:
    width: int = options.get("width", 4)
    order: str = options.get("byteorder", "big")
    base = {"width": width, "byteorder": order} if width in (1, 2) else {}

    def frame(payload: bytes) -> bytes:
        return len(payload).to_bytes(width, order) + payload  # type: ignore[arg-type]

    def tag(ident: int) -> bytes:
        return ident.to_bytes(4, order)  # type: ignore[arg-type]

    valid = []
    for i, case in enumerate(_canonical("lenprefix", base)):
        message = bytes.fromhex(case["message_hex"])
        if len(message) + 4 > 2 ** (8 * width) - 1:
            continue
        ident = IDS[i % len(IDS)]
        valid.append(_case(case["name"], ident, frame(tag(ident) + message), message_hex=message.hex()))
    valid.append(_case("id-bytes-in-order", 16909060, frame(tag(16909060) + b"ab"), message_hex=b"ab".hex()))
    unencodable = []
    if width == 1:
        most = bytes(range(251))
        valid.append(_case("longest-for-width-1", 2**32 - 1, frame(tag(2**32 - 1) + most), message_hex=most.hex()))
        unencodable.append({"name": "too-long-for-width-1", "id": 1, "message_hex": (most + b"!").hex()})
    invalid = [
        _bad("empty-payload", frame(b"")),
        _bad("payload-1-byte", frame(b"\x07")),
        _bad("payload-3-bytes", frame(b"\x00\x00\x07")),
        _bad("id-zero", frame(b"\x00\x00\x00\x00hi")),
        _bad("id-zero-empty-message", frame(b"\x00\x00\x00\x00")),
    ]
    out: dict[str, Any] = {"codec": "lenprefix", "options": options, "valid": valid, "invalid": invalid}
    if unencodable:
        out["unencodable"] = unencodable
    return out


# --- msgpack ----------------------------------------------------------------------------------------


def _mp_uint(value: int) -> bytes:
    """The smallest msgpack encoding of a non-negative integer."""
    if value < 0x80:
        return bytes([value])
    for head, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if value < 1 << (8 * size):
            return bytes([head]) + value.to_bytes(size, "big")
    raise ValueError(value)


def msgpack_set() -> dict[str, Any]:
    valid = []
    for i, case in enumerate(_canonical("msgpack", {})):
        ident = IDS[i % len(IDS)]
        frame = b"\x92" + _mp_uint(ident) + bytes.fromhex(case["hex"])
        valid.append(_case(case["name"], ident, frame, message=case["message"]))
    hi = b"\xa2hi"  # the str "hi"
    decodes = [
        _case("id-uint64-holding-7", 7, b"\x92\xcf" + (7).to_bytes(8, "big") + hi, message="hi"),
        _case("id-uint8-holding-7", 7, b"\x92\xcc\x07" + hi, message="hi"),
        _case("id-int8-holding-7", 7, b"\x92\xd0\x07" + hi, message="hi"),
        _case("id-int64-holding-2^32-1", 2**32 - 1, b"\x92\xd3" + (2**32 - 1).to_bytes(8, "big") + hi, message="hi"),
        _case("array16-of-2", 7, b"\xdc\x00\x02\x07" + hi, message="hi"),
        _case("array32-of-2", 7, b"\xdd\x00\x00\x00\x02\x07" + hi, message="hi"),
    ]
    invalid = [
        _bad("fixint", b"\x07"),
        _bad("ascii-byte", b"d"),
        _bad("str", b"\xa4 7hi"),
        _bad("map", b"\x81\x07" + hi),
        _bad("nil", b"\xc0"),
        _bad("empty-array", b"\x90"),
        _bad("one-element", b"\x91\x07"),
        _bad("three-elements", b"\x93\x07" + hi + b"\xc0"),
        _bad("id-true", b"\x92\xc3" + hi),
        _bad("id-false", b"\x92\xc2" + hi),
        _bad("id-nil", b"\x92\xc0" + hi),
        _bad("id-float64", b"\x92\xcb" + bytes.fromhex("401c000000000000") + hi),
        _bad("id-float32", b"\x92\xca" + bytes.fromhex("40e00000") + hi),
        _bad("id-str", b"\x92\xa17" + hi),
        _bad("id-bin", b"\x92\xc4\x01\x07" + hi),
        _bad("id-array", b"\x92\x91\x07" + hi),
        _bad("id-zero", b"\x92\x00" + hi),
        _bad("id-negative-fixint", b"\x92\xff" + hi),
        _bad("id-int8-negative", b"\x92\xd0\xf9" + hi),
        _bad("id-2^32", b"\x92\xcf" + (2**32).to_bytes(8, "big") + hi),
        _bad("id-uint64-max", b"\x92\xcf" + b"\xff" * 8 + hi),
    ]
    return {"codec": "msgpack", "options": {}, "valid": valid, "decodes": decodes, "invalid": invalid}


def build() -> str:
    """The whole file's text, deterministic."""
    doc = {
        "description": DESCRIPTION,
        "env": "STDIOBRIDGE_TAGGED",
        "sets": [
            lines_set(),
            jsonl_set(),
            lenprefix_set({}),
            lenprefix_set({"width": 2, "byteorder": "little"}),
            lenprefix_set({"width": 1}),
            msgpack_set(),
        ],
    }
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python tools/make_tagged_vectors.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
