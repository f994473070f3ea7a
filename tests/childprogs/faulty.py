#!/usr/bin/env python3
"""A line-echo child with one injected fault, chosen by argv[1]. Used by the fault-matrix tests.

Modes (each echoes request lines unless it says otherwise; "a trigger" is a request
containing "!", so that the next request on a fresh child succeeds):
  echo                 plain echo
  crash-before-reply   on a trigger: write a reason to stderr, exit 3
  crash-mid-frame      on a trigger: write half of the answer, exit 4
  hang                 on a trigger: never answer (requests after it are not read either)
  late S               on a trigger: answer after S seconds
  half-late S          on a trigger: write half of the answer, the rest S seconds later
  half-hang S          on a trigger: write half of the answer after S seconds, then never the rest
                       (requests after it are not read either)
  no-flush             answer into a buffer that is never flushed
  garbage              print a log line to stdout before each answer
  huge-line N          answer every request with a line of N bytes
  stderr-flood N       write N bytes of stderr lines, then echo (and keep writing while answering)
  exit-at-startup      write a reason to stderr and exit 2 before reading anything
  ignore-sigterm       ignore SIGTERM and stdin EOF; echo until killed
  grandchild FILE      start a grandchild (sleep) recording its pid in FILE, then echo
  crash-every-call     answer nothing: every request makes it exit 5
  invalid-utf8         answer every request with bytes that are not UTF-8
  double-answer        answer every request twice
  answer-then-die      answer the first request, then exit 0
  drop N               silently skip every Nth request

With STDIOBRIDGE_TAGGED=1 (tagged mode) each request line is ``<id> <text>`` and each
answer carries the request's id the same way; the faults stay the same.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time


def lines() -> object:
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        yield line


def out(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def main() -> int:
    mode = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else ""
    if mode == "exit-at-startup":
        sys.stderr.write("fatal: config file /etc/app.conf is missing\n")
        return 2
    if mode == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "grandchild":
        grand = subprocess.Popen(["sleep", "300"])
        with open(arg, "w") as fh:
            fh.write(str(grand.pid))
    if mode == "stderr-flood":
        block = (b"e" * 99 + b"\n") * 10_000  # 1 MB
        for _ in range(int(arg) // len(block)):
            sys.stderr.buffer.write(block)
        sys.stderr.buffer.flush()
    seen = 0
    tagged = os.environ.get("STDIOBRIDGE_TAGGED") == "1"
    held = io.BufferedWriter(io.FileIO(1, "w", closefd=False), buffer_size=1 << 16)
    for raw in lines():  # type: ignore[attr-defined]
        tag, line = b"", raw
        if tagged:
            head, _, line = raw.partition(b" ")
            tag = head + b" "
        trigger = b"!" in line
        seen += 1
        if mode == "drop" and seen % int(arg) == 0:
            continue
        if (mode == "crash-before-reply" and trigger) or mode == "crash-every-call":
            sys.stderr.write(f"panic: cannot handle {line[:20]!r}\n")
            sys.stderr.flush()
            return 3 if mode == "crash-before-reply" else 5
        if mode == "crash-mid-frame" and trigger:
            out(tag + line[: len(line) // 2])
            sys.stderr.write("segfault in handler\n")
            sys.stderr.flush()
            os._exit(4)
        if mode == "hang" and trigger:
            time.sleep(3600)
        if mode in ("half-late", "half-hang") and trigger:
            if mode == "half-hang":
                time.sleep(float(arg))
            out(tag + line[: len(line) // 2])
            time.sleep(float(arg) if mode == "half-late" else 3600)
            out(line[len(line) // 2 :])
            continue
        if mode == "late" and trigger:
            time.sleep(float(arg))
        if mode == "no-flush":
            held.write(tag + line)  # a block-buffered stdout, never flushed (as C stdio or Racket would)
            continue
        if mode == "garbage":
            out(b"INFO handling request\n")
        if mode == "huge-line":
            out(tag + b"x" * int(arg) + b"\n")
            continue
        if mode == "stderr-flood":
            sys.stderr.buffer.write(b"still working\n" * 1000)
            sys.stderr.buffer.flush()
        if mode == "invalid-utf8":
            out(tag + b"caf\xe9 \xff\n")
            continue
        if mode == "double-answer":
            out(tag + line + tag + line)
            continue
        out(tag + line)
        if mode == "answer-then-die":
            return 0
    if mode == "ignore-sigterm":
        while True:
            time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
