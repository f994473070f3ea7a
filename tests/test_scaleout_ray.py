"""Ray face: ordered batches over 2 actors, a SIGKILLed worker, one child per worker, clean shutdown.

One local Ray cluster (127.0.0.1 only, 2 CPUs) serves the whole file; the tests run
in file order and the last one closes the shared pool and checks that no child is left.
"""

from __future__ import annotations

import os

# Before Ray is imported: every listener on 127.0.0.1, no token file under $HOME.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'stdiobridge[ray]'")

from stdiobridge import BridgeClosed, BridgeSpec, ChildExited, SpawnError  # noqa: E402
from stdiobridge.scaleout import BatchLost, WorkerInfo  # noqa: E402
from stdiobridge.scaleout.ray import RayBridgePool  # noqa: E402

from childprogs import faulty  # noqa: E402
from helpers import running, state, wait_gone  # noqa: E402

CHILD = Path(__file__).resolve().parent.parent / "build" / "children" / "go-jsonl"
EVENTS = [{"id": i, "data": "x" * 10} for i in range(10_000)]
SEEN_CHILDREN: set[int] = set()  # every child pid the shared pool ever reported


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


def _infos(pool: RayBridgePool) -> list[WorkerInfo]:
    infos = pool.info()
    SEEN_CHILDREN.update(info.child_pid for info in infos if info.child_pid is not None)
    return infos


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def pool(cluster: None) -> Iterator[RayBridgePool]:
    with RayBridgePool(_spec(), size=2, batch_size=256) as shared:
        yield shared


def test_map_returns_every_response_in_order_across_two_workers(pool: RayBridgePool) -> None:
    before = [info.stats.calls for info in _infos(pool)]
    assert pool.map(EVENTS) == EVENTS
    assert list(pool.imap(iter(EVENTS), batch_size=100, max_in_flight=3)) == EVENTS
    after = [info.stats.calls for info in _infos(pool)]
    assert sum(after) - sum(before) == 2 * len(EVENTS)
    assert all(a > b for a, b in zip(after, before, strict=True)), "both actors should have done work"


def test_one_child_per_worker_alive_and_distinct(pool: RayBridgePool) -> None:
    infos = _infos(pool)
    assert len(infos) == 2
    workers = {info.pid for info in infos}
    children = {info.child_pid for info in infos}
    assert len(workers) == 2 and len(children) == 2 and None not in children
    for info in infos:
        assert info.child_pid is not None and running(info.child_pid)
        assert _parent_of(info.child_pid) == info.pid, "each child belongs to its own actor process"
        assert info.stats.spawns == 1


def test_worker_sigkilled_mid_run_still_answers_every_event(pool: RayBridgePool) -> None:
    victim = _infos(pool)[0]
    stream = pool.imap(EVENTS, batch_size=100, max_in_flight=6)
    got: list[Any] = [next(stream)]  # batches are now queued on both actors
    os.kill(victim.pid, signal.SIGKILL)
    got.extend(stream)
    assert got == EVENTS  # the lost batches were re-run on the restarted actor (at least once)
    assert victim.child_pid is not None and wait_gone(victim.child_pid), "the dead actor's child must die with it"
    infos = _infos(pool)
    assert infos[0].pid != victim.pid, "the actor was restarted in a new process"
    assert infos[0].child_pid is not None and running(infos[0].child_pid), "the restarted actor has a fresh child"
    assert pool.map(EVENTS[:1000]) == EVENTS[:1000]


def test_retry_false_turns_a_lost_batch_into_batch_lost(cluster: None) -> None:
    events = [f"event {i}" for i in range(20)]
    events[0] = "slow!"  # the faulty child answers a request with "!" after 3 s
    spec = BridgeSpec.of(faulty("late", 3), codec="lines", timeout=30)
    with RayBridgePool(spec, size=2, batch_size=5, retry=False) as lossy:
        victim = lossy.info()[0]
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                lossy.map(events)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(1.0)  # batch 0 went to actor 0, whose child is sleeping on "slow!"
        os.kill(victim.pid, signal.SIGKILL)
        thread.join(30)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], BatchLost), outcome
        lost = outcome[0]
        assert (lost.batch_index, lost.first_event, lost.size) == (0, 0, 5)
        assert list(lost.results) == []
        assert "retry=False" in str(lost)
        assert lossy.map(events[1:]) == events[1:], "the actor restarted; later batches go through"
        children = [info.child_pid for info in lossy.info()]
    assert all(pid is not None and _gone_from_proc(pid) for pid in children)


def test_a_child_that_cannot_start_fails_the_constructor(cluster: None) -> None:
    with pytest.raises(SpawnError, match="does-not-exist"):
        RayBridgePool(BridgeSpec.of(["/does-not-exist/child"], codec="jsonl"), size=1, ready_timeout=60)


def test_bridge_errors_reach_the_caller_with_the_results_before_them(cluster: None) -> None:
    with RayBridgePool(BridgeSpec.of(faulty("crash-before-reply"), codec="lines"), size=1, batch_size=2) as crashy:
        with pytest.raises(ChildExited, match="status 3") as caught:
            crashy.map(["a", "b", "c!", "d"])
        assert list(caught.value.results) == ["a", "b"]
        assert crashy.map(["e", "f"]) == ["e", "f"], "the bridge starts a new child on the next batch"


def test_close_leaves_no_child_running(pool: RayBridgePool) -> None:
    infos = _infos(pool)
    workers = [info.pid for info in infos]
    pool.close()
    pool.close()  # idempotent
    assert pool.closed
    for info in infos:  # closed gracefully: the bridge reaped its child
        assert info.child_pid is not None and _gone_from_proc(info.child_pid), f"child {info.child_pid} left behind"
    assert all(wait_gone(pid) for pid in SEEN_CHILDREN), "no child of any incarnation is running"
    assert all(wait_gone(pid, within=10.0) for pid in workers), "the actors were killed"
    with pytest.raises(BridgeClosed):
        pool.map(EVENTS[:10])
