"""Codec cost alone, no process: encode+decode throughput, and the linear-time check.

The linear-time check feeds one 16 MiB frame whole and in 4 KiB chunks; a decoder
that rescans or recopies its buffer per chunk would be hundreds of times slower
chunked. Target: chunked <= 2x whole for every codec.
"""

from __future__ import annotations

import functools
from typing import Any

import stdiobridge as sb

from .common import CODECS, fmt_time, median, sample, size_name, table, timed

SIZES = (100, 64 << 10, 1 << 20)
BIG = 16 << 20
CHUNK = 4 << 10


def round_trip_rows(repeat: int = 7) -> list[list[object]]:
    rows: list[list[object]] = []
    for name in CODECS:
        codec = sb.get_codec(name)
        for size in SIZES:
            msg = sample(name, size)
            n = max(1, (4 << 20) // size) if size > 100 else 20000

            def run(codec: sb.Codec[Any] = codec, msg: object = msg, n: int = n) -> None:
                dec = codec.decoder()
                for _ in range(n):
                    dec.feed(codec.encode(msg))

            per_msg = median(timed(run, repeat)) / n
            rows.append([name, size_name(size), fmt_time(per_msg), f"{size / per_msg / 1e6:,.0f} MB/s"])
    return rows


def _encode_decode(codec: sb.Codec[Any], item: object, n: int) -> None:
    dec = codec.decoder()
    for _ in range(n):
        dec.feed(codec.encode(item))


def tagged_rows(repeat: int = 7) -> list[list[object]]:
    """Tagged vs untagged codec cost per 100 B message (the id on the wire: one more field to write and check)."""
    rows: list[list[object]] = []
    for name in CODECS:
        plain = sb.get_codec(name)
        tagged = plain.tagged()
        msg = sample(name, 100)
        n = 20000

        t_plain = median(timed(functools.partial(_encode_decode, plain, msg, n), repeat)) / n
        t_tagged = median(timed(functools.partial(_encode_decode, tagged, (12345, msg), n), repeat)) / n
        rows.append([name, fmt_time(t_plain), fmt_time(t_tagged), f"{t_tagged / t_plain:.2f}x"])
    return rows


def linear_rows(repeat: int = 5) -> tuple[list[list[object]], bool]:
    rows: list[list[object]] = []
    ok = True
    for name in CODECS:
        codec = sb.get_codec(name)
        frame = codec.encode(sample(name, BIG))
        chunks = [frame[i : i + CHUNK] for i in range(0, len(frame), CHUNK)]

        def whole(codec: sb.Codec[Any] = codec, frame: bytes = frame) -> None:
            assert len(codec.decoder().feed(frame)) == 1

        def chunked(codec: sb.Codec[Any] = codec, chunks: list[bytes] = chunks) -> None:
            dec = codec.decoder()
            got = [m for c in chunks for m in dec.feed(c)]
            assert len(got) == 1

        t_whole = median(timed(whole, repeat))
        t_chunked = median(timed(chunked, repeat))
        ratio = t_chunked / t_whole
        ok &= ratio <= 2.0
        rows.append([name, fmt_time(t_whole), fmt_time(t_chunked), f"{ratio:.2f}x", "ok" if ratio <= 2 else "MISSED"])
    return rows, ok


def main() -> bool:
    print("## Codecs alone (encode + decode, one message at a time)\n")
    print(table(["codec", "size", "per message (median)", "throughput"], round_trip_rows()))
    print("\n## Tagged mode (request ids on the wire), 100 B, encode + decode\n")
    print(table(["codec", "untagged", "tagged", "ratio"], tagged_rows()))
    rows, ok = linear_rows()
    print(f"\n## Linear-time decoding: one {size_name(BIG)} frame, whole vs {size_name(CHUNK)} chunks (target <= 2x)\n")
    print(table(["codec", "whole", "chunked", "ratio", "target"], rows))
    return ok


if __name__ == "__main__":
    main()
