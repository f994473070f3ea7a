"""``BridgePool`` and ``AsyncBridgePool``: several children of one program, for more cores.

Each request goes to the child with the fewest requests outstanding (an idle one
first). Every child is its own bridge with its own supervision, so a child that
dies is replaced on its next call without failing the requests the others hold.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import reduce
from operator import add
from typing import Any, Generic, TypeVar

from .aio import AsyncBridge
from .bridge import Bridge
from .config import load_config
from .core import BridgeStats
from .errors import BridgeClosed, BridgeError, ConfigError

__all__ = ["AsyncBridgePool", "BridgePool"]


B = TypeVar("B", Bridge, AsyncBridge)


class _Pool(Generic[B]):
    """What both pools share: ``size`` bridges of one kind, their outstanding counts, their stats."""

    def __init__(self, kind: type[B], command: str | Sequence[str], size: int, bridge_options: dict[str, Any]) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ConfigError(f"option 'size' must be an integer >= 1; got {size!r}")
        self.size = size
        self.bridges: list[B] = [kind(command, **bridge_options) for _ in range(size)]
        self._outstanding = [0] * size

    @property
    def stats(self) -> BridgeStats:
        """The children's stats added up."""
        return reduce(add, (b.stats for b in self.bridges), BridgeStats())

    @property
    def pids(self) -> list[int | None]:
        return [b.pid for b in self.bridges]

    def _least_busy(self) -> int:
        """The member with the fewest calls outstanding among those that can serve now.

        A member refusing calls (past its restart limit) fails instantly, so it would
        always look idle: it is skipped while another member can serve.
        """
        members = [i for i in range(self.size) if self.bridges[i].refusing is None] or list(range(self.size))
        return min(members, key=self._outstanding.__getitem__)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self.size} pids={self.pids}>"


class BridgePool(_Pool[Bridge]):
    """``size`` bridges to ``command`` (each takes the ``Bridge`` options); thread-safe.

    ``call`` routes to the least busy child; ``map`` spreads a list over every child
    at once (one worker thread per child pulls the next request), keeping order.
    """

    def __init__(self, command: str | Sequence[str], size: int = 2, **bridge_options: Any) -> None:
        super().__init__(Bridge, command, size, bridge_options)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_config(
        cls, source: str | os.PathLike[str] | Mapping[str, Any] | None = None, *, size: int = 2
    ) -> BridgePool:
        settings = load_config(source)
        return cls(settings.command, size=size, **settings.bridge_options())

    def start(self) -> BridgePool:
        """Start every child now."""
        for bridge in self.bridges:
            bridge.start()
        return self

    def __enter__(self) -> BridgePool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every child (in parallel: each close may wait its grace times). Idempotent."""
        self._closed = True
        closers = [threading.Thread(target=b.close) for b in self.bridges]
        for t in closers:
            t.start()
        for t in closers:
            t.join()

    def _acquire(self) -> int:
        with self._lock:
            if self._closed:
                raise BridgeClosed(f"{self!r} is closed")
            i = self._least_busy()
            self._outstanding[i] += 1
            return i

    def _release(self, i: int) -> None:
        with self._lock:
            self._outstanding[i] -= 1

    def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message to the least busy child and return its response."""
        i = self._acquire()
        try:
            return self.bridges[i].call(message, timeout)
        finally:
            self._release(i)

    def map(
        self,
        messages: Iterable[Any],
        timeout: float | None = None,
        *,
        chunksize: int = 1,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Responses to ``messages``, in order, computed by all children at once.

        Each child's worker takes ``chunksize`` messages at a time: 1 isolates every
        request (a crash fails only the request that caused it); more pipelines
        them with ``call_many`` (much faster for small requests), but a child that
        dies fails the rest of its chunk too, since those requests were delivered
        and are never re-sent. A failed request raises its error once every
        request has finished (the first failure by position), or, with
        ``return_exceptions``, stands in the result list in place of its response.
        """
        if not isinstance(chunksize, int) or isinstance(chunksize, bool) or chunksize < 1:
            raise ConfigError(f"option 'chunksize' must be an integer >= 1; got {chunksize!r}")
        with self._lock:
            if self._closed:
                raise BridgeClosed(f"{self!r} is closed")
        items = list(messages)
        results: list[Any] = [None] * len(items)
        failed: list[bool] = [False] * len(items)
        starts = iter(range(0, len(items), chunksize))
        take = threading.Lock()

        def work(i: int) -> None:
            bridge = self.bridges[i]
            while True:
                if bridge.refusing is not None and any(b.refusing is None for b in self.bridges):
                    return  # it would fail every request at once: leave them to the members that can serve
                with take:
                    start = next(starts, None)
                if start is None:
                    return
                end = min(start + chunksize, len(items))
                try:
                    if end - start == 1:
                        results[start] = bridge.call(items[start], timeout)
                    else:
                        results[start:end] = bridge.call_many(items[start:end], timeout)
                except BridgeError as exc:
                    done = min(len(exc.results), end - start) if end - start > 1 else 0
                    results[start : start + done] = list(exc.results[:done])
                    for k in range(start + done, end):
                        results[k] = exc
                        failed[k] = True

        workers = [threading.Thread(target=work, args=(i,), name=f"stdiobridge-pool-{i}") for i in range(self.size)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if not return_exceptions and any(failed):
            first = failed.index(True)
            err: BridgeError = results[first]
            err.results = results[:first]
            raise err
        return results


class AsyncBridgePool(_Pool[AsyncBridge]):
    """``size`` ``AsyncBridge``s to ``command``: ``await call``, ``await map``, ``aclose``."""

    def __init__(self, command: str | Sequence[str], size: int = 2, **bridge_options: Any) -> None:
        super().__init__(AsyncBridge, command, size, bridge_options)

    async def start(self) -> AsyncBridgePool:
        await asyncio.gather(*(b.start() for b in self.bridges))
        return self

    async def __aenter__(self) -> AsyncBridgePool:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(b.aclose() for b in self.bridges))

    async def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message to the child with the fewest calls outstanding."""
        i = self._least_busy()
        self._outstanding[i] += 1
        try:
            return await self.bridges[i].call(message, timeout)
        finally:
            self._outstanding[i] -= 1

    async def map(
        self, messages: Iterable[Any], timeout: float | None = None, *, return_exceptions: bool = False
    ) -> list[Any]:
        """Responses in order; failures as for ``BridgePool.map``."""
        outcomes = await asyncio.gather(*(self.call(m, timeout) for m in messages), return_exceptions=True)
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException) and not (return_exceptions and isinstance(outcome, BridgeError)):
                if isinstance(outcome, BridgeError):
                    outcome.results = outcomes[:i]
                raise outcome
        return outcomes
