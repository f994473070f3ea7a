"""``Bridge`` against a hand-written loop and against spawn-per-call, measured side by side.

Every figure is a median over interleaved rounds: a round runs the hand loop and
the bridge back to back on the same child program, and the ratio of that round
is taken; the table shows the median of those ratios, which the noise of a
shared machine moves far less than either absolute time.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Any

import stdiobridge as sb

from .common import CODECS, child, fmt_time, sample, size_name, table
from .handloops import HandLoop, hand_pipeline

SIZES = (100, 64 << 10, 1 << 20)
TARGETS = {100: 1.25, 1 << 20: 1.15}


def _per_call(fn: Any, msg: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn(msg)
    return (time.perf_counter() - start) / n


def call_rows(rounds: int = 9) -> tuple[list[list[object]], list[str]]:
    rows: list[list[object]] = []
    missed: list[str] = []
    for codec in CODECS:
        command = child("go", codec)
        hand = HandLoop(command, codec)
        with sb.Bridge(command, codec=codec, timeout=60) as br:
            for size in SIZES:
                msg = sample(codec, size)
                assert br.call(msg) == hand.call(msg) == msg
                n = 2000 if size == 100 else 200 if size < (1 << 20) else 20
                ratios, hands, bridges = [], [], []
                for _ in range(rounds):
                    h = _per_call(hand.call, msg, n)
                    b = _per_call(br.call, msg, n)
                    hands.append(h)
                    bridges.append(b)
                    ratios.append(b / h)
                ratio = statistics.median(ratios)
                target = TARGETS.get(size)
                verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
                if verdict == "MISSED":
                    missed.append(f"Bridge.call {codec} {size_name(size)}: {ratio:.2f}x > {target}x")
                rows.append(
                    [
                        codec,
                        size_name(size),
                        fmt_time(statistics.median(hands)),
                        fmt_time(statistics.median(bridges)),
                        f"{ratio:.2f}x",
                        f"<= {target}x {verdict}" if target else "-",
                    ]
                )
        hand.close()
    return rows, missed


def pipeline_rows(count: int = 100_000, rounds: int = 5) -> tuple[list[list[object]], list[str]]:
    rows: list[list[object]] = []
    missed: list[str] = []
    for codec in CODECS:
        command = child("go", codec)
        msgs = [sample(codec, 100, i) for i in range(count)]
        ratios, hands, bridges = [], [], []
        with sb.Bridge(command, codec=codec, timeout=60) as br:
            br.call(msgs[0])
            for _ in range(rounds):
                start = time.perf_counter()
                assert hand_pipeline(command, msgs, codec) == count
                h = count / (time.perf_counter() - start)
                start = time.perf_counter()
                assert len(br.call_many(msgs)) == count
                b = count / (time.perf_counter() - start)
                hands.append(h)
                bridges.append(b)
                ratios.append(b / h)
        ratio = statistics.median(ratios)
        ok = ratio >= 0.75
        if not ok:
            missed.append(f"call_many {codec}: {ratio:.2f}x < 0.75x")
        rows.append(
            [
                codec,
                f"{statistics.median(hands):,.0f}",
                f"{statistics.median(bridges):,.0f}",
                f"{ratio:.2f}x",
                ">= 0.75x " + ("ok" if ok else "MISSED"),
            ]
        )
    return rows, missed


def spawn_rows(n: int = 40) -> tuple[list[list[object]], list[str]]:
    """Spawn-per-call (subprocess.run per request) against a persistent bridge, 100 B."""
    rows: list[list[object]] = []
    missed: list[str] = []
    for codec in CODECS:
        command = child("go", codec)
        c = sb.get_codec(codec)
        msg = sample(codec, 100)
        frame = c.encode(msg)
        spawn = []
        for _ in range(n):
            start = time.perf_counter()
            out = subprocess.run(command, input=frame, capture_output=True, check=True).stdout
            spawn.append(time.perf_counter() - start)
            assert c.decoder().feed(out) == [msg]
        with sb.Bridge(command, codec=codec) as br:
            br.call(msg)
            persistent = [_per_call(br.call, msg, 200) for _ in range(n // 4)]
        ratio = statistics.median(spawn) / statistics.median(persistent)
        ok = ratio >= 100
        if not ok:
            missed.append(f"spawn-per-call {codec}: only {ratio:.0f}x slower")
        rows.append(
            [
                codec,
                fmt_time(statistics.median(spawn)),
                fmt_time(statistics.median(persistent)),
                f"{ratio:,.0f}x",
                ">= 100x " + ("ok" if ok else "MISSED"),
            ]
        )
    return rows, missed


def main() -> bool:
    rows, missed = call_rows()
    print("## Bridge.call vs a hand-written os.write/os.read loop (Go reference children)\n")
    print(table(["codec", "size", "hand loop p50", "Bridge.call p50", "ratio (median)", "target"], rows))
    prow, pmissed = pipeline_rows()
    print("\n## Bridge.call_many vs a hand-written writer-thread pipeline, 100 B, msgs/s\n")
    print(table(["codec", "hand pipeline", "call_many", "ratio (median)", "target"], prow))
    srow, smissed = spawn_rows()
    print("\n## Persistent Bridge vs spawn-per-call (subprocess.run), 100 B\n")
    print(table(["codec", "spawn per call p50", "Bridge.call p50", "speed-up", "target"], srow))
    missed += pmissed + smissed
    if missed:
        print("\nMissed targets:\n- " + "\n- ".join(missed))
    return not missed


if __name__ == "__main__":
    main()
