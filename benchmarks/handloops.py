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


def hand_pipeline(command: list[str], frames: list[bytes], codec: str) -> int:
    """Write ``frames`` from a thread while counting responses here; returns responses read."""
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdin and proc.stdout
    w, r = proc.stdin.fileno(), proc.stdout.fileno()
    blob = b"".join(frames)

    def writer() -> None:
        view = memoryview(blob)
        while view:
            view = view[os.write(w, view[: 1 << 18]) :]

    t = threading.Thread(target=writer)
    t.start()
    got = 0
    want = len(frames)
    if codec in ("lines", "jsonl"):
        loads: Any = orjson.loads if codec == "jsonl" else bytes.decode
        tail = b""
        while got < want:
            lines = (tail + os.read(r, _READ)).split(b"\n")
            tail = lines.pop()
            for line in lines:
                loads(line)
            got += len(lines)
    else:
        unpacker = msgpack.Unpacker(raw=False)
        buf = b""
        while got < want:
            if codec == "msgpack":
                unpacker.feed(os.read(r, _READ))
                got += sum(1 for _ in unpacker)
                continue
            buf += os.read(r, _READ)
            pos = 0
            while len(buf) - pos >= 4:
                size = struct.unpack_from(">I", buf, pos)[0]
                if len(buf) - pos - 4 < size:
                    break
                pos += 4 + size
                got += 1
            buf = buf[pos:]
    t.join()
    proc.stdin.close()
    proc.wait()
    return got
