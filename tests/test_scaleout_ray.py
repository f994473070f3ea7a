"""Ray face: ordered batches over 2 actors, failures named and reported, routing, cancelling, shutdown.

One local Ray cluster (127.0.0.1 only, 2 CPUs) serves the whole file; the shared pool
is closed by the last test, which checks that no child is left. Tests that need
their own failure modes build a small pool of their own on the same cluster. A
scripted child (``SCRIPT``) logs every request it receives, so that the tests
count what each child really saw instead of trusting the face.
"""

from __future__ import annotations

import os

# Before Ray is imported: every listener on 127.0.0.1, no token file under $HOME.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"

import collections
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'stdiobridge[ray]'")

from stdiobridge import (  # noqa: E402
    BridgeClosed,
    BridgeSpec,
    CallTimeout,
    ChildExited,
    ConfigError,
    EncodeError,
    SpawnError,
)
from stdiobridge.scaleout import BatchLost, WorkerInfo  # noqa: E402
from stdiobridge.scaleout.ray import RayBridgePool  # noqa: E402

from childprogs import faulty  # noqa: E402
from helpers import running, state, wait_gone  # noqa: E402

CHILD = Path(__file__).resolve().parent.parent / "build" / "children" / "go-jsonl"
EVENTS = [{"id": i, "data": "x" * 10} for i in range(10_000)]
SEEN_CHILDREN: set[int] = set()  # every child pid the shared pool ever reported

# A line child that appends "<pid> <request>" to $SB_LOG for every request, exits 3 on a
# request containing "crash", and holds a request containing "wait" until $SB_GATE exists.
SCRIPT = r"""
import os, sys, time
log, gate = os.environ["SB_LOG"], os.environ.get("SB_GATE", "")
for line in sys.stdin:
    line = line.rstrip("\n")
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()} {line}\n")
    if "crash" in line:
        sys.stderr.write("crashing on request\n")
        sys.exit(3)
    while "wait" in line and not os.path.exists(gate):
        time.sleep(0.01)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
"""


def _spec() -> BridgeSpec:
    if not CHILD.exists():
        pytest.fail(f"{CHILD} is missing: run `make children` first (make test does)")
    return BridgeSpec.of([str(CHILD)], codec="jsonl", timeout=30)


class Scripted:
    """The scripted child's files: its log of requests and the gate that releases "wait" requests."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.script = folder / "child.py"
        self.script.write_text(SCRIPT)
        self.log = folder / "requests.log"
        self.gate = folder / "gate"

    def spec(self, **options: Any) -> BridgeSpec:
        env = {"SB_LOG": str(self.log), "SB_GATE": str(self.gate)}
        return BridgeSpec.of([sys.executable, str(self.script)], codec="lines", env=env, **options)

    def seen(self) -> list[tuple[int, str]]:
        """(child pid, request) for every request any child received, in order of arrival."""
        if not self.log.exists():
            return []
        rows = [line.split(" ", 1) for line in self.log.read_text().splitlines()]
        return [(int(pid), text) for pid, text in rows]

    def open(self) -> None:
        self.gate.touch()


def _until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within`` seconds."""
    end = time.monotonic() + within
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"condition not met within {within} s")
        time.sleep(0.01)


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


def _place(err: BaseException) -> tuple[int, int, int, int]:
    """Where a face's error happened: batch index, its first event, its size, the failing event."""
    found = vars(err)
    return found["batch_index"], found["first_event"], found["size"], found["event_index"]


def _in_thread(run: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``run`` in a thread; the list receives its result or its exception."""
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(run())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


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


@pytest.fixture
def scripted(tmp_path: Path) -> Scripted:
    return Scripted(tmp_path / "scripted")


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


def test_one_batch_maps_take_turns_on_the_actors(pool: RayBridgePool) -> None:
    before = [info.stats.calls for info in _infos(pool)]
    for i in range(10):
        assert pool.map([{"n": i}] * 5) == [{"n": i}] * 5  # one batch each
    after = [info.stats.calls for info in _infos(pool)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [25, 25], "not every map on actor 0"
    assert pool.in_flight == [0, 0]


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


def test_concurrent_maps_spread_over_the_actors(cluster: None, scripted: Scripted) -> None:
    with RayBridgePool(scripted.spec(), size=2) as two:
        runs = [_in_thread(lambda i=i: two.map([f"wait {i}"])) for i in range(4)]  # type: ignore[misc]
        _until(lambda: sum(two.in_flight) == 4)  # every batch placed while none can finish
        assert two.in_flight == [2, 2], "4 one-batch maps from 4 threads: 2 per actor"
        scripted.open()
        for i, (thread, outcome) in enumerate(runs):
            thread.join(30)
            assert outcome == [[f"wait {i}"]]
        assert sorted(info.stats.calls for info in two.info()) == [2, 2]


def test_an_actor_at_its_restart_limit_gets_a_fresh_bridge(cluster: None, scripted: Scripted) -> None:
    with RayBridgePool(scripted.spec(max_restarts=1, timeout=30), size=2) as two:
        for _ in range(2):  # the first crash kills the first child, the second uses up the one restart
            with pytest.raises(ChildExited):
                ray.get(two.actors[0].call_many.remote(["crash"]))
        for i in range(6):  # actor 0's old bridge would refuse every call for 60 s
            assert two.map([f"clean {i}"]) == [f"clean {i}"]
        assert [info.stats.calls for info in two.info()] == [3, 3]


def test_retry_false_sees_each_event_at_most_once_and_reports_the_rest(cluster: None, scripted: Scripted) -> None:
    events = [f"event {i}" for i in range(16)]
    events[0] = "wait 0"  # batch 0 holds its actor until the gate opens (it never does)
    with RayBridgePool(scripted.spec(timeout=60), size=2, batch_size=2, retry=False) as lossy:
        pids = {info.child_pid: info.pid for info in lossy.info()}
        thread, outcome = _in_thread(lambda: lossy.map(events))
        _until(lambda: any(text == "wait 0" for _, text in scripted.seen()))
        holder = next(pid for pid, text in scripted.seen() if text == "wait 0")
        os.kill(pids[holder], signal.SIGKILL)
        thread.join(60)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], BatchLost), outcome
        lost = outcome[0]
        assert _place(lost) == (0, 0, 2, 0)
        assert list(lost.results) == []
        assert "retry=False" in str(lost)
        assert [fate.batch_index for fate in lost.in_flight] == list(range(1, 8)), "every other batch is reported"
        seen = collections.Counter(text for _, text in scripted.seen())
        assert max(seen.values()) == 1, "retry=False: no event reached a child twice"
        for fate in lost.in_flight:
            got = [seen[events[i]] for i in fate.events]
            if fate.state == "done":
                assert got == [1] * fate.size, fate
            elif fate.state == "not run":
                assert got == [0] * fate.size, fate
        assert lossy.map(events[2:]) == events[2:], "the actor restarted; later batches go through"
        children = [info.child_pid for info in lossy.info()]
    assert all(pid is not None and _gone_from_proc(pid) for pid in children)


def test_leaving_imap_early_cancels_the_queued_batches(cluster: None, scripted: Scripted) -> None:
    events = ["go 0"] + [f"wait {i}" for i in range(1, 10)]
    with RayBridgePool(scripted.spec(timeout=60), size=2, batch_size=1, max_in_flight=10) as two:
        stream = two.imap(events)
        assert next(stream) == "go 0"  # all 10 batches were submitted; each actor now holds a "wait"
        stream.close()
        assert two.in_flight == [0, 0]
        scripted.open()
        assert two.map(["after 0", "after 1"], batch_size=1) == ["after 0", "after 1"]  # behind what ran
        waits = [text for _, text in scripted.seen() if text.startswith("wait")]
        assert len(waits) <= 2, f"only the batch running on each actor may have run; saw {waits}"


def test_bridge_errors_name_the_batch_and_event_with_the_results_before_them(cluster: None) -> None:
    with RayBridgePool(BridgeSpec.of(faulty("crash-before-reply"), codec="lines"), size=1, batch_size=3) as crashy:
        events = ["a", "b", "c", "d", "e!", "f"]
        with pytest.raises(ChildExited, match="status 3") as caught:
            crashy.map(events)
        err = caught.value
        assert type(err) is ChildExited, "stdiobridge's own class, not Ray's wrapper"
        assert _place(err) == (1, 3, 3, 4)
        assert "batch 1" in str(err) and "event 4" in str(err)
        assert list(err.results) == ["a", "b", "c", "d"], "map: every answer before the failing event"
        got: list[Any] = []
        with pytest.raises(ChildExited) as caught:
            got.extend(crashy.imap(events))
        assert got == ["a", "b", "c"] and list(caught.value.results) == ["d"], "imap: the failed batch's answers"
        assert _place(caught.value)[3] == 4
        assert crashy.map(["g", "h"]) == ["g", "h"], "the bridge starts a new child on the next batch"


def test_timeouts_and_encode_errors_name_the_event(cluster: None, scripted: Scripted) -> None:
    with RayBridgePool(scripted.spec(timeout=0.5), size=1, batch_size=2) as slow:
        with pytest.raises(CallTimeout) as timed_out:
            slow.map(["a", "b", "c", "wait"])
        assert type(timed_out.value) is CallTimeout
        assert _place(timed_out.value)[::3] == (1, 3)
        assert list(timed_out.value.results) == ["a", "b", "c"]
        with pytest.raises(EncodeError) as bad:
            slow.map(["a", "b", "c", 4])
        assert type(bad.value) is EncodeError
        assert _place(bad.value)[::3] == (1, 3) and "event 3" in str(bad.value)
        assert list(bad.value.results) == ["a", "b"], "nothing of a batch that cannot be encoded was sent"


def test_closing_the_pool_during_a_map_raises_bridge_closed(cluster: None, scripted: Scripted) -> None:
    spec = scripted.spec(timeout=60)
    two = RayBridgePool(spec, size=2, batch_size=1)
    children = [info.child_pid for info in two.info()]
    thread, outcome = _in_thread(lambda: two.map([f"wait {i}" for i in range(6)]))
    _until(lambda: len(scripted.seen()) == 2)  # one "wait" running on each actor, the rest queued
    two.close(timeout=0.5)
    thread.join(30)
    assert len(outcome) == 1 and type(outcome[0]) is BridgeClosed, outcome
    assert all(pid is not None and wait_gone(pid, within=10.0) for pid in children)
    with pytest.raises(BridgeClosed):
        two.map(["x"])


def test_retry_settings_that_contradict_are_refused(cluster: None) -> None:
    with pytest.raises(ConfigError, match="max_task_retries"):
        RayBridgePool(_spec(), size=1, retry=False, actor_options={"max_task_retries": 2})
    with pytest.raises(ConfigError, match="max_task_retries"):
        RayBridgePool(_spec(), size=1, retry=False, max_task_retries=2)
    with pytest.raises(ConfigError, match="max_restarts"):
        RayBridgePool(_spec(), size=1, actor_options={"max_restarts": 0})


def test_batch_lost_pickles_whole_even_from_a_ray_task(cluster: None) -> None:
    lost = BatchLost("batch 2 was lost", batch_index=2, first_event=10, size=5)
    copy = pickle.loads(pickle.dumps(lost))
    assert (str(copy), copy.batch_index, copy.first_event, copy.size, copy.event_index) == (
        "batch 2 was lost",
        2,
        10,
        5,
        10,
    )

    def raises() -> None:
        raise BatchLost("lost inside a task", batch_index=1, first_event=3, size=2)

    with pytest.raises(BatchLost) as caught:
        ray.get(ray.remote(raises).remote())
    assert caught.value.batch_index == 1 and caught.value.size == 2


def test_unschedulable_actors_fail_with_spawn_error(cluster: None) -> None:
    start = time.monotonic()
    with pytest.raises(SpawnError, match="ready_timeout"):
        RayBridgePool(_spec(), size=1, ready_timeout=2, actor_options={"resources": {"no-such-thing": 1}})
    assert time.monotonic() - start < 30


def test_a_child_that_cannot_start_fails_the_constructor(cluster: None) -> None:
    with pytest.raises(SpawnError, match="does-not-exist"):
        RayBridgePool(BridgeSpec.of(["/does-not-exist/child"], codec="jsonl"), size=1, ready_timeout=60)


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
