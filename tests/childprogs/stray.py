#!/usr/bin/env python3
"""A tagged echo child that writes stray bytes on stdout before every answer.

argv: CODEC HOW. HOW ``together``: the stray bytes and the answer in one write;
``apart``: the stray bytes, a pause, then the answer (so they reach the host in
separate reads). The stray bytes look as much like an answer as the codec allows.
"""

from __future__ import annotations

import os
import sys
import time

import stdiobridge as sb

STRAY = {
    "lines": b"200 OK\n",  # digits and a space: parses as an id, just not one in flight
    "jsonl": b'{"log": "starting"}\n',
    "msgpack": b"d",  # a positive fixint: valid msgpack
    "lenprefix": b"\x00\x00\x00\x05hello",  # a whole frame whose "id" is b"hell"
}


def main() -> int:
    name, how = sys.argv[1], sys.argv[2]
    codec = sb.get_codec(name).tagged()
    decoder = codec.decoder()
    while True:
        data = os.read(0, 65536)
        if not data:
            return 0
        for rid, message in decoder.feed(data):
            answer = codec.encode((rid, message))
            if how == "together":
                os.write(1, STRAY[name] + answer)
            else:
                os.write(1, STRAY[name])
                time.sleep(0.05)  # the host reads the stray bytes on their own first
                os.write(1, answer)


if __name__ == "__main__":
    sys.exit(main())
