"""A tiny LSP-framed echo child, standard library only (it does not use the codec under test).

It reads base-protocol frames from stdin and answers each with a frame carrying
the same JSON body, written the way real servers do: a lower-case
``content-length`` and a ``Content-Type`` header. It exits 0 on EOF.

A request ``{"method": "$/misbehave", "params": {"how": ...}}`` makes it answer
wrongly on purpose, so that the tests can watch the codec refuse the answer:

* ``log``: a log line on stdout instead of a frame;
* ``bad-length``: ``Content-Length: 12abc``;
* ``no-length``: a header block without ``Content-Length``;
* ``not-json``: a well-framed body that is not JSON;
* ``trickle``: a correct answer (the request), written one byte at a time.
"""

from __future__ import annotations

import json
import sys
import time
from typing import BinaryIO

CONTENT_TYPE = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"


def read_frame(stdin: BinaryIO) -> bytes | None:
    """The body of the next frame, or ``None`` at EOF."""
    length: int | None = None
    while True:
        line = stdin.readline()
        if not line:
            return None
        if line == b"\r\n":
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length is None:
        raise SystemExit("lsp_echo_child: a header block without Content-Length")
    body = stdin.read(length)
    return body if len(body) == length else None


def header(size: int) -> bytes:
    return b"content-length: %d\r\n%s\r\n" % (size, CONTENT_TYPE)


def misbehave(how: str, body: bytes, stdout: BinaryIO) -> None:
    if how == "log":
        stdout.write(b"INFO lsp_echo_child: handling a request\n")
    elif how == "bad-length":
        stdout.write(b"Content-Length: 12abc\r\n\r\n{}")
    elif how == "no-length":
        stdout.write(CONTENT_TYPE + b"\r\n{}")
    elif how == "not-json":
        stdout.write(header(9) + b"not json!")
    elif how == "trickle":
        for i, byte in enumerate(header(len(body)) + body):
            stdout.write(bytes([byte]))
            stdout.flush()
            if i % 16 == 0:
                time.sleep(0.001)
    else:
        raise SystemExit(f"lsp_echo_child: unknown misbehaviour {how!r}")


def main() -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        body = read_frame(stdin)
        if body is None:
            return 0
        request = json.loads(body)
        if isinstance(request, dict) and request.get("method") == "$/misbehave":
            misbehave(request["params"]["how"], body, stdout)
        else:
            stdout.write(header(len(body)) + body)
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
