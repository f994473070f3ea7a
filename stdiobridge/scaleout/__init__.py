"""Scale-out faces: one persistent child per cluster worker, fed in batches (Ray, Dask).

The engines themselves live in ``stdiobridge.scaleout.ray`` and
``stdiobridge.scaleout.dask`` behind the ``ray`` and ``dask`` extras; this module
imports neither, only what both share: batching, the worker report, ``BatchLost``.

Why batches: an engine task costs 50-1000x a child round trip, so every task
carries a batch of events to ``Bridge.call_many`` (pipelined on the child) and
the per-event cost approaches a local ``call_many``.

Delivery guarantee (both engines): results come back exactly once per event and
in input order, but when a worker dies the batches it was running or had queued
(Dask: also the finished ones whose results it still held) run again on a fresh
child, so the child may see some events **more than once** (at least once). For
non-idempotent work use ``retry=False`` (Ray), which turns a lost batch into
``BatchLost`` instead: each event is then seen at most once. The exact list, each
one tested, is in examples/scale-out/README.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..core import BridgeStats
from ..errors import BridgeError

__all__ = ["DEFAULT_BATCH_SIZE", "EXTRAS", "BatchLost", "WorkerInfo", "batched", "check_batching", "require_extra"]

#: The extra each engine module needs, and the top-level modules that extra installs.
EXTRAS: dict[str, tuple[str, ...]] = {"ray": ("ray",), "dask": ("dask", "distributed")}

DEFAULT_BATCH_SIZE = 512
"""Events per engine task: large enough that engine overhead is a small share of each event's cost."""


class BatchLost(BridgeError):
    """A batch's worker died and the batch was not (or no longer) retried; its events may be half done.

    ``batch_index``: the batch's position in the stream; ``first_event``: the index
    of its first event; ``size``: its number of events; ``event_index``: the first
    event without a known answer (``first_event``); ``results``: the ordered
    results delivered before it (for ``map``; an iterator has already yielded them);
    ``in_flight``: what became of the other batches in flight (``BatchFate``).
    """

    def __init__(self, message: str, *, batch_index: int, first_event: int, size: int) -> None:
        super().__init__(message)
        self.batch_index = batch_index
        self.first_event = first_event
        self.size = size
        self.event_index = first_event
        self.in_flight: tuple[Any, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable (keyword-only arguments): raised inside a Ray task or a Dask task, it arrives whole."""
        return (_rebuild_batch_lost, (str(self), self.batch_index, self.first_event, self.size), self.__dict__)


def _rebuild_batch_lost(message: str, batch_index: int, first_event: int, size: int) -> BatchLost:
    return BatchLost(message, batch_index=batch_index, first_event=first_event, size=size)


@dataclass(frozen=True)
class WorkerInfo:
    """What one worker reports about itself: its pid, its child's pid and its bridge's counters."""

    pid: int
    child_pid: int | None
    child_alive: bool
    stats: BridgeStats


def require_extra(extra: str) -> None:
    """Raise ``ImportError`` naming the pip extra when a module of ``extra`` (``EXTRAS``) is not installed.

    ``stdiobridge.scaleout.ray`` and ``.dask`` call it before importing their
    engine, so that a missing engine says what to install, not only ``No module named 'ray'``.
    """
    import importlib.util  # noqa: PLC0415  (only the engine modules need it)

    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"stdiobridge.scaleout.{extra} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed: pip install 'stdiobridge-py[{extra}]'",
            name=missing[0],
        )


def check_batching(batch_size: int, max_in_flight: int) -> None:
    """Refuse a batch size or in-flight bound that is not a positive integer, naming it."""
    for name, value in (("batch_size", batch_size), ("max_in_flight", max_in_flight)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def batched(events: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of up to ``size`` events, read lazily (the stream may not fit in memory)."""
    it = iter(events)
    while batch := list(itertools.islice(it, size)):
        yield batch
