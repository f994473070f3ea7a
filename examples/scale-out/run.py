"""Push 100,000 events through the Go reference child four ways and compare throughput.

1. one local ``Bridge.call_many`` (one child, pipelined),
2. a local ``BridgePool`` of 2 children (``n/a`` if this stdiobridge has none),
3. a local Ray cluster: ``RayBridgePool``, 2 actors, one child each,
4. a local Dask cluster: ``map_batches`` over 2 worker processes, one child each.

Both clusters run on this machine and listen on 127.0.0.1 only. Run from the
repository root after ``make children``::

    .venv/bin/python examples/scale-out/run.py [--events 100000] [--codec jsonl] [--batch-size 512]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Before Ray is imported anywhere: keep every Ray listener on 127.0.0.1, write no token under $HOME.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"

import stdiobridge as sb
from stdiobridge.scaleout import DEFAULT_BATCH_SIZE

ROOT = Path(__file__).resolve().parents[2]
Row = tuple[str, str, float | None, str]  # how, setup note, seconds (None: not run), note


def make_events(codec: str, count: int) -> list[Any]:
    """``count`` small events (about 40 bytes each) for ``codec``."""
    if codec == "lines":
        return [f"event {i} payload-xxxxxxxxxxxxxxxx" for i in range(count)]
    return [{"id": i, "kind": "click", "payload": "x" * 16} for i in range(count)]


def timed(run: Callable[[], list[Any]], expected: list[Any]) -> float:
    """Seconds ``run`` takes; it must return exactly ``expected`` (every event answered, in order)."""
    start = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - start
    if out != expected:
        raise SystemExit("responses differ from the events: the echo child should answer each event with itself")
    return elapsed


def local_rows(spec: sb.BridgeSpec, events: list[Any]) -> list[Row]:
    """A single local bridge, and a local pool of 2 when this stdiobridge has ``BridgePool``."""
    rows: list[Row] = []
    with spec.bridge() as bridge:
        rows.append(("local Bridge.call_many", "1 child", timed(lambda: bridge.call_many(events), events), ""))
    pool_class = getattr(sb, "BridgePool", None)
    if pool_class is None:
        rows.append(("local BridgePool.map", "2 children", None, "n/a: stdiobridge.BridgePool is not available"))
        return rows
    command = list(spec.command) if not isinstance(spec.command, str) else spec.command
    with pool_class(command, size=2, codec=spec.codec, **spec.options) as pool:
        rows.append(("local BridgePool.map", "2 children", timed(lambda: pool.map(events), events), ""))
    return rows


def ray_row(spec: sb.BridgeSpec, events: list[Any], batch_size: int) -> Row:
    """A 2-CPU local Ray cluster with a pool of 2 actors."""
    try:
        import ray  # noqa: PLC0415 (optional extra: stdiobridge[ray])

        from stdiobridge.scaleout.ray import RayBridgePool  # noqa: PLC0415
    except ImportError:
        return ("Ray RayBridgePool.map", "2 actors", None, "n/a: pip install 'stdiobridge[ray]'")
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with RayBridgePool(spec, size=2, batch_size=batch_size) as pool:
            setup = time.perf_counter() - start
            seconds = timed(lambda: pool.map(events), events)
            # The same through the streaming form (bounded batches in flight), from a generator:
            streamed = sum(1 for _ in pool.imap(iter(events)))
            assert streamed == len(events)
    finally:
        ray.shutdown()
    return ("Ray RayBridgePool.map", "2 actors", seconds, f"cluster + actors up in {setup:.1f} s")


def dask_row(spec: sb.BridgeSpec, events: list[Any], batch_size: int) -> Row:
    """A local Dask cluster of 2 worker processes with the bridge plugin."""
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415 (optional extra: stdiobridge[dask])

        from stdiobridge.scaleout.dask import map_batches  # noqa: PLC0415
    except ImportError:
        return ("Dask map_batches", "2 workers", None, "n/a: pip install 'stdiobridge[dask]'")
    start = time.perf_counter()
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=2, host="127.0.0.1", dashboard_address=None, processes=True
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        map_batches(client, events[:10], spec=spec)  # registers the plugin: one child per worker
        setup = time.perf_counter() - start
        seconds = timed(lambda: map_batches(client, events, batch_size=batch_size), events)
    return ("Dask map_batches", "2 workers", seconds, f"cluster + plugin up in {setup:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--codec", choices=["jsonl", "lines"], default="jsonl")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args()
    child = ROOT / "build" / "children" / f"go-{args.codec}"
    if not child.exists():
        print(f"{child} is missing: run `make children` first", file=sys.stderr)
        return 1
    spec = sb.BridgeSpec.of([str(child)], codec=args.codec, timeout=60)
    events = make_events(args.codec, args.events)

    rows = local_rows(spec, events)
    rows.append(ray_row(spec, events, args.batch_size))
    rows.append(dask_row(spec, events, args.batch_size))

    base = rows[0][2]
    print(f"\n{args.events:,} events, codec {args.codec}, batch size {args.batch_size}, {os.cpu_count()} cores\n")
    print(f"| {'how':<24} | {'workers':<10} | {'events/s':>10} | {'µs/event':>8} | {'vs local':>8} | note")
    print(f"|{'-' * 26}|{'-' * 12}|{'-' * 12}|{'-' * 10}|{'-' * 10}|------")
    for how, workers, seconds, note in rows:
        if seconds is None:
            print(f"| {how:<24} | {workers:<10} | {'n/a':>10} | {'n/a':>8} | {'n/a':>8} | {note}".rstrip())
            continue
        ratio = f"{seconds / base:.1f}x" if base else "-"
        rate = args.events / seconds
        per = seconds / args.events * 1e6
        print(f"| {how:<24} | {workers:<10} | {rate:>10,.0f} | {per:>8.1f} | {ratio:>8} | {note}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
