"""Dask face: a ``WorkerPlugin`` holding one bridge per worker process, and ordered batch maps.

``BridgePlugin`` builds and starts its bridge in ``setup`` and closes it in
``teardown``; a worker restarted by its nanny runs ``setup`` again and so gets a
fresh child. A worker with several threads shares its one bridge among them:
``Bridge`` is thread-safe and serialises calls (each task's batch is pipelined on
the child as a whole), so extra threads add no child throughput.

A map runs on the spec it was submitted with (``spec=``, or the one registered
when it starts): each task carries that spec and uses its worker's bridge only
if the plugin there holds exactly it. If the plugin is replaced or removed while
the map runs, the batches already running finish on the old child (teardown
waits for them) and the later ones each run on a child of their own, started
and closed with the batch: slower, never mixed.

Delivery guarantee: the scheduler re-runs every task whose worker died (up to
``distributed.scheduler.allowed-failures`` times, then ``BatchLost``): the batch
that was running there, and also the finished batches whose results were still
held there, not yet fetched by the client. Each event is answered exactly once
to the caller, in order, but the child may see it **more than once** (at least
once). Dask cannot turn that off per task; for non-idempotent work use the Ray
face with ``retry=False``.

Errors are stdiobridge's own and carry ``batch_index``, ``first_event``,
``size``, ``event_index``, ``results`` and ``in_flight`` with the same meaning
as on the Ray face (see ``stdiobridge.scaleout.ray``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

from . import require_extra

try:
    from distributed import Client, Future, WorkerPlugin, get_worker
    from distributed.scheduler import KilledWorker
    from distributed.worker import Worker
except ImportError:  # say which extra to install, not only "No module named 'distributed'"
    require_extra("dask")
    raise

from ..bridge import Bridge
from ..errors import BridgeClosed, BridgeError
from ..spec import BridgeSpec
from . import DEFAULT_BATCH_SIZE, BatchLost, WorkerInfo, batched, check_batching
from ._batches import BatchFate, WorkerBridge, annotate, settle

__all__ = [
    "PLUGIN_NAME",
    "BatchFate",
    "BridgePlugin",
    "bridge_for",
    "imap_batches",
    "map_batches",
    "register",
    "unregister",
    "worker_info",
]

PLUGIN_NAME = "stdiobridge"


class BridgePlugin(WorkerPlugin):
    """One bridge per worker process: started in ``setup``, closed in ``teardown``.

    Safe with several threads per worker: they share the bridge, which is
    thread-safe and runs one ``call_many`` at a time on the child. ``teardown``
    lets the batches running on the bridge finish before closing it. A failed
    ``setup`` is remembered (``setup_error``) and tried again by the next task.
    """

    def __init__(self, spec: BridgeSpec, name: str = PLUGIN_NAME) -> None:
        if not isinstance(spec, BridgeSpec):
            raise TypeError(f"spec must be a BridgeSpec (BridgeSpec.of(command, codec=...)); got {spec!r}")
        self.spec = spec
        self.name = name
        self.setup_error: str | None = None
        self._worker = WorkerBridge(spec)
        self._address = ""

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"], state["name"])  # type: ignore[misc]

    @property
    def bridge(self) -> Bridge | None:
        """This worker's bridge once ``setup`` started it (``None`` before, after teardown or a failed setup)."""
        return self._worker.bridge

    def setup(self, worker: Worker) -> None:
        """Start this worker's child now, so that a broken command fails registration, not a task."""
        self._address = str(worker.address)
        try:
            self._worker.start()
        except Exception as exc:
            self.setup_error = f"{type(exc).__name__}: {exc}"
            raise

    def teardown(self, worker: Worker) -> None:
        """Close the child (EOF, then SIGTERM/SIGKILL), once the batches running on it are done."""
        self._worker.close()

    def run(self, events: list[Any], batch_index: int, first_event: int) -> list[Any]:
        """One batch through this worker's child; a failed setup is tried again, and named if it fails again."""
        if self.setup_error is not None and self._worker.bridge is None:
            with _SETUP_LOCK:
                if self.setup_error is not None and self._worker.bridge is None:
                    try:
                        self._worker.start()
                    except BridgeError as exc:
                        exc.args = (
                            f"the stdiobridge plugin {self.name!r} could not start its child on worker "
                            f"{self._address} (setup failed: {self.setup_error}; tried again: {exc})",
                        )
                        raise
                    self.setup_error = None
        return self._worker.run(events, batch_index, first_event)


_SETUP_LOCK = threading.Lock()


class _Batch:
    """An opaque box for a batch or its responses, shipped as one pickle.

    Measured on a 2-core machine: a task returning a bare list of 1000 small dicts
    took ~45 ms more than one returning them boxed (Dask handles a bare list as a
    collection); the box makes a 1000-event task ~5x cheaper.
    """

    __slots__ = ("events",)

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    def __reduce__(self) -> tuple[type[_Batch], tuple[list[Any]]]:
        return (_Batch, (self.events,))


def bridge_for(name: str = PLUGIN_NAME) -> Bridge:
    """The bridge of the worker running the current task (inside a Dask task only)."""
    worker = get_worker()
    plugin = worker.plugins.get(name)
    if not isinstance(plugin, BridgePlugin):
        raise BridgeError(
            f"worker {worker.address} has no stdiobridge plugin named {name!r}: "
            "call stdiobridge.scaleout.dask.register(client, spec) (or pass spec= to map_batches) first"
        )
    if plugin.bridge is None:
        why = f"its setup failed: {plugin.setup_error}" if plugin.setup_error else "it is not started or torn down"
        raise BridgeError(f"the stdiobridge plugin {name!r} on worker {worker.address} has no bridge: {why}")
    return plugin.bridge


def _run_batch(batch: _Batch, name: str, spec: BridgeSpec, batch_index: int, first_event: int) -> _Batch:
    """The task: one batch through the child of ``spec`` on this worker, pipelined; the responses boxed."""
    plugin = get_worker().plugins.get(name)
    if isinstance(plugin, BridgePlugin) and plugin.spec == spec:
        return _Batch(plugin.run(batch.events, batch_index, first_event))
    own = WorkerBridge(spec)  # the plugin was replaced or removed since the map started
    try:
        return _Batch(own.run(batch.events, batch_index, first_event))
    finally:
        own.close()


def _installed_spec(name: str, dask_worker: Worker) -> BridgeSpec | None:
    """(Runs on a worker.) The spec of the plugin ``name`` there, to skip a needless re-registration."""
    plugin = dask_worker.plugins.get(name)
    return plugin.spec if isinstance(plugin, BridgePlugin) else None


def _worker_info(name: str, dask_worker: Worker) -> WorkerInfo | None:
    """(Runs on a worker.) Its pid, its child's pid and counters, or ``None`` without a started plugin."""
    plugin = dask_worker.plugins.get(name)
    if not isinstance(plugin, BridgePlugin) or plugin.bridge is None:
        return None
    bridge = plugin.bridge
    return WorkerInfo(pid=os.getpid(), child_pid=bridge.pid, child_alive=bridge.alive, stats=bridge.stats)


def register(client: Client, spec: BridgeSpec, name: str = PLUGIN_NAME) -> None:
    """Install the plugin on every worker, present and future (replacing one of the same name).

    Raises what ``setup`` raised (e.g. ``SpawnError``) if a worker cannot start
    its child; the plugin is then removed again, so new workers do not try it.
    Maps already running keep their own spec.
    """
    try:
        client.register_plugin(BridgePlugin(spec, name), name=name)
    except BaseException:
        with contextlib.suppress(Exception):
            unregister(client, name)
        raise


def unregister(client: Client, name: str = PLUGIN_NAME) -> None:
    """Remove the plugin: each worker closes its child (after the batches running on it)."""
    client.unregister_worker_plugin(name)  # type: ignore[no-untyped-call]


def worker_info(client: Client, name: str = PLUGIN_NAME) -> dict[str, WorkerInfo]:
    """Per worker address: its pid, its child's pid and its bridge's counters (workers without it omitted)."""
    found: dict[str, WorkerInfo | None] = client.run(_worker_info, name)
    return {address: info for address, info in found.items() if info is not None}


def _resolve(client: Client, spec: BridgeSpec | None, name: str) -> BridgeSpec:
    """The spec a map runs on: ``spec`` (registered unless every worker holds it), else the registered one."""
    installed: dict[str, BridgeSpec | None] = client.run(_installed_spec, name)
    if spec is not None:
        if not installed or any(found != spec for found in installed.values()):
            register(client, spec, name)  # re-registering restarts children: only when needed
        return spec
    specs = [found for found in installed.values() if found is not None]
    if not specs:
        raise BridgeError(
            f"no stdiobridge plugin named {name!r} on the workers: "
            "call stdiobridge.scaleout.dask.register(client, spec) (or pass spec= to map_batches) first"
        )
    if any(found != specs[0] for found in specs):
        raise BridgeError(
            f"the workers hold different specs under the plugin name {name!r} (a registration is under way?): "
            "pass spec= to choose"
        )
    return specs[0]


@dataclass(frozen=True)
class _Job:
    """A submitted batch: its position in the stream and its future."""

    index: int
    first_event: int
    size: int
    future: Future[_Batch]


def map_batches(
    client: Client,
    events: Iterable[Any],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    spec: BridgeSpec | None = None,
    name: str = PLUGIN_NAME,
) -> list[Any]:
    """Every event through the workers' children, one task per batch; the responses in input order.

    ``spec``: register the plugin first if the workers do not hold it yet (else
    ``register`` must have been called); the map runs on that spec whatever is
    registered while it runs. All batches are submitted at once. On an error its
    ``results`` holds the ordered responses of every event before ``event_index``.
    """
    check_batching(batch_size, 1)
    chosen = _resolve(client, spec, name)
    batches = list(batched(events, batch_size))
    firsts: list[int] = []
    total = 0
    for batch in batches:
        firsts.append(total)
        total += len(batch)
    n = len(batches)
    # One graph update for all batches (submitting them one by one costs a scheduler round trip each).
    futures: list[Future[_Batch]] = client.map(
        _run_batch, [_Batch(b) for b in batches], [name] * n, [chosen] * n, range(n), firsts, pure=False
    )
    jobs = collections.deque(
        _Job(i, firsts[i], len(batch), future) for i, (batch, future) in enumerate(zip(batches, futures, strict=True))
    )
    del batches
    try:
        done: list[_Batch] = client.gather(futures)  # type: ignore[no-untyped-call]
    except Exception:
        pass  # below: find the first failed batch, keeping the responses of those before it
    else:
        return [response for batch in done for response in batch.events]
    results: list[Any] = []
    try:
        while jobs:
            results.extend(_collect(client, jobs.popleft(), jobs))
    except BridgeError as exc:
        exc.results = results + list(exc.results)
        raise
    finally:
        if jobs:
            _cancel(client, [job.future for job in jobs])
    return results


def imap_batches(
    client: Client,
    events: Iterable[Any],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_in_flight: int | None = None,
    spec: BridgeSpec | None = None,
    name: str = PLUGIN_NAME,
) -> Generator[Any, None, None]:
    """Like ``map_batches`` but lazy at both ends: reads events as batches go out, yields responses in order.

    At most ``max_in_flight`` batches are submitted and not yet consumed
    (default: twice the cluster's worker threads), which bounds memory. Leaving
    the iterator early cancels the batches not yet consumed.
    """
    if max_in_flight is None:
        threads: dict[str, int] = client.nthreads()  # type: ignore[no-untyped-call]
        max_in_flight = 2 * max(1, sum(threads.values()))
    check_batching(batch_size, max_in_flight)
    chosen = _resolve(client, spec, name)
    for batch in _stream(client, events, batch_size, max_in_flight, name=name, spec=chosen):
        yield from batch


def _stream(
    client: Client, events: Iterable[Any], batch_size: int, limit: int, *, name: str, spec: BridgeSpec
) -> Generator[list[Any], None, None]:
    """Submit batches (at most ``limit`` unconsumed) and yield their responses in order."""
    pending: collections.deque[_Job] = collections.deque()
    first_event = 0
    try:
        for index, batch in enumerate(batched(events, batch_size)):
            if len(pending) >= limit:
                yield _collect(client, pending.popleft(), pending)
            # pure=False: no hashing of the batch for a key; earlier batches first, as they are consumed first.
            future: Future[_Batch] = client.submit(
                _run_batch, _Batch(batch), name, spec, index, first_event, pure=False, priority=-index
            )
            pending.append(_Job(index, first_event, len(batch), future))
            first_event += len(batch)
        while pending:
            yield _collect(client, pending.popleft(), pending)
    finally:
        if pending:  # abandoned: leave no batch running for nobody
            _cancel(client, [job.future for job in pending])


def _collect(client: Client, job: _Job, rest: collections.deque[_Job]) -> list[Any]:
    """One batch's responses; on failure, cancel the rest and raise stdiobridge's error, named."""
    try:
        result: _Batch = _result(client, job.future)
    except BridgeError as exc:
        raise _fail(client, exc, job, rest) from None
    except KilledWorker as exc:
        lost = BatchLost(
            f"batch {job.index} (events {job.first_event}..{job.first_event + job.size - 1}) was lost: "
            "every worker that ran it died, up to distributed.scheduler.allowed-failures times; "
            f"the child may have handled some of its events. Cause: {exc}",
            batch_index=job.index,
            first_event=job.first_event,
            size=job.size,
        )
        raise _fail(client, lost, job, rest) from exc
    except Exception as exc:
        if client.status in ("closing", "closed"):
            raise _fail(client, BridgeClosed("the Dask client was closed during the map"), job, rest) from exc
        raise
    return result.events


def _result(client: Client, future: Future[_Batch]) -> _Batch:
    """``future.result()``, but never waiting on a client that was closed meanwhile (a future of a closed
    client may never settle)."""
    while True:
        try:
            return future.result(timeout=_CLOSED_CHECK)
        except TimeoutError as exc:
            if isinstance(exc, BridgeError):  # the batch's own CallTimeout, from the worker
                raise
            if client.status in ("closing", "closed"):
                raise BridgeClosed("the Dask client was closed during the map") from None


_CLOSED_CHECK = 0.5  # seconds between looks at the client's status while a batch runs


def _fail(client: Client, err: BridgeError, job: _Job, rest: collections.deque[_Job]) -> BridgeError:
    """``err`` named after ``job``, with the batches in ``rest``: finished (``done``) or cancelled (``unknown``)."""
    if getattr(err, "batch_index", None) is None:
        annotate(err, batch_index=job.index, first_event=job.first_event, size=job.size, event_index=job.first_event)
    jobs = list(rest)
    rest.clear()
    fates = [
        BatchFate(j.index, j.first_event, j.size, "done" if j.future.status == "finished" else "unknown") for j in jobs
    ]
    _cancel(client, [j.future for j in jobs if j.future.status != "finished"])
    results = () if isinstance(err, (BatchLost, BridgeClosed)) else err.results
    return settle(err, results, fates)


def _cancel(client: Client, futures: list[Future[_Batch]]) -> None:
    """Cancel ``futures`` unless the client is closing (its futures are gone, and a cancel would wait forever)."""
    if futures and client.status == "running":
        with contextlib.suppress(Exception):
            client.cancel(futures)  # type: ignore[no-untyped-call]
