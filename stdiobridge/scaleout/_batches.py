"""What both scale-out faces run on a worker and report to a caller, engine-free.

``WorkerBridge`` is the one bridge a worker (Ray actor, Dask worker plugin) holds:
it runs one batch at a time per caller thread, names the failing batch and event
in every error, starts a fresh bridge when its bridge refuses on its restart limit
(nothing was sent, so the batch runs on the fresh one), and closes a replaced
bridge only once the batches still running on it are done. ``BatchFate`` tells a
caller what became of the batches that were in flight when a map failed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..bridge import Bridge
from ..codecs import get_codec
from ..errors import BridgeError, ChildExited, EncodeError
from ..spec import BridgeSpec

__all__ = ["BatchFate", "WorkerBridge", "annotate", "settle"]

Fate = Literal["done", "not run", "unknown"]


@dataclass(frozen=True)
class BatchFate:
    """A batch that was in flight when a map failed or was closed, and what became of it.

    ``state``: ``"done"``: it ran to the end on a child (its answers were
    discarded); ``"not run"``: it never reached a child; ``"unknown"``: it may
    have run, in part (re-submitting it may repeat events).
    """

    batch_index: int
    first_event: int
    size: int
    state: Fate

    @property
    def events(self) -> range:
        """The indices of its events in the input stream."""
        return range(self.first_event, self.first_event + self.size)


def annotate(err: BridgeError, *, batch_index: int, first_event: int, size: int, event_index: int) -> BridgeError:
    """Name the batch and the event in ``err``'s message and attributes (once; picklable)."""
    if getattr(err, "batch_index", None) is None:
        where = f"batch {batch_index} (events {first_event}..{first_event + size - 1}), event {event_index}"
        if err.args and isinstance(err.args[0], str):
            err.args = (f"{where}: {err.args[0]}", *err.args[1:])
        else:
            err.args = (where, *err.args)
    err.batch_index = batch_index
    err.first_event = first_event
    err.size = size
    err.event_index = event_index
    if not hasattr(err, "in_flight"):
        err.in_flight = ()
    return err


def settle(err: BridgeError, results: Sequence[Any], in_flight: Sequence[BatchFate]) -> BridgeError:
    """Set the caller-side parts of a face's error: ``results`` and ``in_flight``."""
    err.results = list(results)
    err.in_flight = tuple(in_flight)
    return err


def _first_unencodable(spec: BridgeSpec, events: Sequence[Any]) -> int:
    """Index of the first event the spec's codec cannot encode (``len(events)`` if none)."""
    codec = get_codec(spec.codec)
    for i, event in enumerate(events):
        try:
            codec.encode(event)
        except EncodeError:
            return i
    return len(events)


class WorkerBridge:
    """The bridge one worker holds, shared by its task threads; replaced and closed safely.

    ``run`` counts its users so that ``close`` (a plugin replaced or removed
    while batches run) closes the child only after the last of them.
    """

    def __init__(self, spec: BridgeSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._bridge: Bridge | None = None
        self._users = 0
        self._closing = False
        self._retired: list[Bridge] = []  # replaced bridges still used by a batch

    def start(self) -> None:
        """Build the bridge and start its child now (a broken command fails here)."""
        bridge = self.spec.bridge()
        try:
            bridge.start()
        except BaseException:
            bridge.close()
            raise
        with self._lock:
            old, self._bridge = self._bridge, bridge
        if old is not None:
            old.close()

    @property
    def bridge(self) -> Bridge | None:
        """The current bridge (``None`` before ``start`` or after ``close``)."""
        return self._bridge

    def _acquire(self) -> Bridge:
        with self._lock:
            if self._closing:
                raise BridgeError("this worker's bridge was closed")
            if self._bridge is None:
                self._bridge = self.spec.bridge()
            self._users += 1
            return self._bridge

    def _release(self, bridge: Bridge) -> None:
        with self._lock:
            self._users -= 1
            done = self._users == 0 and (self._closing or bridge is not self._bridge)
            if done:
                stale, self._retired = self._retired, []
                if self._closing and self._bridge is not None:
                    stale.append(self._bridge)
                    self._bridge = None
        if done:
            for old in stale:
                old.close()

    def _replace(self, refused: Bridge) -> None:
        """``refused`` hit its restart limit: later batches get a fresh bridge (it closes once unused)."""
        with self._lock:
            if self._bridge is refused and not self._closing:
                self._bridge = self.spec.bridge()
                self._retired.append(refused)

    def run(self, events: list[Any], batch_index: int = 0, first_event: int = 0) -> list[Any]:
        """One batch through the child, pipelined; an error names the batch and the failing event."""
        for attempt in range(2):
            bridge = self._acquire()
            try:
                before = bridge.stats
                try:
                    return bridge.call_many(events)
                except EncodeError as err:
                    bad = first_event + _first_unencodable(self.spec, events)
                    raise annotate(
                        err, batch_index=batch_index, first_event=first_event, size=len(events), event_index=bad
                    ) from None
                except ChildExited as err:
                    after = bridge.stats
                    refused = after.spawns == before.spawns and after.bytes_sent == before.bytes_sent
                    if refused and attempt == 0 and self.spec.options.get("restart", True) is not False:
                        self._replace(bridge)  # nothing was sent: the batch runs on the fresh bridge
                        continue
                    raise self._named(err, events, batch_index, first_event) from None
                except BridgeError as err:
                    raise self._named(err, events, batch_index, first_event) from None
            finally:
                self._release(bridge)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _named(err: BridgeError, events: list[Any], batch_index: int, first_event: int) -> BridgeError:
        done = min(len(err.results), len(events))
        return annotate(
            err, batch_index=batch_index, first_event=first_event, size=len(events), event_index=first_event + done
        )

    def close(self) -> None:
        """Close the bridge now, or after the last batch still running on it."""
        with self._lock:
            self._closing = True
            if self._users:
                return
            stale = [*self._retired, *([self._bridge] if self._bridge is not None else [])]
            self._retired, self._bridge = [], None
        for bridge in stale:
            bridge.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]
