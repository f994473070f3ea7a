"""Ray face: a pool of actors, each owning one bridge (one persistent child), fed in batches.

Each ``BridgeActor`` builds and starts its bridge in ``__init__``, so when Ray
restarts a dead actor (``max_restarts``) the new incarnation has a fresh child.
``RayBridgePool`` spreads batches of events over its actors (each task is one
``Bridge.call_many``) and hands results back in input order: ``map`` for a list,
``imap`` for a stream too large for memory (a bounded number of batches in flight).

Delivery guarantee: with ``retry=True`` (the default) a batch whose actor died
is re-run on the restarted actor (``max_task_retries``): every event is answered
exactly once to the caller, but the child may see it **more than once** (at least
once). With ``retry=False`` a lost batch raises ``BatchLost`` (the child saw each
event at most once; the events of that batch may be half done), and the actor
still restarts for the batches that follow.

Call ``ray.init(...)`` yourself first (on one machine, set
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` beforehand to keep Ray on 127.0.0.1);
otherwise Ray starts a default local cluster on first use.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from ..errors import BridgeClosed, BridgeError, SpawnError
from ..spec import BridgeSpec
from . import DEFAULT_BATCH_SIZE, BatchLost, WorkerInfo, batched, check_batching

__all__ = ["BridgeActor", "RayBridgePool"]


class BridgeActor:
    """The actor body: one bridge, built and started in ``__init__`` so a restart respawns the child.

    Ray runs one task at a time on a (synchronous) actor, so the bridge's calls
    never contend; each task pipelines its whole batch with ``call_many``.
    """

    def __init__(self, spec: BridgeSpec) -> None:
        self._bridge = spec.bridge()
        self._bridge.start()

    def call_many(self, batch: list[Any]) -> list[Any]:
        """One batch through the child, pipelined; responses in order."""
        return self._bridge.call_many(batch)

    def call(self, message: Any) -> Any:
        """One message through the child (a task per message: slow, for the odd single call)."""
        return self._bridge.call(message)

    def info(self) -> WorkerInfo:
        """This worker's pid, its child's pid and the bridge's counters (for tests and monitoring)."""
        bridge = self._bridge
        return WorkerInfo(pid=os.getpid(), child_pid=bridge.pid, child_alive=bridge.alive, stats=bridge.stats)

    def close(self) -> None:
        """Close the bridge: EOF to the child, then SIGTERM/SIGKILL if it lingers."""
        self._bridge.close()


_RemoteBridgeActor = ray.remote(BridgeActor)


@dataclass
class _InFlight:
    """A submitted batch: where it sits in the stream, which actor runs it, its result's ref."""

    index: int
    first_event: int
    size: int
    actor: int
    ref: Any


class RayBridgePool:
    """``size`` Ray actors, each holding one child built from ``spec``; events go through in batches.

    ``batch_size``: events per actor task (engine overhead per task is 50-1000x a
    child round trip, so batching is what makes this worth it). ``max_in_flight``:
    batches submitted and not yet consumed (default ``2 * size``: each actor has
    one running and one queued); it bounds memory in ``imap``. ``retry``: re-run a
    batch whose actor died (at least once) or raise ``BatchLost`` (at most once;
    Ray cannot tell whether a lost batch ran, so one sent while its actor was
    already restarting is reported lost too; after a loss the pool waits for
    that actor to be back before sending it more).
    ``max_restarts`` (Ray's; -1: always) restarts dead actors either way;
    ``max_task_retries`` bounds the re-runs of one batch when ``retry``.
    ``actor_options`` go to Ray's ``.options`` (``num_cpus``, ``resources``,
    ``scheduling_strategy``, ...). ``ready_timeout``: seconds to wait for every
    actor's child to start; a child that cannot start fails the constructor with
    ``SpawnError``. A bridge error inside a batch (``ChildExited``, ``CallTimeout``,
    ...) is not retried: it reaches the caller as Ray's ``RayTaskError`` that is
    also an instance of the original class, so ``except ChildExited`` works.
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
        max_task_retries: int = 3,
        actor_options: Mapping[str, Any] | None = None,
        ready_timeout: float | None = 120.0,
    ) -> None:
        if not isinstance(spec, BridgeSpec):
            raise TypeError(f"spec must be a BridgeSpec (BridgeSpec.of(command, codec=...)); got {spec!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"size must be an integer >= 1; got {size!r}")
        self.spec = spec
        self.size = size
        self.batch_size = batch_size
        self.max_in_flight = 2 * size if max_in_flight is None else max_in_flight
        check_batching(self.batch_size, self.max_in_flight)
        self.retry = retry
        options: dict[str, Any] = {
            "max_restarts": max_restarts,
            "max_task_retries": max_task_retries if retry else 0,
            **(actor_options or {}),
        }
        self.ready_timeout = ready_timeout
        self._closed = False
        self._suspect: set[int] = set()  # actors that lost a batch: wait until they are back before reuse
        self._actors: list[Any] = [_RemoteBridgeActor.options(**options).remote(spec) for _ in range(size)]
        try:
            ray.get([actor.info.remote() for actor in self._actors], timeout=ready_timeout)
        except RayActorError as exc:
            self.close(timeout=0)
            if exc.actor_init_failed:
                raise SpawnError(f"a Ray actor could not build or start its bridge: {exc}") from exc
            raise
        except BaseException:
            self.close(timeout=0)
            raise

    # -- results

    def map(self, events: Iterable[Any], *, batch_size: int | None = None) -> list[Any]:
        """Every event through the children, in batches; the responses in input order.

        On ``BatchLost`` (or a bridge error), the exception's ``results`` holds the
        ordered responses delivered before the failed batch.
        """
        results: list[Any] = []
        try:
            for batch in self.imap_batches(events, batch_size=batch_size, max_in_flight=2 * self.max_in_flight):
                results.extend(batch)
        except BridgeError as exc:
            exc.results = results
            raise
        return results

    def imap(
        self, events: Iterable[Any], *, batch_size: int | None = None, max_in_flight: int | None = None
    ) -> Iterator[Any]:
        """Like ``map`` but lazy at both ends: reads events as batches go out, yields responses in order."""
        for batch in self.imap_batches(events, batch_size=batch_size, max_in_flight=max_in_flight):
            yield from batch

    def imap_batches(
        self, events: Iterable[Any], *, batch_size: int | None = None, max_in_flight: int | None = None
    ) -> Iterator[list[Any]]:
        """The responses batch by batch, in input order, with at most ``max_in_flight`` batches outstanding."""
        size = self.batch_size if batch_size is None else batch_size
        limit = self.max_in_flight if max_in_flight is None else max_in_flight
        check_batching(size, limit)
        self._check_open()
        pending: collections.deque[_InFlight] = collections.deque()
        load = [0] * len(self._actors)  # batches per actor submitted and not yet consumed
        first_event = 0
        for index, batch in enumerate(batched(events, size)):
            if len(pending) >= limit:
                yield self._collect(pending.popleft(), load)
            self._check_open()
            actor = min(range(len(load)), key=load.__getitem__)
            if actor in self._suspect:
                self._ping(actor)  # a restarting actor would refuse the batch (retry=False) or hold it
                self._suspect.discard(actor)
            ref = self._actors[actor].call_many.remote(batch)
            pending.append(_InFlight(index, first_event, len(batch), actor, ref))
            load[actor] += 1
            first_event += len(batch)
        while pending:
            yield self._collect(pending.popleft(), load)

    def _collect(self, job: _InFlight, load: list[int]) -> list[Any]:
        """Wait for one batch's responses; a dead actor's lost batch becomes ``BatchLost``."""
        load[job.actor] -= 1
        try:
            result: list[Any] = ray.get(job.ref)
        except RayActorError as exc:
            self._suspect.add(job.actor)
            span = f"events {job.first_event}..{job.first_event + job.size - 1}"
            if self.retry:
                why = "its actor died and the batch was retried max_task_retries times without success"
            else:
                why = (
                    "its actor died while the batch was queued or running, and retry=False: it was not re-run; "
                    "the child may have handled some of its events (at most once)"
                )
            raise BatchLost(
                f"batch {job.index} ({span}) was lost: {why}. Cause: {exc}",
                batch_index=job.index,
                first_event=job.first_event,
                size=job.size,
            ) from exc
        return result

    # -- inspection and lifetime

    def info(self, timeout: float | None = 60.0) -> list[WorkerInfo]:
        """Each actor's pid, its child's pid and its bridge's counters, in actor order."""
        self._check_open()
        return [self._ping(i, timeout) for i in range(len(self._actors))]

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
        """Close every actor's bridge (its child gets EOF), then kill the actors. Idempotent.

        An actor that does not close within ``timeout`` seconds is killed anyway;
        its child dies with it (the bridge ties the child's life to its host's).
        """
        if self._closed:
            return
        self._closed = True
        actors, self._actors = self._actors, []
        if not ray.is_initialized():
            return
        if timeout > 0:
            refs = [actor.close.remote() for actor in actors]
            with contextlib.suppress(GetTimeoutError, RayActorError):
                ray.wait(refs, num_returns=len(refs), timeout=timeout)
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
