"""Run the same behavioural tests against ``Bridge`` and ``AsyncBridge``.

``AsyncFacade`` drives an ``AsyncBridge`` on an event loop in a background thread and
offers the synchronous surface of ``Bridge``, so one test body covers both (and
calls from several threads become concurrent, pipelined calls on the async side).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import stdiobridge as sb

T = TypeVar("T")


class AsyncFacade:
    """An ``AsyncBridge`` behind the synchronous names of ``Bridge``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.bridge = sb.AsyncBridge(*args, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(300)

    def start(self) -> AsyncFacade:
        self._run(self.bridge.start())
        return self

    def call(self, message: Any, timeout: float | None = None) -> Any:
        return self._run(self.bridge.call(message, timeout))

    def call_many(self, messages: Iterable[Any], timeout: float | None = None) -> list[Any]:
        return self._run(self.bridge.call_many(messages, timeout))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self.bridge.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> AsyncFacade:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self.bridge.pid

    @property
    def alive(self) -> bool:
        return self.bridge.alive

    @property
    def stats(self) -> sb.BridgeStats:
        return self.bridge.stats

    @property
    def tagged(self) -> bool:
        return self.bridge.tagged

    @property
    def _child(self) -> Any:
        return self.bridge._child


def make(kind: str, *args: Any, **kwargs: Any) -> Any:
    """A ``Bridge`` (``kind`` ``sync``) or an ``AsyncFacade`` (``async``); ``-tagged``: with request ids."""
    if kind.endswith("-tagged"):
        kwargs.setdefault("tagged", True)
    return sb.Bridge(*args, **kwargs) if kind.startswith("sync") else AsyncFacade(*args, **kwargs)
