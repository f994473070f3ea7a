"""Dask face: ordered batches over 2 worker processes, a SIGKILLed worker, one child each, clean shutdown.

One ``LocalCluster`` (127.0.0.1, 2 processes x 2 threads) serves the whole file; the
tests run in file order and the last one shuts the cluster down and checks that
no child is left.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'stdiobridge[dask]'")

from distributed import Client, LocalCluster

from stdiobridge import BridgeError, BridgeSpec, ChildExited, SpawnError
from stdiobridge.scaleout import WorkerInfo
from stdiobridge.scaleout.dask import (
    BridgePlugin,
    imap_batches,
    map_batches,
    register,
    unregister,
    worker_info,
)

from childprogs import faulty
from helpers import running, state, wait_gone

CHILD = Path(__file__).resolve().parent.parent / "build" / "children" / "go-jsonl"
EVENTS = [{"id": i, "data": "x" * 10} for i in range(10_000)]


def _spec() -> BridgeSpec:
    if not CHILD.exists():
        pytest.fail(f"{CHILD} is missing: run `make children` first (make test does)")
    return BridgeSpec.of([str(CHILD)], codec="jsonl", timeout=30)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2 :].split()[1])


def _gone_from_proc(pid: int, within: float = 10.0) -> bool:
    """True once ``/proc/<pid>`` has disappeared (not even a zombie is left)."""
    end = time.monotonic() + within
    while state(pid) is not None and time.monotonic() < end:
        time.sleep(0.05)
    return state(pid) is None


def _scheduler_plugins(dask_scheduler: Any) -> set[str]:
    return set(dask_scheduler.worker_plugins)


@dataclass
class Cluster:
    """The shared local cluster, its client, and every child pid the workers ever reported."""

    cluster: LocalCluster
    client: Client
    seen_children: set[int] = field(default_factory=set)

    def infos(self, expect: int = 2, within: float = 30.0) -> dict[str, WorkerInfo]:
        """Worker reports, once ``expect`` workers each hold a started bridge (after a restart too)."""
        end = time.monotonic() + within
        while True:
            found = worker_info(self.client)
            if len(found) == expect or time.monotonic() > end:
                break
            time.sleep(0.1)
        self.seen_children.update(info.child_pid for info in found.values() if info.child_pid is not None)
        return found

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]
        self.cluster.close()


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Cluster]:
    local = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=2, host="127.0.0.1", dashboard_address=None, processes=True
    )
    shared = Cluster(local, Client(local))  # type: ignore[no-untyped-call]
    try:
        register(shared.client, _spec())
        yield shared
    finally:
        shared.close()


def test_map_batches_returns_every_response_in_order_across_two_workers(dask_cluster: Cluster) -> None:
    client = dask_cluster.client
    before = {address: info.stats.calls for address, info in dask_cluster.infos().items()}
    assert map_batches(client, EVENTS, batch_size=256, spec=_spec()) == EVENTS  # already registered: kept
    assert list(imap_batches(client, iter(EVENTS), batch_size=100, max_in_flight=5)) == EVENTS
    after = {address: info.stats.calls for address, info in dask_cluster.infos().items()}
    assert after.keys() == before.keys(), "the same two workers (and bridges) served both runs"
    assert sum(after.values()) - sum(before.values()) == 2 * len(EVENTS)
    assert all(after[a] > before[a] for a in after), "both workers should have done work"


def test_one_child_per_worker_alive_and_distinct(dask_cluster: Cluster) -> None:
    infos = dask_cluster.infos()
    worker_pids: dict[str, int] = dask_cluster.client.run(os.getpid)
    assert len(infos) == 2 and infos.keys() == worker_pids.keys()
    children = {info.child_pid for info in infos.values()}
    assert len(children) == 2 and None not in children
    for address, info in infos.items():
        assert info.pid == worker_pids[address]
        assert info.child_pid is not None and running(info.child_pid)
        assert _parent_of(info.child_pid) == info.pid, "each child belongs to its own worker process"
        assert info.stats.spawns == 1


def test_tasks_without_the_plugin_fail_clearly(dask_cluster: Cluster) -> None:
    with pytest.raises(BridgeError, match="no stdiobridge plugin named 'absent'"):
        map_batches(dask_cluster.client, EVENTS[:10], name="absent")


def test_a_child_that_cannot_start_fails_registration(dask_cluster: Cluster) -> None:
    with pytest.raises(SpawnError, match="does-not-exist"):
        register(dask_cluster.client, BridgeSpec.of(["/does-not-exist/child"], codec="jsonl"), name="broken")
    plugins: set[str] = dask_cluster.client.run_on_scheduler(_scheduler_plugins)  # type: ignore[no-untyped-call]
    assert "broken" not in plugins and "stdiobridge" in plugins, "the broken plugin was removed again"


def test_bridge_errors_reach_the_caller_with_the_results_before_them(dask_cluster: Cluster) -> None:
    client = dask_cluster.client
    spec = BridgeSpec.of(faulty("crash-before-reply"), codec="lines")
    with pytest.raises(ChildExited, match="status 3") as caught:
        map_batches(client, ["a", "b", "c!", "d"], batch_size=2, spec=spec, name="crashy")
    assert list(caught.value.results) == ["a", "b"]
    assert map_batches(client, ["e", "f"], spec=spec, name="crashy") == ["e", "f"], "a new child on the next batch"
    unregister(client, name="crashy")
    assert len(worker_info(client, name="crashy")) == 0, "unregistering closed the children"


def test_worker_sigkilled_mid_run_still_answers_every_event(dask_cluster: Cluster) -> None:
    client = dask_cluster.client
    infos = dask_cluster.infos()
    victim_address, victim = next(iter(infos.items()))
    stream = imap_batches(client, EVENTS, batch_size=100, max_in_flight=8)
    got: list[Any] = [next(stream)]  # batches are now queued on both workers
    os.kill(victim.pid, signal.SIGKILL)
    got.extend(stream)
    assert got == EVENTS  # the lost tasks were rescheduled (at least once)
    assert victim.child_pid is not None and wait_gone(victim.child_pid), "the dead worker's child must die with it"
    client.wait_for_workers(2, timeout=60)
    infos = dask_cluster.infos()
    assert victim_address not in infos and len(infos) == 2, "the nanny started a new worker"
    for info in infos.values():
        assert info.child_pid is not None and running(info.child_pid), "plugin setup ran on the new worker"
    assert map_batches(client, EVENTS[:1000]) == EVENTS[:1000]


def test_plugin_survives_pickling_without_a_bridge() -> None:
    import pickle  # noqa: PLC0415

    plugin = BridgePlugin(_spec(), name="p")
    copy = pickle.loads(pickle.dumps(plugin))
    assert copy.spec == plugin.spec and copy.name == "p" and copy.bridge is None


def test_shutdown_leaves_no_child_running(dask_cluster: Cluster) -> None:
    infos = dask_cluster.infos()
    workers = [info.pid for info in infos.values()]
    dask_cluster.close()
    for info in infos.values():  # teardown closed each bridge, which reaped its child
        assert info.child_pid is not None and _gone_from_proc(info.child_pid), f"child {info.child_pid} left behind"
    assert all(wait_gone(pid) for pid in dask_cluster.seen_children), "no child of any incarnation is running"
    assert all(wait_gone(pid, within=10.0) for pid in workers), "the workers exited"
