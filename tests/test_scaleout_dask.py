"""Dask face: ordered batches over 2 worker processes, maps pinned to their spec, failures named, shutdown.

One ``LocalCluster`` (127.0.0.1, 2 processes x 2 threads) serves the whole file; the
tests run in file order and the last one shuts the cluster down and checks that
no child is left. A scripted child (``SCRIPT``) logs every request it receives, so
that the tests count what each child really saw instead of trusting the face.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'stdiobridge[dask]'")

import dask
from distributed import Client, LocalCluster

from stdiobridge import BridgeClosed, BridgeError, BridgeSpec, CallTimeout, ChildExited, EncodeError, SpawnError
from stdiobridge.scaleout import BatchLost, WorkerInfo
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
ALLOWED_FAILURES = 1  # a batch may see one worker die under it; the second death makes it BatchLost

# A line child that appends "<pid> <request>" to $SB_LOG for every request, answers
# $SB_TAG + request, exits 3 on a request containing "crash", holds a request
# containing "wait" until $SB_GATE exists, and with $SB_GRANDCHILD set first starts a
# grandchild (sleep) whose pid it writes to the file $SB_GRANDCHILD/<its own pid>.
SCRIPT = r"""
import os, subprocess, sys, time
log, gate, tag = os.environ["SB_LOG"], os.environ.get("SB_GATE", ""), os.environ.get("SB_TAG", "")
if os.environ.get("SB_GRANDCHILD"):
    grand = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(os.environ["SB_GRANDCHILD"], str(os.getpid())), "w") as fh:
        fh.write(str(grand.pid))
for line in sys.stdin:
    line = line.rstrip("\n")
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()} {line}\n")
    if "crash" in line:
        sys.stderr.write("crashing on request\n")
        sys.exit(3)
    while "wait" in line and not os.path.exists(gate):
        time.sleep(0.01)
    sys.stdout.write(tag + line + "\n")
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

    def spec(self, *, tag: str = "", env: dict[str, str] | None = None, **options: Any) -> BridgeSpec:
        full = {"SB_LOG": str(self.log), "SB_GATE": str(self.gate), "SB_TAG": tag, **(env or {})}
        return BridgeSpec.of([sys.executable, str(self.script)], codec="lines", env=full, **options)

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
            try:
                found = worker_info(self.client)
            except Exception:  # a worker that just died is still listed: ask again
                found = {}
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
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):  # read by the scheduler
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


@pytest.fixture
def scripted(tmp_path: Path) -> Scripted:
    return Scripted(tmp_path / "scripted")


def test_a_map_runs_on_its_own_spec_whatever_registers_meanwhile(dask_cluster: Cluster, scripted: Scripted) -> None:
    client = dask_cluster.client
    spec_a, spec_b = scripted.spec(tag="A:"), scripted.spec(tag="B:")
    events = [f"wait {i}" for i in range(20)]
    register(client, spec_a, name="pinned")
    try:
        thread, outcome = _in_thread(lambda: map_batches(client, events, batch_size=1, name="pinned"))
        _until(lambda: len({pid for pid, _ in scripted.seen()}) == 2)  # both workers' A children are busy
        register(client, spec_b, name="pinned")  # replaces the plugin under the running map
        scripted.open()
        thread.join(60)
        assert outcome == [[f"A:{e}" for e in events]], "every answer from A's children, none from B's"
        assert map_batches(client, ["x", "y"], spec=spec_b, name="pinned") == ["B:x", "B:y"]
        a_children = {pid for pid, text in scripted.seen() if text.startswith("wait")}
        assert all(wait_gone(pid, within=10.0) for pid in a_children), "A's children were closed once done"
    finally:
        unregister(client, name="pinned")


def test_errors_name_the_batch_and_event_with_the_same_results_as_on_ray(
    dask_cluster: Cluster, scripted: Scripted
) -> None:
    client = dask_cluster.client
    spec = scripted.spec(timeout=0.5)
    register(client, spec, name="named")
    try:
        events = ["a", "b", "c", "d", "crash", "f"]
        with pytest.raises(ChildExited, match="status 3") as caught:
            map_batches(client, events, batch_size=3, name="named")
        err = caught.value
        assert type(err) is ChildExited
        assert _place(err) == (1, 3, 3, 4)
        assert "batch 1" in str(err) and "event 4" in str(err)
        assert list(err.results) == ["a", "b", "c", "d"], "map: every answer before the failing event"
        got: list[Any] = []
        with pytest.raises(ChildExited) as caught:
            got.extend(imap_batches(client, events, batch_size=3, max_in_flight=1, name="named"))
        assert got == ["a", "b", "c"] and list(caught.value.results) == ["d"], "imap: the failed batch's answers"
        with pytest.raises(CallTimeout) as timed_out:
            map_batches(client, ["a", "b", "c", "wait"], batch_size=2, name="named")
        assert _place(timed_out.value)[::3] == (1, 3)
        assert list(timed_out.value.results) == ["a", "b", "c"]
        with pytest.raises(EncodeError) as bad:
            map_batches(client, ["a", "b", "c", 4], batch_size=2, name="named")
        assert _place(bad.value)[::3] == (1, 3) and "event 3" in str(bad.value)
        assert list(bad.value.results) == ["a", "b"]
    finally:
        unregister(client, name="named")


def test_closing_the_client_during_a_map_raises_bridge_closed(dask_cluster: Cluster, scripted: Scripted) -> None:
    register(dask_cluster.client, scripted.spec(timeout=60), name="closing")
    other = Client(dask_cluster.cluster.scheduler_address)  # type: ignore[no-untyped-call]
    try:
        thread, outcome = _in_thread(lambda: map_batches(other, [f"wait {i}" for i in range(8)], name="closing"))
        _until(lambda: len(scripted.seen()) >= 1)
        other.close()  # type: ignore[no-untyped-call]
        thread.join(30)
        assert len(outcome) == 1 and type(outcome[0]) is BridgeClosed, outcome
    finally:
        scripted.open()
        unregister(dask_cluster.client, name="closing")


def test_worker_sigkilled_mid_run_reruns_only_what_it_ran_or_held(dask_cluster: Cluster, scripted: Scripted) -> None:
    client = dask_cluster.client
    register(client, scripted.spec(), name="counted")
    try:
        counted = worker_info(client, name="counted")
        victim_address, victim = next(iter(counted.items()))
        events = [f"event {i}" for i in range(3000)]
        stream = imap_batches(client, events, batch_size=50, max_in_flight=16, name="counted")
        got: list[Any] = [next(stream)]  # batches are now queued on both workers
        os.kill(victim.pid, signal.SIGKILL)
        got.extend(stream)
        assert got == events, "every event answered exactly once, in order"
        assert victim.child_pid is not None and wait_gone(victim.child_pid), "the dead worker's child died with it"
        seen = collections.Counter(text for _, text in scripted.seen())
        assert set(seen) == set(events), "every event reached a child (at least once)"
        by_victim = {text for pid, text in scripted.seen() if pid == victim.child_pid}
        twice = {text for text, count in seen.items() if count > 1}
        assert twice <= by_victim, "only batches the dead worker ran (or held the results of) were re-run"
        client.wait_for_workers(2, timeout=60)
        infos = dask_cluster.infos()
        assert victim_address not in infos and len(infos) == 2, "the nanny started a new worker"
        for info in infos.values():
            assert info.child_pid is not None and running(info.child_pid), "plugin setup ran on the new worker"
        assert map_batches(client, EVENTS[:1000]) == EVENTS[:1000]
    finally:
        unregister(client, name="counted")


def test_a_batch_whose_workers_keep_dying_is_batch_lost(dask_cluster: Cluster, scripted: Scripted) -> None:
    client = dask_cluster.client
    register(client, scripted.spec(timeout=60), name="doomed")
    try:
        thread, outcome = _in_thread(lambda: map_batches(client, ["a", "wait", "b"], batch_size=1, name="doomed"))

        def sightings(count: int) -> Callable[[], bool]:
            return lambda: [text for _, text in scripted.seen()].count("wait") == count

        for deaths in range(ALLOWED_FAILURES + 1):
            _until(sightings(deaths + 1), within=60)
            holder = [pid for pid, text in scripted.seen() if text == "wait"][-1]
            worker = _parent_of(holder)
            assert worker is not None
            os.kill(worker, signal.SIGKILL)  # the worker running batch 1 dies, every time
        thread.join(60)
        assert len(outcome) == 1 and type(outcome[0]) is BatchLost, outcome
        lost = outcome[0]
        assert _place(lost) == (1, 1, 1, 1) and list(lost.results) == ["a"]
        assert [(fate.batch_index, fate.state) for fate in lost.in_flight] in ([(2, "done")], [(2, "unknown")])
    finally:
        scripted.open()
        unregister(client, name="doomed")
        client.wait_for_workers(2, timeout=60)


def test_a_failed_setup_on_restarted_workers_is_named_as_such(dask_cluster: Cluster, tmp_path: Path) -> None:
    client = dask_cluster.client
    program = tmp_path / "vanishing-child"
    shutil.copy(CHILD.with_name("go-lines"), program)
    register(client, BridgeSpec.of([str(program)], codec="lines"), name="vanish")
    try:
        assert map_batches(client, ["a", "b"], name="vanish") == ["a", "b"]
        program.unlink()  # the program vanishes; the running children do not notice
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)  # both workers restart and re-run every plugin's setup
        _until(lambda: len(dask_cluster.infos(within=0.1)) == 2, within=60)
        with pytest.raises(SpawnError, match="setup failed") as caught:
            map_batches(client, ["a", "b"], name="vanish")
        assert "vanishing-child" in str(caught.value) and "call register first" not in str(caught.value)
    finally:
        unregister(client, name="vanish")


def test_a_killed_workers_grandchildren_die_too(dask_cluster: Cluster, scripted: Scripted, tmp_path: Path) -> None:
    """Needs the process layer's per-host watchdog (the lead's exchange-core work) to pass."""
    client = dask_cluster.client
    folder = tmp_path / "grandchildren"
    folder.mkdir()
    register(client, scripted.spec(env={"SB_GRANDCHILD": str(folder)}), name="grand")
    grandchildren: list[int] = []
    try:
        _until(lambda: len(list(folder.iterdir())) == 2)
        infos = worker_info(client, name="grand")
        victim = next(iter(infos.values()))
        assert victim.child_pid is not None
        grandchild = int((folder / str(victim.child_pid)).read_text())
        grandchildren = [int(path.read_text()) for path in folder.iterdir()]
        assert running(grandchild)
        os.kill(victim.pid, signal.SIGKILL)
        assert wait_gone(victim.child_pid, within=10.0), "the dead worker's child died with it"
        assert wait_gone(grandchild, within=10.0), "the dead worker's grandchild outlived it"
    finally:
        unregister(client, name="grand")
        client.wait_for_workers(2, timeout=60)
        for pid in grandchildren:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


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
