"""Hand-written baselines: the least code a careful person would write per codec.

Each ``HandLoop`` drives the same child as the bridge with blocking os.write/os.read
on raw pipes and the minimal framing of its codec; ``hand_pipeline`` is a writer
thread feeding requests while the caller reads responses.
"""

from __future__ import annotations

import os
import struct
import subprocess
import threading
from typing import Any

import msgpack
import orjson

_READ = 1 << 16


class HandLoop:
    """One request, one response, blocking I/O, per-codec framing written out by hand."""

    def __init__(self, command: list[str], codec: str) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        assert self.proc.stdin and self.proc.stdout
        self.w = self.proc.stdin.fileno()
        self.r = self.proc.stdout.fileno()
        self.codec = codec
        self.unpacker = msgpack.Unpacker(raw=False)
        self.call = getattr(self, f"_{codec}")

    def _write(self, data: bytes) -> None:
        n = os.write(self.w, data)
        if n < len(data):  # large requests: the child echoes while reading, so read alongside
            view = memoryview(data)[n:]
            t = threading.Thread(target=lambda: self._write_rest(view))
            t.start()
            self._writer: threading.Thread | None = t
        else:
            self._writer = None

    def _write_rest(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self.w, view) :]

    def _join(self) -> None:
        if self._writer is not None:
            self._writer.join()

    def _line(self) -> bytes:
        data = os.read(self.r, _READ)
        if data.endswith(b"\n"):
            return data
        parts = [data]
        while not data.endswith(b"\n"):
            data = os.read(self.r, _READ)
            parts.append(data)
        return b"".join(parts)

    def _lines(self, msg: str) -> str:
        self._write((msg + "\n").encode())
        out = self._line()[:-1].decode()
        self._join()
        return out

    def _jsonl(self, msg: Any) -> Any:
        self._write(orjson.dumps(msg, option=orjson.OPT_APPEND_NEWLINE))
        out = orjson.loads(self._line())
        self._join()
        return out

    def _lenprefix(self, msg: bytes) -> bytes:
        self._write(struct.pack(">I", len(msg)) + msg)
        data = os.read(self.r, _READ)
        while len(data) < 4:
            data += os.read(self.r, _READ)
        size = struct.unpack_from(">I", data)[0] + 4
        if len(data) < size:
            parts = [data]
            have = len(data)
            while have < size:
                chunk = os.read(self.r, _READ)
                parts.append(chunk)
                have += len(chunk)
            data = b"".join(parts)
        self._join()
        return data[4:]

    def _msgpack(self, msg: Any) -> Any:
        self._write(msgpack.packb(msg))
        unpacker = self.unpacker
        while True:
            unpacker.feed(os.read(self.r, _READ))
            for value in unpacker:
                self._join()
                return value

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


_ENCODERS: dict[str, Any] = {
    "lines": lambda m: (m + "\n").encode(),
    "jsonl": lambda m: orjson.dumps(m, option=orjson.OPT_APPEND_NEWLINE),
    "lenprefix": lambda m: struct.pack(">I", len(m)) + m,
    "msgpack": msgpack.packb,
}


def hand_pipeline(command: list[str], messages: list[Any], codec: str) -> int:
    """Encode and write ``messages`` from a thread while decoding the responses here.

    The child is started before the clock of the caller matters little (a few ms);
    what is compared is encoding, writing, reading and decoding every message.
    Returns the number of responses decoded.
    """
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin and proc.stdout
    w, r = proc.stdin.fileno(), proc.stdout.fileno()
    encode = _ENCODERS[codec]
    blob = b"".join(map(encode, messages))

    def writer() -> None:
        view = memoryview(blob)
        while view:
            view = view[os.write(w, view[: 1 << 18]) :]

    t = threading.Thread(target=writer)
    t.start()
    got = 0
    want = len(messages)
    out: list[Any] = []
    if codec in ("lines", "jsonl"):
        loads: Any = orjson.loads if codec == "jsonl" else bytes.decode
        tail = b""
        while got < want:
            lines = (tail + os.read(r, _READ)).split(b"\n")
            tail = lines.pop()
            out.extend(map(loads, lines))
            got += len(lines)
    else:
        unpacker = msgpack.Unpacker(raw=False)
        buf = b""
        while got < want:
            if codec == "msgpack":
                unpacker.feed(os.read(r, _READ))
                before = len(out)
                out.extend(unpacker)
                got += len(out) - before
                continue
            buf += os.read(r, _READ)
            pos = 0
            while len(buf) - pos >= 4:
                size = struct.unpack_from(">I", buf, pos)[0]
                if len(buf) - pos - 4 < size:
                    break
                out.append(buf[pos + 4 : pos + 4 + size])
                pos += 4 + size
                got += 1
            buf = buf[pos:]
    t.join()
    proc.stdin.close()
    proc.wait()
    return got
