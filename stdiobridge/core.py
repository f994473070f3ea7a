"""The I/O-free bookkeeping that every front end shares: restart intensity, incarnations, stats.

``Bridge``, ``AsyncBridge`` and ``BridgePool`` differ only in how they wait; the
rules about when a child may be (re)started, when it must be recycled, and what
is counted live here, once, with the clock passed in.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, fields

__all__ = ["BridgeStats", "Supervisor"]


@dataclass(frozen=True)
class BridgeStats:
    """Counters of one bridge (or, added up, of a pool).

    ``calls``: responses delivered; ``failures``: calls that ended in an error;
    ``timeouts``: of those, deadlines missed; ``spawns``: children started;
    ``restarts``: spawns that replaced a child; ``bytes_sent``/``bytes_received``:
    on the child's stdin/stdout; ``late``: answers that arrived after their call
    gave up and were dropped (tagged mode).
    """

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    spawns: int = 0
    restarts: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    late: int = 0

    def __add__(self, other: BridgeStats) -> BridgeStats:
        return BridgeStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class Supervisor:
    """Decides whether a child may be (re)spawned and when one must be recycled.

    Restart intensity works like an Erlang supervisor's, over a sliding window:
    once ``max_restarts`` restarts happened within ``restart_window`` seconds,
    ``refusal`` explains why the next one may not happen, until the oldest of
    them leaves the window. The first spawn is not a restart, nor is a planned
    recycle after ``max_calls`` (``plan_recycle``). It also holds the counters of
    ``BridgeStats``, which outlive each child.
    """

    __slots__ = (
        "_recycling",
        "_restarts",
        "bytes_received",
        "bytes_sent",
        "calls",
        "failures",
        "incarnation",
        "last_failure",
        "late",
        "max_restarts",
        "restart",
        "restart_window",
        "restarts",
        "spawns",
        "timeouts",
    )

    def __init__(
        self,
        *,
        restart: bool = True,
        max_restarts: int = 5,
        restart_window: float = 60.0,
    ) -> None:
        self.restart = restart
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.incarnation = 0
        self.last_failure = ""
        self._restarts: collections.deque[float] = collections.deque()
        self._recycling = False
        self.calls = self.failures = self.timeouts = 0
        self.spawns = self.restarts = self.bytes_sent = self.bytes_received = self.late = 0

    def refusal(self, now: float) -> str | None:
        """Why a (re)spawn may not happen at ``now``, or ``None`` when it may."""
        if self.spawns == 0 or self._recycling:
            return None
        if not self.restart:
            return f"the child is gone and restart=False ({self.last_failure or 'no reason recorded'})"
        window = self._restarts
        while window and now - window[0] >= self.restart_window:
            window.popleft()
        if len(window) >= self.max_restarts:
            retry_in = self.restart_window - (now - window[0]) if window else self.restart_window
            return (
                f"restart limit reached: {len(window)} restarts within {self.restart_window:g} s "
                f"(max_restarts={self.max_restarts}); calls fail fast for another {retry_in:.1f} s; "
                f"last failure: {self.last_failure or 'unknown'}"
            )
        return None

    def spawned(self, now: float) -> int:
        """Record a spawn; returns the new incarnation number."""
        if self.spawns and not self._recycling:
            self._restarts.append(now)
            self.restarts += 1
        self._recycling = False
        self.spawns += 1
        self.incarnation += 1
        return self.incarnation

    def answered(self, count: int = 1) -> None:
        self.calls += count

    def failed(self, reason: str, *, timeout: bool = False) -> None:
        self.failures += 1
        self.timeouts += timeout
        self.last_failure = reason

    def child_lost(self, reason: str) -> None:
        """The child died outside any call (while idle)."""
        self.last_failure = reason

    def plan_recycle(self) -> None:
        """The current child is being retired on purpose: its replacement is not a restart."""
        self._recycling = True

    def snapshot(self) -> BridgeStats:
        return BridgeStats(
            calls=self.calls,
            failures=self.failures,
            timeouts=self.timeouts,
            spawns=self.spawns,
            restarts=self.restarts,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
            late=self.late,
        )
