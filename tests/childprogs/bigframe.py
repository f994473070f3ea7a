#!/usr/bin/env python3
"""A lenprefix echo child whose answers to a trigger (a payload starting with ``!``) come broken.

Modes (argv[1]):
  echo         plain echo
  split S      on a trigger: the first half of the answer's frame, the rest S seconds later
  crash-mid    on a trigger: the first half of the answer's frame, then exit 4
  hang-mid     on a trigger: the first half of the answer's frame, then never the rest
               (requests after it are not read either)

With STDIOBRIDGE_TAGGED=1 every payload carries the request id first, as the tagged codec says.
"""

from __future__ import annotations

import os
import sys
import time

import stdiobridge as sb


def out(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def main() -> int:
    mode = sys.argv[1]
    arg = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    codec = sb.get_codec("lenprefix")
    if os.environ.get("STDIOBRIDGE_TAGGED") == "1":
        codec = codec.tagged()
    decoder = codec.decoder()
    while data := os.read(0, 1 << 16):
        for message in decoder.feed(data):
            frame = codec.encode(message)
            payload = message[1] if isinstance(message, tuple) else message
            if mode == "echo" or not payload.startswith(b"!"):
                out(frame)
                continue
            out(frame[: len(frame) // 2])
            if mode == "crash-mid":
                sys.stderr.write("segfault in handler\n")
                sys.stderr.flush()
                os._exit(4)
            time.sleep(arg if mode == "split" else 3600)
            out(frame[len(frame) // 2 :])
    return 0


if __name__ == "__main__":
    sys.exit(main())
