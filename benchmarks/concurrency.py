"""AsyncBridge and BridgePool, side by side with Bridge and a hand-written pipeline.

- ``AsyncBridge.call`` p50 at 100 B against ``Bridge.call`` (target <= 3x);
- 64 concurrent awaiters on one AsyncBridge against the hand-written writer-thread
  pipeline (target >= 50% of its msgs/s);
- ``BridgePool(size=2).map`` against one ``Bridge`` with a child that burns ~200 µs
  of CPU per request (target >= 1.6x on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import stdiobridge as sb

from .common import child, fmt_time, sample, table
from .handloops import hand_pipeline

BURN = [sys.executable, str(Path(__file__).resolve().parent / "children" / "burn.py")]


def async_vs_sync(rounds: int = 7, n: int = 2000) -> tuple[list[object], bool]:
    command = child("go", "lines")
    msg = sample("lines", 100)

    async def async_round(br: sb.AsyncBridge) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await br.call(msg)
        return (time.perf_counter() - start) / n

    loop = asyncio.new_event_loop()
    abr = sb.AsyncBridge(command)
    loop.run_until_complete(abr.start())
    ratios, syncs, asyncs = [], [], []
    with sb.Bridge(command) as br:
        br.call(msg)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(n):
                br.call(msg)
            s = (time.perf_counter() - start) / n
            a = loop.run_until_complete(async_round(abr))
            syncs.append(s)
            asyncs.append(a)
            ratios.append(a / s)
    loop.run_until_complete(abr.aclose())
    loop.close()
    ratio = statistics.median(ratios)
    ok = ratio <= 3.0
    return [
        "AsyncBridge.call vs Bridge.call, 100 B",
        fmt_time(statistics.median(syncs)),
        fmt_time(statistics.median(asyncs)),
        f"{ratio:.2f}x",
        "<= 3x " + ("ok" if ok else "MISSED"),
    ], ok


def awaiters_vs_hand_pipeline(rounds: int = 5, count: int = 50_000, awaiters: int = 64) -> tuple[list[object], bool]:
    command = child("go", "lines")
    msgs = [sample("lines", 100, i) for i in range(count)]

    async def run(br: sb.AsyncBridge) -> float:
        it = iter(msgs)

        async def worker() -> None:
            for m in it:
                await br.call(m)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(awaiters)))
        return count / (time.perf_counter() - start)

    loop = asyncio.new_event_loop()
    abr = sb.AsyncBridge(command, max_pending=awaiters)
    loop.run_until_complete(abr.start())
    ratios, hands, asyncs = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        hand_pipeline(command, msgs, "lines")
        h = count / (time.perf_counter() - start)
        a = loop.run_until_complete(run(abr))
        hands.append(h)
        asyncs.append(a)
        ratios.append(a / h)
    loop.run_until_complete(abr.aclose())
    loop.close()
    ratio = statistics.median(ratios)
    ok = ratio >= 0.5
    return [
        f"{awaiters} awaiters vs hand pipeline, msgs/s",
        f"{statistics.median(hands):,.0f}",
        f"{statistics.median(asyncs):,.0f}",
        f"{ratio:.2f}x",
        ">= 0.5x " + ("ok" if ok else "MISSED"),
    ], ok


def pool_vs_bridge(rounds: int = 3, count: int = 3000) -> tuple[list[object], bool]:
    msgs = [f"request {i}" for i in range(count)]
    ratios, singles, pools = [], [], []
    with sb.Bridge(BURN) as br, sb.BridgePool(BURN, size=2) as pool:
        br.call("warm")
        pool.map(["warm"] * 4)
        for _ in range(rounds):
            start = time.perf_counter()
            for m in msgs:
                br.call(m)
            s = count / (time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(msgs)
            p = count / (time.perf_counter() - start)
            singles.append(s)
            pools.append(p)
            ratios.append(p / s)
    ratio = statistics.median(ratios)
    ok = ratio >= 1.6
    return [
        "BridgePool(2).map vs Bridge, 200 µs CPU/request, msgs/s",
        f"{statistics.median(singles):,.0f}",
        f"{statistics.median(pools):,.0f}",
        f"{ratio:.2f}x",
        ">= 1.6x " + ("ok" if ok else "MISSED"),
    ], ok


def main() -> bool:
    rows, oks = [], []
    for fn in (async_vs_sync, awaiters_vs_hand_pipeline, pool_vs_bridge):
        row, ok = fn()
        rows.append(row)
        oks.append(ok)
    print("## AsyncBridge and BridgePool (Go lines child unless noted)\n")
    print(table(["case", "baseline", "measured", "ratio (median)", "target"], rows))
    return all(oks)


if __name__ == "__main__":
    main()
