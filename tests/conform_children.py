#!/usr/bin/env python3
"""Children with the mistakes the conformance kit exists to find, chosen by argv[1] (real processes).

lenprefix W          a correct lenprefix echo that reads and writes a W-byte big-endian prefix
jsonl-int-floats     a jsonl echo that writes integral floats as integers (1.0 -> 1)
msgpack-array-key    answers every msgpack request with a map whose key is an array
msgpack-crash        exits 3 with a reason on stderr at the first request
msgpack-odd          answers every request with integer and nil keys, an ext type, a timestamp, bytes
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def read_exactly(n: int) -> bytes | None:
    data = sys.stdin.buffer.read(n)
    return data if len(data) == n else None


def lenprefix(width: int) -> None:
    while (head := read_exactly(width)) is not None:
        payload = read_exactly(int.from_bytes(head, "big")) or b""
        sys.stdout.buffer.write(len(payload).to_bytes(width, "big") + payload)
        sys.stdout.buffer.flush()


def ints_for_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [ints_for_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: ints_for_floats(v) for k, v in value.items()}
    return value


def main() -> int:
    mode = sys.argv[1]
    if mode == "lenprefix":
        lenprefix(int(sys.argv[2]))
        return 0
    if mode == "lenprefix-log":
        while (head := read_exactly(4)) is not None:
            payload = read_exactly(int.from_bytes(head, "big")) or b""
            sys.stdout.buffer.write(b"INFO handling a request\n" + head + payload)
            sys.stdout.buffer.flush()
        return 0
    if mode == "jsonl-int-floats":
        for line in sys.stdin:
            sys.stdout.write(json.dumps(ints_for_floats(json.loads(line))) + "\n")
            sys.stdout.flush()
        return 0
    import msgpack  # noqa: PLC0415

    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    while chunk := os.read(0, 65536):
        unpacker.feed(chunk)
        for _request in unpacker:
            if mode == "msgpack-crash":
                sys.stderr.write("panic: unsupported message type\n")
                sys.stderr.flush()
                return 3
            if mode == "msgpack-odd":
                odd = {1: "one", None: b"\xff\x00", "ext": msgpack.ExtType(5, b"ab"), "t": msgpack.Timestamp(1, 0)}
                sys.stdout.buffer.write(msgpack.packb(odd, use_bin_type=True))
            else:  # a map keyed by an array: fine in msgpack, not a hashable Python dict key
                sys.stdout.buffer.write(b"\x81\x92\x01\x02\xa1x")
            sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
