"""Hand-written baselines: the least code a careful person would write per codec (issue 14).

``HandLoop`` is one request, one answer: ``os.writev`` of the frame's parts (no
concatenation copy) and a 64 KiB ``io.BufferedReader`` on the child's stdout, with the
same encode/decode work the bridge does (orjson, msgpack, struct), optionally with the
tagged framing (request ids) the bridge uses with ``tagged=True``. ``HandPipeline`` keeps
one child and, per batch, a writer thread feeding every request while the caller
decodes the answers. Both spawn the same children as the bridge, with the same
``STDIOBRIDGE_TAGGED`` environment variable.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

_READ = 1 << 16
_LEN = struct.Struct(">I")
_LEN_ID = struct.Struct(">II")


def spawn(command: list[str], tagged: bool = False) -> subprocess.Popen[bytes]:
    """Start ``command`` with raw pipes, telling it the framing mode as the bridge does."""
    env = {**os.environ, "STDIOBRIDGE_TAGGED": "1" if tagged else "0"}
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env)


class HandLoop:
    """One request, one answer, blocking I/O, per-codec framing written out by hand."""

    def __init__(self, command: list[str], codec: str, tagged: bool = False) -> None:
        self.proc = spawn(command, tagged)
        assert self.proc.stdin and self.proc.stdout
        self.w = self.proc.stdin.fileno()
        raw = io.FileIO(self.proc.stdout.fileno(), closefd=False)
        self.reader = io.BufferedReader(raw, buffer_size=_READ)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.id = 0
        self.call: Callable[[Any], Any] = getattr(self, f"_{codec}_tagged" if tagged else f"_{codec}")

    def _send(self, parts: list[bytes]) -> None:
        """Write every part; a blocking pipe takes it all unless a signal cuts the write short."""
        done = os.writev(self.w, parts)
        total = sum(map(len, parts))
        if done < total:
            rest = memoryview(b"".join(parts))[done:]
            while rest:
                rest = rest[os.write(self.w, rest) :]

    def _next_id(self) -> int:
        self.id = self.id % 0xFFFF_FFFF + 1
        return self.id

    def _lines(self, msg: str) -> str:
        self._send([msg.encode(), b"\n"])
        return self.reader.readline()[:-1].decode()

    def _jsonl(self, msg: Any) -> Any:
        self._send([orjson.dumps(msg, option=orjson.OPT_APPEND_NEWLINE)])
        return orjson.loads(self.reader.readline())

    def _lenprefix(self, msg: bytes) -> bytes:
        self._send([_LEN.pack(len(msg)), msg])
        (size,) = _LEN.unpack(self.reader.read(4))
        return self.reader.read(size)

    def _msgpack(self, msg: Any) -> Any:
        self._send([msgpack.packb(msg)])
        unpacker = self.unpacker
        while True:
            for value in unpacker:
                return value
            unpacker.feed(self.reader.read1(_READ))

    def _check(self, got: int, want: int) -> None:
        if got != want:
            raise RuntimeError(f"hand loop: answer id {got}, request id {want}")

    def _lines_tagged(self, msg: str) -> str:
        rid = self._next_id()
        self._send([b"%d " % rid, msg.encode(), b"\n"])
        head, _, text = self.reader.readline()[:-1].partition(b" ")
        self._check(int(head), rid)
        return text.decode()

    def _jsonl_tagged(self, msg: Any) -> Any:
        rid = self._next_id()
        self._send([orjson.dumps([rid, msg], option=orjson.OPT_APPEND_NEWLINE)])
        got, answer = orjson.loads(self.reader.readline())
        self._check(got, rid)
        return answer

    def _lenprefix_tagged(self, msg: bytes) -> bytes:
        rid = self._next_id()
        self._send([_LEN_ID.pack(len(msg) + 4, rid), msg])
        (size,) = _LEN.unpack(self.reader.read(4))
        data = self.reader.read(size)
        self._check(_LEN.unpack_from(data)[0], rid)
        return data[4:]

    def _msgpack_tagged(self, msg: Any) -> Any:
        rid = self._next_id()
        got, answer = self._msgpack([rid, msg])
        self._check(got, rid)
        return answer

    def close(self) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        self.proc.wait()
        self.reader.close()
        self.proc.stdout.close()


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "lines": lambda m: (m + "\n").encode(),
    "jsonl": lambda m: orjson.dumps(m, option=orjson.OPT_APPEND_NEWLINE),
    "lenprefix": lambda m: _LEN.pack(len(m)) + m,
    "msgpack": msgpack.packb,
}


class HandPipeline:
    """One child; per batch, a writer thread sends every request while the caller decodes answers."""

    def __init__(self, command: list[str], codec: str) -> None:
        self.proc = spawn(command)
        assert self.proc.stdin and self.proc.stdout
        self.w, self.r = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.codec = codec
        self.encode = _ENCODERS[codec]

    def run(self, messages: list[Any]) -> list[Any]:
        """Encode, write, read and decode every message; the answers, in order."""
        blob = b"".join(map(self.encode, messages))
        w = self.w

        def writer() -> None:
            view = memoryview(blob)
            while view:
                view = view[os.write(w, view[: 1 << 18]) :]

        t = threading.Thread(target=writer)
        t.start()
        want = len(messages)
        out: list[Any] = []
        r = self.r
        if self.codec in ("lines", "jsonl"):
            loads: Callable[[bytes], Any] = orjson.loads if self.codec == "jsonl" else bytes.decode
            tail = b""
            while len(out) < want:
                lines = (tail + os.read(r, _READ)).split(b"\n")
                tail = lines.pop()
                out.extend(map(loads, lines))
        elif self.codec == "msgpack":
            unpacker = msgpack.Unpacker(raw=False)
            while len(out) < want:
                unpacker.feed(os.read(r, _READ))
                out.extend(unpacker)
        else:
            buf = b""
            while len(out) < want:
                buf += os.read(r, _READ)
                pos = 0
                while len(buf) - pos >= 4:
                    size = _LEN.unpack_from(buf, pos)[0]
                    if len(buf) - pos - 4 < size:
                        break
                    out.append(buf[pos + 4 : pos + 4 + size])
                    pos += 4 + size
                buf = buf[pos:]
        t.join()
        return out

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()
        assert self.proc.stdout
        self.proc.stdout.close()
