"""What ``Bridge`` and ``AsyncBridge`` share: their options, codec, supervisor, stats and config.

They differ only in how they wait; everything a user configures is taken,
validated and kept here, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from .codecs import Codec, CodecSpec, get_codec
from .config import load_config
from .core import BridgeStats, Supervisor, check_bridge_options
from .process import StderrMode

__all__ = ["Front"]

F = TypeVar("F", bound="Front")


class Front:
    """Start ``command`` once and exchange messages with it over stdin/stdout.

    ``codec``: a codec name, a ``{"name": ..., **options}`` table, or a ``Codec``.
    ``timeout``: seconds each call may take (``None``: no limit); a per-call
    ``timeout`` overrides it. ``startup_timeout``: the limit for the first
    response of each new child when the call gives no ``timeout`` of its own
    (a child may take long to initialise). After a crash, a timeout or a protocol
    error the child is killed and reaped, and the next call starts a new one
    (``restart``), at most ``max_restarts`` times within ``restart_window``
    seconds. ``max_calls`` recycles a child after that many calls. ``env`` is
    merged over the host's environment unless ``replace_env``. ``stderr``:
    ``"log"`` (logger ``stdiobridge.child``), ``"inherit"``, ``"discard"`` or a
    callable taking each line; a tail is always kept for errors. Closing closes
    stdin, waits ``close_timeout``, sends SIGTERM, waits ``terminate_timeout``,
    then SIGKILLs. ``max_pending`` bounds the requests in flight.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        codec: CodecSpec = "lines",
        timeout: float | None = 30.0,
        startup_timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        replace_env: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        stderr: StderrMode = "log",
        restart: bool = True,
        max_restarts: int = 5,
        restart_window: float = 60.0,
        max_calls: int | None = None,
        close_timeout: float = 2.0,
        terminate_timeout: float = 2.0,
        max_pending: int = 1024,
    ) -> None:
        check_bridge_options(
            timeout=timeout,
            startup_timeout=startup_timeout,
            max_restarts=max_restarts,
            restart_window=restart_window,
            max_calls=max_calls,
            close_timeout=close_timeout,
            terminate_timeout=terminate_timeout,
            max_pending=max_pending,
        )
        self.codec: Codec[Any] = get_codec(codec)
        self.command = command
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self._spawn_options: dict[str, Any] = {"env": env, "replace_env": replace_env, "cwd": cwd, "stderr": stderr}
        self.close_timeout = close_timeout
        self.terminate_timeout = terminate_timeout
        self.max_pending = max_pending
        self._sup = Supervisor(
            restart=restart, max_restarts=max_restarts, restart_window=restart_window, max_calls=max_calls
        )
        self._closed = False
        self._setup()

    def _setup(self) -> None:
        """The front end's own state (its child slot, locks, queues)."""

    @classmethod
    def from_config(cls: type[F], source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> F:
        """One from ``load_config(source)``: a TOML path, a mapping, or ``None`` (see there)."""
        settings = load_config(source)
        return cls(settings.command, **settings.bridge_options())

    @property
    def pid(self) -> int | None:
        """The current child's pid, or ``None`` when no child is running."""
        child = getattr(self, "_child", None)
        return child.proc.pid if child is not None else None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> BridgeStats:
        """Counters: calls, failures, timeouts, spawns, restarts, bytes both ways."""
        return self._sup.snapshot()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid={self.pid}" if self.pid is not None else "not started"
        return f"<{type(self).__name__} {self.command!r} codec={self.codec.name!r} {state}>"
