#!/usr/bin/env python3
"""A tagged echo child (lines or jsonl) with one injected id mistake, chosen by argv[1]. Used by the conformance tests.

Usage: tagged_faulty.py MODE [lines|jsonl]. With STDIOBRIDGE_TAGGED=1 each request is
``<id> <text>`` (lines) or ``[id, message]`` (jsonl); otherwise it is a plain echo.
Modes:
  echo        a correct tagged echo
  wrong-id    answers with the request's id + 1 (an id the host never sent)
  drop-id     answers with the message alone, its id dropped
  twice       answers every request twice
  env         answers every request with the value of STDIOBRIDGE_TAGGED ("unset" when unset)
  reverse     answers the requests that arrived in one read last first
"""

from __future__ import annotations

import json
import os
import sys

MAX_ID = 2**32 - 1


def split(line: bytes, codec: str) -> tuple[int, object]:
    """The id and message of one tagged request line."""
    if codec == "lines":
        ident, _, text = line.partition(b" ")
        return int(ident), text.decode()
    ident, message = json.loads(line)
    return int(ident), message


def join(ident: int | None, message: object, codec: str) -> bytes:
    """One answer line: tagged with ``ident``, or the bare message when ``ident`` is None."""
    if codec == "lines":
        text = str(message)
        return (text if ident is None else f"{ident} {text}").encode() + b"\n"
    value = message if ident is None else [ident, message]
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def main() -> int:
    mode = sys.argv[1]
    codec = sys.argv[2] if len(sys.argv) > 2 else "lines"
    tagged = os.environ.get("STDIOBRIDGE_TAGGED") == "1"
    out = sys.stdout.buffer
    pending = b""
    while True:
        data = os.read(0, 1 << 16)
        if not data:
            return 0
        pending += data
        *batch, pending = pending.split(b"\n")
        if mode == "reverse":  # the requests of one read, answered last first
            batch.reverse()
        for request in batch:
            if mode == "env":
                value = os.environ.get("STDIOBRIDGE_TAGGED", "unset")
                out.write(join(split(request, codec)[0] if tagged else None, value, codec))
                continue
            if not tagged:
                out.write(request + b"\n")
                continue
            ident, message = split(request, codec)
            if mode == "wrong-id":
                out.write(join(ident % MAX_ID + 1, message, codec))
            elif mode == "drop-id":
                out.write(join(None, message, codec))
            elif mode == "twice":
                out.write(join(ident, message, codec) * 2)
            else:
                out.write(join(ident, message, codec))
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
