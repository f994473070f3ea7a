"""Scale-out engines (Ray actors, Dask workers; 2 each) against a local ``Bridge.call_many``, per event.

For batch sizes 1, 100 and 1000, each engine pushes JSON-line events through the
Go reference child (one per worker), and a local bridge pushes the same events
through ``call_many`` in batches of the same size. Rounds are interleaved (local,
then engine) and the table shows medians; the ratio is the median of the
per-round ratios. Target: at batch 1000 an engine's per-event cost is within 3x
of the local one. Clusters are local and listen on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import stdiobridge as sb

from .common import child, fmt_time, sample, table

BATCHES = (1, 100, 1000)
EVENTS = {1: 400, 100: 20_000, 1000: 100_000}  # per round: enough to dwarf timer noise, bounded in time
ROUNDS = {1: 2, 100: 3, 1000: 5}
TARGET_AT_1000 = 3.0
CODEC = "jsonl"
SETTLE = 0.3  # seconds after an engine round, so its background bookkeeping does not slow the local round

Runner = Callable[[list[Any], int], list[Any]]


def _per_event(run: Runner, events: list[Any], batch: int) -> float:
    start = time.perf_counter()
    out = run(events, batch)
    elapsed = time.perf_counter() - start
    assert out == events, "an engine lost or reordered events"
    return elapsed / len(events)


def _local(bridge: sb.Bridge) -> Runner:
    def run(events: list[Any], batch: int) -> list[Any]:
        out: list[Any] = []
        for i in range(0, len(events), batch):
            out.extend(bridge.call_many(events[i : i + batch]))
        return out

    return run


def _measure(local: Runner, engine: Runner, batch: int) -> tuple[float, float, float]:
    """Median local and engine per-event time, and the median of the per-round ratios."""
    events = [sample(CODEC, 100, i) for i in range(EVENTS[batch])]
    engine(events[: min(len(events), 4 * batch)], batch)  # warm up: imports, connections, code paths
    time.sleep(SETTLE)
    locals_, engines, ratios = [], [], []
    for _ in range(ROUNDS[batch]):
        lo = _per_event(local, events, batch)
        en = _per_event(engine, events, batch)
        time.sleep(SETTLE)
        locals_.append(lo)
        engines.append(en)
        ratios.append(en / lo)
    return statistics.median(locals_), statistics.median(engines), statistics.median(ratios)


def _ray_engine(spec: sb.BridgeSpec) -> tuple[Runner, Callable[[], None]]:
    # Before Ray is imported: every listener on 127.0.0.1, no token written under $HOME.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray  # noqa: PLC0415 (optional extra, and the environment must be set first)

    from stdiobridge.scaleout.ray import RayBridgePool  # noqa: PLC0415

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    pool = RayBridgePool(spec, size=2)

    def close() -> None:
        pool.close()
        ray.shutdown()

    return (lambda events, batch: pool.map(events, batch_size=batch)), close


def _dask_engine(spec: sb.BridgeSpec) -> tuple[Runner, Callable[[], None]]:
    from distributed import Client, LocalCluster  # noqa: PLC0415 (optional extra)

    from stdiobridge.scaleout.dask import map_batches, register  # noqa: PLC0415

    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    )
    client = Client(cluster)  # type: ignore[no-untyped-call]
    register(client, spec)

    def close() -> None:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()

    return (lambda events, batch: map_batches(client, events, batch_size=batch)), close


def _rows(name: str, local: Runner, engine: Runner) -> tuple[list[list[object]], list[str]]:
    rows: list[list[object]] = []
    missed: list[str] = []
    for batch in BATCHES:
        lo, en, ratio = _measure(local, engine, batch)
        verdict = "-"
        if batch == 1000:
            ok = ratio <= TARGET_AT_1000
            verdict = f"<= {TARGET_AT_1000:g}x " + ("ok" if ok else "MISSED")
            if not ok:
                missed.append(f"{name} at batch 1000: {ratio:.2f}x local call_many > {TARGET_AT_1000:g}x")
        rows.append([name, batch, fmt_time(lo), fmt_time(en), f"{ratio:.1f}x", verdict])
    return rows, missed


def main() -> bool:
    spec = sb.BridgeSpec.of(child("go", CODEC), codec=CODEC, timeout=60)
    rows: list[list[object]] = []
    missed: list[str] = []
    engines: Sequence[tuple[str, Callable[[sb.BridgeSpec], tuple[Runner, Callable[[], None]]]]] = (
        ("Ray 2 actors", _ray_engine),
        ("Dask 2 workers", _dask_engine),
    )
    with spec.bridge() as bridge:
        local = _local(bridge)
        for name, make in engines:
            try:
                engine, close = make(spec)
            except ImportError as exc:
                rows.append([name, "-", "-", f"n/a ({exc.name} not installed)", "-", "-"])
                continue
            try:
                found, lost = _rows(name, local, engine)
            finally:
                close()
            rows += found
            missed += lost
    print("## Scale-out: per-event cost, 2 workers each with one Go jsonl child, vs local Bridge.call_many\n")
    print(table(["engine", "batch", "local call_many", "engine", "ratio (median)", "target"], rows))
    if missed:
        print("\nMissed targets:\n- " + "\n- ".join(missed))
    return not missed


if __name__ == "__main__":
    main()
