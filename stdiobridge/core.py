"""The I/O-free bookkeeping that every front end shares: restart intensity, incarnations, stats.

``Bridge``, ``AsyncBridge`` and ``BridgePool`` differ only in how they wait; the
rules about when a child may be (re)started, when it must be recycled, and what
is counted live here, once, with the clock passed in.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, fields

from .errors import ConfigError

__all__ = ["BridgeStats", "Supervisor", "check_bridge_options"]


@dataclass(frozen=True)
class BridgeStats:
    """Counters of one bridge (or, added up, of a pool).

    ``calls``: responses delivered; ``failures``: calls that ended in an error;
    ``timeouts``: of those, deadlines missed; ``spawns``: children started;
    ``restarts``: spawns that replaced a child; ``bytes_sent``/``bytes_received``:
    on the child's stdin/stdout.
    """

    calls: int = 0
    failures: int = 0
    timeouts: int = 0
    spawns: int = 0
    restarts: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    def __add__(self, other: BridgeStats) -> BridgeStats:
        return BridgeStats(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class Supervisor:
    """Decides whether a child may be (re)spawned and when one must be recycled.

    Restart intensity works like an Erlang supervisor's, over a sliding window:
    once ``max_restarts`` restarts happened within ``restart_window`` seconds,
    ``refusal`` explains why the next one may not happen, until the oldest of
    them leaves the window. The first spawn is not a restart, nor is a planned
    recycle after ``max_calls``.
    """

    __slots__ = (
        "_recycling",
        "_restarts",
        "bytes_received",
        "bytes_sent",
        "calls",
        "calls_this_child",
        "failures",
        "incarnation",
        "last_failure",
        "max_calls",
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
        max_calls: int | None = None,
    ) -> None:
        self.restart = restart
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.max_calls = max_calls
        self.incarnation = 0
        self.calls_this_child = 0
        self.last_failure = ""
        self._restarts: collections.deque[float] = collections.deque()
        self._recycling = False
        self.calls = self.failures = self.timeouts = 0
        self.spawns = self.restarts = self.bytes_sent = self.bytes_received = 0

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
            retry_in = self.restart_window - (now - window[0])
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
        self.calls_this_child = 0
        return self.incarnation

    def answered(self, count: int = 1) -> None:
        self.calls += count
        self.calls_this_child += count

    def failed(self, reason: str, *, timeout: bool = False) -> None:
        self.failures += 1
        self.timeouts += timeout
        self.last_failure = reason

    def child_lost(self, reason: str) -> None:
        """The child died outside any call (while idle)."""
        self.last_failure = reason

    def due_for_recycle(self) -> bool:
        """True once the child has answered ``max_calls`` calls; the next spawn is planned."""
        if self.max_calls is not None and self.calls_this_child >= self.max_calls:
            self._recycling = True
            return True
        return False

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
        )


def _seconds(name: str, value: object, *, allow_none: bool, allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        what = "a number of seconds > 0" if not allow_zero else "a number of seconds >= 0"
        raise ConfigError(f"option {name!r} must be {what}{' or None' if allow_none else ''}; got {value!r}")


def _count(name: str, value: object, *, minimum: int, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"option {name!r} must be an integer >= {minimum}{' or None' if allow_none else ''}; got {value!r}"
        )


def check_bridge_options(
    *,
    timeout: object,
    startup_timeout: object,
    max_restarts: object,
    restart_window: object,
    max_calls: object,
    close_timeout: object,
    terminate_timeout: object,
    max_pending: object,
) -> None:
    """Validate the numeric options every bridge takes, with errors naming the option."""
    _seconds("timeout", timeout, allow_none=True)
    _seconds("startup_timeout", startup_timeout, allow_none=True)
    _seconds("restart_window", restart_window, allow_none=False)
    _seconds("close_timeout", close_timeout, allow_none=False, allow_zero=True)
    _seconds("terminate_timeout", terminate_timeout, allow_none=False, allow_zero=True)
    _count("max_restarts", max_restarts, minimum=0)
    _count("max_calls", max_calls, minimum=1, allow_none=True)
    _count("max_pending", max_pending, minimum=1)
