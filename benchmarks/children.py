"""Reference children's own cost: the Go jsonl child against the Go lines child, through ``Bridge``.

A jsonl child parses every value it echoes, a lines child only splits lines; both answer
the same bytes here (a 64 KiB string, and an array of 2,000 small objects sent to the lines
child as its JSON text), so the ratio is what JSON costs a child written the way
protocols/go/cmd/echo-jsonl shows. Rounds are interleaved and the median ratio is shown.
Target: <= 3x for each (issue 13, item 5).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import orjson

import stdiobridge as sb

from .common import child, fmt_time, table

TARGET = 3.0


def _cases() -> list[tuple[str, Any, str]]:
    """(name, jsonl message, lines message with the same bytes on the wire)."""
    string = "abcdefghijklmnop" * 4096
    objects = [{"id": i, "tag": f"t{i}", "ok": True} for i in range(2000)]
    return [
        ("64 KiB string", string, orjson.dumps(string).decode()),
        ("2,000 small objects", objects, orjson.dumps(objects).decode()),
    ]


def _per_call(bridge: sb.Bridge, msg: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        bridge.call(msg)
    return (time.perf_counter() - start) / n


def _codec_time(name: str, message: Any, n: int) -> float:
    """The host codec's encode + decode of ``message``, per call, without any process."""
    codec = sb.get_codec(name)
    frame = codec.encode(message)
    decoder = codec.decoder()
    start = time.perf_counter()
    for _ in range(n):
        codec.encode(message)
        decoder.feed(frame)
    return (time.perf_counter() - start) / n


def rows(rounds: int = 9, n: int = 200) -> tuple[list[list[object]], bool]:
    """One row per case: lines and jsonl times, the host codecs' share, both ratios, the verdict."""
    out: list[list[object]] = []
    ok = True
    with (
        sb.Bridge(child("go", "jsonl"), codec="jsonl", timeout=60) as jsonl,
        sb.Bridge(child("go", "lines"), codec="lines", timeout=60) as lines,
    ):
        for name, message, text in _cases():
            assert jsonl.call(message) == message and lines.call(text) == text
            ratios, line_times, json_times = [], [], []
            for _ in range(rounds):
                t_lines = _per_call(lines, text, n)
                t_json = _per_call(jsonl, message, n)
                line_times.append(t_lines)
                json_times.append(t_json)
                ratios.append(t_json / t_lines)
            ratio = statistics.median(ratios)
            host_lines, host_json = _codec_time("lines", text, n), _codec_time("jsonl", message, n)
            t_lines, t_json = statistics.median(line_times), statistics.median(json_times)
            child_ratio = (t_json - host_json) / (t_lines - host_lines)
            ok &= child_ratio <= TARGET
            out.append(
                [
                    name,
                    fmt_time(t_lines),
                    fmt_time(t_json),
                    f"{ratio:.2f}x",
                    f"{fmt_time(host_lines)} / {fmt_time(host_json)}",
                    f"{child_ratio:.2f}x",
                    f"<= {TARGET:g}x {'ok' if child_ratio <= TARGET else 'MISSED'}",
                ]
            )
    return out, ok


def main() -> bool:
    """Print the table; True when every target is met."""
    print("## Reference children: Go jsonl echo vs Go lines echo (Bridge.call, same bytes)\n")
    got, ok = rows()
    headers = ["message", "go-lines", "go-jsonl", "ratio", "host codecs lines / jsonl", "child ratio", "target"]
    print(table(headers, got))
    return ok


if __name__ == "__main__":
    main()
