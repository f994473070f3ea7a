"""Ray face: a pool of actors, each owning one bridge (one persistent child), fed in batches.

Each ``BridgeActor`` builds and starts its bridge in ``__init__``, so when Ray
restarts a dead actor (``max_restarts``) the new incarnation has a fresh child.
``RayBridgePool`` spreads batches of events over its actors (each task is one
``Bridge.call_many``), least loaded first across every map and thread of the pool,
and hands results back in input order: ``map`` for a list, ``imap`` for a stream
too large for memory (a bounded number of batches in flight).

Delivery guarantee: with ``retry=True`` (the default) a batch whose actor died
is re-run on the restarted actor (``max_task_retries``): every event is answered
exactly once to the caller, but the child may see it **more than once** (at least
once). With ``retry=False`` a lost batch raises ``BatchLost`` (the child saw each
event at most once; the events of that batch may be half done), and the actor
still restarts for the batches that follow.

Errors: every error a map raises is stdiobridge's own (``BatchLost``,
``ChildExited``, ``CallTimeout``, ``EncodeError``, ``BridgeClosed``, ...), never
Ray's wrapper, and carries ``batch_index``, ``first_event``, ``size``,
``event_index`` (the first event without an answer), ``results`` (``map``: the
answers of every event before ``event_index``; ``imap``: those of the failed
batch before it, the earlier ones having been yielded) and ``in_flight`` (what
became of the other batches in flight: ``BatchFate``). Batches still queued when
a map fails or is left early are cancelled.

Call ``ray.init(...)`` yourself first (on one machine, set
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` beforehand to keep Ray on 127.0.0.1);
otherwise Ray starts a default local cluster on first use.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import threading
import time
import uuid
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import require_extra

try:
    import ray
    from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError, RayTaskError
except ImportError:  # say which extra to install, not only "No module named 'ray'"
    require_extra("ray")
    raise

from ..errors import BridgeClosed, BridgeError, ConfigError, SpawnError
from ..spec import BridgeSpec
from . import DEFAULT_BATCH_SIZE, BatchLost, WorkerInfo, batched, check_batching
from ._batches import BatchFate, WorkerBridge, annotate, settle

__all__ = ["BatchFate", "BridgeActor", "RayBridgePool"]

_SETTLE_TIMEOUT = 60.0
"""Seconds a failed map waits for the batches still running to finish, to tell which ran."""

_CANCEL_TIMEOUT = 10.0
"""Seconds to wait for the actors to acknowledge a cancel (a control call: normally a millisecond)."""

_POOL_KEYS = ("max_restarts", "max_task_retries")


class BridgeActor:
    """The actor body: one bridge, built and started in ``__init__`` so a restart respawns the child.

    Batches run one at a time (the default concurrency group holds one thread),
    each pipelined with ``call_many``; a bridge that refuses on its restart limit
    is replaced by a fresh one. ``cancel``, ``info`` and ``close`` run in a
    control group of their own, so they are not queued behind batches: Ray's own
    ``ray.cancel`` reports a queued actor task cancelled yet may still run it,
    so a batch checks here, before touching the child, whether its map was
    abandoned (it then returns ``None``: not run).
    """

    def __init__(self, spec: BridgeSpec) -> None:
        self._worker = WorkerBridge(spec)
        self._cancelled: collections.deque[str] = collections.deque(maxlen=_CANCELLED_KEPT)
        self._worker.start()

    def run_batch(self, batch: list[Any], batch_index: int, first_event: int, map_id: str = "") -> list[Any] | None:
        """Batch ``batch_index`` (its first event is ``first_event`` of the stream) through the child.

        ``None`` if its map was cancelled before the batch started (the child never saw it).
        """
        if map_id and map_id in self._cancelled:
            return None
        return self._worker.run(batch, batch_index, first_event)

    def call_many(self, batch: list[Any]) -> list[Any]:
        """One batch through the child, pipelined; responses in order."""
        return self._worker.run(batch)

    def call(self, message: Any) -> Any:
        """One message through the child (a task per message: slow, for the odd single call)."""
        return self._worker.run([message])[0]

    @ray.method(concurrency_group="control")
    def cancel(self, map_id: str) -> None:
        """The batches of ``map_id`` that have not started yet will not run."""
        self._cancelled.append(map_id)

    @ray.method(concurrency_group="control")
    def info(self) -> WorkerInfo:
        """This worker's pid, its child's pid and the bridge's counters (for tests and monitoring)."""
        bridge = self._worker.bridge
        if bridge is None:
            raise BridgeClosed("this actor's bridge is closed")
        return WorkerInfo(pid=os.getpid(), child_pid=bridge.pid, child_alive=bridge.alive, stats=bridge.stats)

    @ray.method(concurrency_group="control")
    def close(self) -> None:
        """Close the bridge (EOF to the child, then SIGTERM/SIGKILL), after a batch still running on it."""
        self._worker.close()


_CANCELLED_KEPT = 4096
_RemoteBridgeActor = ray.remote(concurrency_groups={"control": 1})(BridgeActor)  # type: ignore[call-overload]


@dataclass
class _InFlight:
    """A submitted batch: where it sits in the stream, which actor runs it, its result's ref."""

    index: int
    first_event: int
    size: int
    actor: int
    ref: Any


@dataclass
class _Map:
    """One running map: its id (for cancelling on the actors) and its batches in flight, in order."""

    id: str
    pending: collections.deque[_InFlight] = field(default_factory=collections.deque)


class RayBridgePool:
    """``size`` Ray actors, each holding one child built from ``spec``; events go through in batches.

    ``batch_size``: events per actor task (engine overhead per task is 50-1000x a
    child round trip, so batching is what makes this worth it). ``max_in_flight``:
    batches submitted and not yet consumed per map (default ``2 * size``); it
    bounds memory in ``imap``. Each batch goes to the actor with the fewest
    batches in flight across the whole pool (ties rotate). ``retry``: re-run a
    batch whose actor died (at least once) or raise ``BatchLost`` (at most once;
    Ray cannot tell whether a lost batch ran, so one sent while its actor was
    already restarting is reported lost too; after a loss the pool waits for
    that actor to be back before sending it more).
    ``max_restarts`` (Ray's; -1: always) restarts dead actors either way;
    ``max_task_retries`` (default 3) bounds the re-runs of one batch when
    ``retry``, and may not be given with ``retry=False``. ``actor_options`` go to
    Ray's ``.options`` (``num_cpus``, ``resources``, ``scheduling_strategy``, ...;
    not ``max_restarts`` or ``max_task_retries``, which are the pool's).
    ``ready_timeout``: seconds to wait for every actor's child to start; a child
    that cannot start, or an actor that cannot be placed in time, fails the
    constructor with ``SpawnError``.
    """

    def __init__(
        self,
        spec: BridgeSpec,
        size: int = 2,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_in_flight: int | None = None,
        retry: bool = True,
        max_restarts: int = -1,
        max_task_retries: int | None = None,
        actor_options: Mapping[str, Any] | None = None,
        ready_timeout: float | None = 120.0,
    ) -> None:
        if not isinstance(spec, BridgeSpec):
            raise TypeError(f"spec must be a BridgeSpec (BridgeSpec.of(command, codec=...)); got {spec!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be an integer >= 1; got {size!r}")
        clash = sorted(key for key in _POOL_KEYS if key in (actor_options or {}))
        if clash:
            raise ConfigError(
                f"actor_options may not set {', '.join(map(repr, clash))}: it would override the pool's "
                "retry/max_restarts/max_task_retries; pass them to RayBridgePool itself"
            )
        if not retry and max_task_retries not in (None, 0):
            raise ConfigError(
                f"max_task_retries={max_task_retries!r} contradicts retry=False (a lost batch is never re-run)"
            )
        self.spec = spec
        self.size = size
        self.batch_size = batch_size
        self.max_in_flight = 2 * size if max_in_flight is None else max_in_flight
        check_batching(self.batch_size, self.max_in_flight)
        self.retry = retry
        options: dict[str, Any] = {
            **(actor_options or {}),
            "max_restarts": max_restarts,
            "max_task_retries": (3 if max_task_retries is None else max_task_retries) if retry else 0,
        }
        self.ready_timeout = ready_timeout
        self._closed = False
        self._lock = threading.Lock()
        self._load = [0] * size  # batches in flight per actor, over every map and thread of the pool
        self._turn = itertools.count()  # rotates ties
        self._maps: set[str] = set()  # ids of the maps running, cancelled by close()
        self._suspect: set[int] = set()  # actors that lost a batch: wait until they are back before reuse
        self._actors: list[Any] = [_RemoteBridgeActor.options(**options).remote(spec) for _ in range(size)]
        try:
            ray.get([actor.info.remote() for actor in self._actors], timeout=ready_timeout)
        except RayActorError as exc:
            self.close(timeout=0)
            if exc.actor_init_failed:
                raise SpawnError(f"a Ray actor could not build or start its bridge: {exc}") from exc
            raise SpawnError(f"a Ray actor died while starting its bridge: {exc}") from exc
        except GetTimeoutError as exc:
            self.close(timeout=0)
            raise SpawnError(
                f"the Ray actors were not ready within ready_timeout={ready_timeout} s: the cluster may lack "
                f"the resources they ask for ({options}), or the child is slow to start"
            ) from exc
        except BaseException:
            self.close(timeout=0)
            raise

    # -- results

    def map(self, events: Iterable[Any], *, batch_size: int | None = None) -> list[Any]:
        """Every event through the children, in batches; the responses in input order.

        On an error, its ``results`` holds the ordered responses of every event
        before ``event_index``.
        """
        results: list[Any] = []
        try:
            for batch in self.imap_batches(events, batch_size=batch_size, max_in_flight=2 * self.max_in_flight):
                results.extend(batch)
        except BridgeError as exc:
            exc.results = results + list(exc.results)
            raise
        return results

    def imap(
        self, events: Iterable[Any], *, batch_size: int | None = None, max_in_flight: int | None = None
    ) -> Generator[Any, None, None]:
        """Like ``map`` but lazy at both ends: reads events as batches go out, yields responses in order."""
        for batch in self.imap_batches(events, batch_size=batch_size, max_in_flight=max_in_flight):
            yield from batch

    def imap_batches(
        self, events: Iterable[Any], *, batch_size: int | None = None, max_in_flight: int | None = None
    ) -> Generator[list[Any], None, None]:
        """The responses batch by batch, in input order, with at most ``max_in_flight`` batches outstanding.

        Leaving the iterator early cancels the batches not yet started.
        """
        size = self.batch_size if batch_size is None else batch_size
        limit = self.max_in_flight if max_in_flight is None else max_in_flight
        check_batching(size, limit)
        self._check_open()
        run = _Map(uuid.uuid4().hex)
        with self._lock:
            self._maps.add(run.id)
        first_event = 0
        try:
            for index, batch in enumerate(batched(events, size)):
                if len(run.pending) >= limit:
                    yield self._collect(run)
                run.pending.append(self._submit(run, index, first_event, batch))
                first_event += len(batch)
            while run.pending:
                yield self._collect(run)
        finally:
            with self._lock:
                self._maps.discard(run.id)
            if run.pending:  # left early: what has not started will not run
                self._cancel(run)
                for job in run.pending:
                    self._done(job)
                run.pending.clear()

    def _submit(self, run: _Map, index: int, first_event: int, batch: list[Any]) -> _InFlight:
        """Send one batch to the least loaded actor (ties rotate), counting it in flight."""
        with self._lock:
            self._check_open()
            start = next(self._turn) % self.size
            order = [(start + i) % self.size for i in range(self.size)]
            actor = min(order, key=self._load.__getitem__)
            self._load[actor] += 1
        job = _InFlight(index, first_event, len(batch), actor, None)
        try:
            if actor in self._suspect:
                self._ping(actor)  # a restarting actor would refuse the batch (retry=False) or hold it
                self._suspect.discard(actor)
            job.ref = self._actors[actor].run_batch.remote(batch, index, first_event, run.id)
        except BaseException as exc:
            self._done(job)
            if self._closed:
                raise self._fail(BridgeClosed(f"{self!r} was closed during the map"), job, run) from exc
            if isinstance(exc, RayError):  # the actor is gone for good, or did not come back in time
                raise self._fail(self._lost(job, exc, sent=False), job, run) from exc
            raise
        return job

    def _done(self, job: _InFlight) -> None:
        with self._lock:
            self._load[job.actor] -= 1

    def _cancel(self, run: _Map) -> None:
        """Tell each actor holding a pending batch of ``run`` not to start it, and wait until they know."""
        self._tell_cancel(sorted({job.actor for job in run.pending}), [run.id])

    def _tell_cancel(self, actors: list[int], map_ids: list[str]) -> None:
        """Control calls (not queued behind batches), acknowledged: once this returns, no such batch starts."""
        refs = []
        for actor in actors:
            for map_id in map_ids:
                with contextlib.suppress(Exception):
                    refs.append(self._actors[actor].cancel.remote(map_id))
        if refs:
            with contextlib.suppress(Exception):  # a dead actor starts nothing anyway
                ray.wait(refs, num_returns=len(refs), timeout=_CANCEL_TIMEOUT)

    def _collect(self, run: _Map) -> list[Any]:
        """Wait for the next batch's responses; on failure, settle the rest and raise stdiobridge's error."""
        job = run.pending.popleft()
        try:
            result: list[Any] | None = ray.get(job.ref)
        except RayError as exc:
            self._done(job)
            if self._closed:
                raise self._fail(BridgeClosed(f"{self!r} was closed during the map"), job, run) from exc
            if isinstance(exc, RayTaskError):
                if isinstance(exc.cause, BridgeError):
                    raise self._fail(exc.cause, job, run) from exc
                raise  # not a bridge failure: a bug to see as it is
            self._suspect.add(job.actor)  # the actor died, or the result was lost with its node
            raise self._fail(self._lost(job, exc), job, run) from exc
        self._done(job)
        if result is None:  # cancelled before it started: only close() cancels a map still being read
            raise self._fail(BridgeClosed(f"{self!r} was closed during the map"), job, run)
        return result

    def _lost(self, job: _InFlight, exc: BaseException, *, sent: bool = True) -> BatchLost:
        span = f"events {job.first_event}..{job.first_event + job.size - 1}"
        if not sent:
            why = "its actor is gone for good or did not come back within ready_timeout; the batch was never sent"
        elif self.retry:
            why = "its actor died and the batch was retried max_task_retries times without success"
        else:
            why = (
                "its actor died while the batch was queued or running, and retry=False: it was not re-run; "
                "the child may have handled some of its events (at most once)"
            )
        return BatchLost(
            f"batch {job.index} ({span}) was lost: {why}. Cause: {exc}",
            batch_index=job.index,
            first_event=job.first_event,
            size=job.size,
        )

    def _fail(self, err: BridgeError, job: _InFlight, run: _Map) -> BridgeError:
        """``err`` named after ``job``, with what became of the rest of ``run`` (cancelled, then awaited)."""
        if getattr(err, "batch_index", None) is None:
            annotate(
                err, batch_index=job.index, first_event=job.first_event, size=job.size, event_index=job.first_event
            )
        self._cancel(run)
        jobs = list(run.pending)
        run.pending.clear()
        deadline = time.monotonic() + _SETTLE_TIMEOUT
        fates = [self._fate(other, deadline) for other in jobs]
        results = err.results if not isinstance(err, (BatchLost, BridgeClosed)) else ()
        return settle(err, results, fates)

    def _fate(self, job: _InFlight, deadline: float) -> BatchFate:
        """Whether a batch of a failed map ran: to the end (``done``), not at all, or cannot tell."""
        state: Any = "unknown"
        try:
            got = ray.get(job.ref, timeout=max(0.0, deadline - time.monotonic()))
            state = "not run" if got is None else "done"
        except Exception:  # lost, failed or still running: it may have run in part
            state = "unknown"
        finally:
            self._done(job)
        return BatchFate(job.index, job.first_event, job.size, state)

    # -- inspection and lifetime

    def info(self, timeout: float | None = 60.0) -> list[WorkerInfo]:
        """Each actor's pid, its child's pid and its bridge's counters, in actor order."""
        self._check_open()
        return [self._ping(i, timeout) for i in range(len(self._actors))]

    @property
    def in_flight(self) -> list[int]:
        """Batches submitted and not yet collected, per actor, over every map of this pool."""
        with self._lock:
            return list(self._load)

    def _ping(self, index: int, timeout: float | None = None) -> WorkerInfo:
        """Actor ``index``'s report, waiting while it restarts (a ping is safe to repeat)."""
        limit = self.ready_timeout if timeout is None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                info: WorkerInfo = ray.get(self._actors[index].info.remote(), timeout=remaining)
            except ActorUnavailableError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                self._check_open()
                time.sleep(0.1)
                continue
            return info

    @property
    def actors(self) -> list[Any]:
        """The actor handles (for custom calls: ``actor.call.remote(msg)``)."""
        return list(self._actors)

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise BridgeClosed(f"{self!r} is closed")

    def close(self, timeout: float = 10.0) -> None:
        """Cancel the batches not started, close every actor's bridge (its child gets EOF), then kill the actors.

        Idempotent. A map running in another thread raises ``BridgeClosed``. An
        actor that does not close within ``timeout`` seconds is killed anyway;
        its child dies with it (the bridge ties the child's life to its host's).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            maps = list(self._maps)
        actors = list(self._actors)
        if not ray.is_initialized():
            return
        self._tell_cancel(list(range(len(actors))), maps)  # batches not started yet will not run
        if timeout > 0:
            closing = [actor.close.remote() for actor in actors]
            with contextlib.suppress(GetTimeoutError, RayActorError):
                ray.wait(closing, num_returns=len(closing), timeout=timeout)
        for actor in actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)

    def __enter__(self) -> RayBridgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.size} actors"
        return f"<RayBridgePool {self.spec.command!r} {state} batch_size={self.batch_size}>"
