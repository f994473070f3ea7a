"""What ``Bridge`` and ``AsyncBridge`` share: their spec, wire codec, supervisor, stats and lifetime hooks.

They differ only in how they wait; everything a user configures is a
``BridgeSpec``, validated once, and everything about pairing answers with callers
is the ``Exchange``'s.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .codecs import Codec, CodecSpec
from .core import BridgeStats, Supervisor
from .errors import BridgeClosed, BridgeError, ChildExited, SpawnError
from .exchange import Call, Exchange, Frame, Packed, RequestIds, pack_frames
from .process import ChildProcess, StderrMode, finish_background_work
from .spec import OPTION_NAMES, BridgeSpec, build_spec, unknown_option

__all__ = ["BATCH_FRAME", "READ_CHUNK", "TAGGED_ENV", "Front", "read_out"]

F = TypeVar("F", bound="Front")

#: The environment variable that tells a child whether request ids are on the wire ("1") or not ("0").
TAGGED_ENV = "STDIOBRIDGE_TAGGED"

#: ``call_many`` frames this small on average go out as one batch (see ``Exchange.submit_batch``).
BATCH_FRAME = 16 << 10

#: One read of a child's stdout: a 64 KiB message with its framing, below malloc's mmap threshold (a
#: bigger read would allocate, and fault in, fresh pages every time).
READ_CHUNK = 68 << 10


def read_out(fd: int, ex: Exchange) -> tuple[bytes | None, int, bool]:
    """One read of a child's stdout for ``ex``: ``(data, size, full)``, where ``full`` says the read got all
    it asked for (the pipe likely holds more). ``data`` is what was read, for ``ex.received``, or ``None``
    when the ``size`` bytes went straight into ``ex.read_buffer()`` (the rest of a big answer), for
    ``ex.received_into``. Raises ``BlockingIOError`` when nothing is there; ``size`` 0 is the end."""
    into = ex.read_buffer() if ex.lends else None
    if into is None:
        data = os.read(fd, READ_CHUNK)
        return data, len(data), len(data) == READ_CHUNK
    with into:  # released before received_into: the answer then becomes bytes without a copy
        size = os.readv(fd, (into,))
        return None, size, size == len(into)


_fronts: weakref.WeakSet[Front] = weakref.WeakSet()
_D = BridgeSpec  # the defaults below are the spec's own


class Front:
    """Start ``command`` once and exchange messages with it over stdin/stdout.

    ``codec``: a codec name, a ``{"name": ..., **options}`` table, or a ``Codec``.
    ``timeout``: seconds each call may take (``None``: no limit); a per-call
    ``timeout`` overrides it, and waiting for another caller counts against it.
    ``startup_timeout``: the limit of calls that give none while a new child has
    not answered yet (a child may take long to initialise). After a crash, a
    timeout or a protocol error the child is killed and reaped, and the next call
    starts a new one (``restart``), at most ``max_restarts`` times within
    ``restart_window`` seconds. ``max_calls`` recycles a child after that many
    requests. ``env`` is merged over the host's environment unless
    ``replace_env``. ``stderr``: ``"log"`` (logger ``stdiobridge.child``),
    ``"inherit"``, ``"discard"`` or a callable taking each line; a tail is always
    kept for errors. Closing closes stdin, waits ``close_timeout``, sends SIGTERM,
    waits ``terminate_timeout``, then SIGKILLs. ``max_pending`` bounds the
    requests in flight. ``tagged`` puts request ids on the wire (the child must
    copy them onto its answers; see protocols/README.md). ``command`` may also be
    a ``BridgeSpec`` holding all of these.
    """

    def __init__(
        self,
        command: str | Sequence[str] | BridgeSpec,
        *,
        codec: CodecSpec = "lines",
        timeout: float | None = _D.timeout,
        startup_timeout: float | None = _D.startup_timeout,
        env: Mapping[str, str] | None = _D.env,
        replace_env: bool = _D.replace_env,
        cwd: str | os.PathLike[str] | None = _D.cwd,
        stderr: StderrMode = _D.stderr,
        restart: bool = _D.restart,
        max_restarts: int = _D.max_restarts,
        restart_window: float = _D.restart_window,
        max_calls: int | None = _D.max_calls,
        close_timeout: float = _D.close_timeout,
        terminate_timeout: float = _D.terminate_timeout,
        max_pending: int = _D.max_pending,
        tagged: bool = _D.tagged,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise unknown_option(next(iter(unknown)), OPTION_NAMES)
        if isinstance(command, BridgeSpec):
            spec = command
        else:
            spec = build_spec(
                command,
                {
                    "codec": codec,
                    "timeout": timeout,
                    "startup_timeout": startup_timeout,
                    "env": env,
                    "replace_env": replace_env,
                    "cwd": cwd,
                    "stderr": stderr,
                    "restart": restart,
                    "max_restarts": max_restarts,
                    "restart_window": restart_window,
                    "max_calls": max_calls,
                    "close_timeout": close_timeout,
                    "terminate_timeout": terminate_timeout,
                    "max_pending": max_pending,
                    "tagged": tagged,
                },
            )
        self.spec = spec
        self.codec: Codec[Any] = spec.codec
        self._wire: Codec[Any] = spec.codec.tagged() if spec.tagged else spec.codec
        self._ids = RequestIds() if spec.tagged else None
        self._sup = Supervisor(restart=spec.restart, max_restarts=spec.max_restarts, restart_window=spec.restart_window)
        self._closed = False
        self._unheard: BridgeError | None = None  # a retired child's fault nobody heard of: the next caller does
        self._setup()
        _fronts.add(self)

    def _setup(self) -> None:
        """The front end's own state (its child slot, locks)."""

    @classmethod
    def from_config(cls: type[F], source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> F:
        """One from ``load_config(source)``: a TOML path, a mapping, or ``None`` (see there)."""
        return cls(BridgeSpec.from_config(source))

    # -- options, read-only

    @property
    def command(self) -> str | list[str]:
        return self.spec.argv

    @property
    def timeout(self) -> float | None:
        return self.spec.timeout

    @property
    def startup_timeout(self) -> float | None:
        return self.spec.startup_timeout

    @property
    def tagged(self) -> bool:
        return self.spec.tagged

    @property
    def max_pending(self) -> int:
        return self.spec.max_pending

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stats(self) -> BridgeStats:
        """Counters: calls, failures, timeouts, spawns, restarts, bytes both ways, late answers."""
        return self._sup.snapshot()

    @property
    def refusing(self) -> str | None:
        """Why a call would fail at once (closed, or past the restart limit with no child), else ``None``."""
        if self._closed:
            return "closed"
        if getattr(self, "_child", None) is None:
            return self._sup.refusal(time.monotonic())
        return None

    # -- what both fronts do to start a child

    def _start_process(self, now: float) -> ChildProcess:
        """Spawn a child (or refuse, past the restart limit) and count it."""
        refusal = self._sup.refusal(now)
        if refusal is not None:
            raise ChildExited(refusal)
        spec = self.spec
        env = {**(spec.env or {}), TAGGED_ENV: "1" if spec.tagged else "0"}
        try:
            proc = ChildProcess(spec.argv, env=env, replace_env=spec.replace_env, cwd=spec.cwd, stderr=spec.stderr)
        except SpawnError:
            self._sup.failed("spawn failed")
            raise
        self._sup.spawned(now)
        return proc

    def _new_exchange(self, proc: ChildProcess) -> Exchange:
        spec = self.spec
        return Exchange(
            self._wire,
            proc,
            tagged=spec.tagged,
            max_pending=spec.max_pending,
            max_calls=spec.max_calls,
            limit=spec.timeout,
            startup_limit=spec.startup_timeout,
            stats=self._sup,
        )

    def _check_open(self) -> None:
        """Before a request is sent: the bridge must be open, and a fault nobody heard of is raised now
        (the request is then not sent)."""
        if self._closed:
            raise BridgeClosed(f"{self!r} is closed")
        if self._unheard is not None:
            failure, self._unheard = self._unheard, None
            self._count(0, failure)
            raise failure

    def _encode_many(self, messages: Iterable[Any]) -> tuple[Packed | list[tuple[int, Frame]], list[int] | None]:
        """``call_many``'s messages encoded, all before anything is sent (or the first ``EncodeError``), with
        fresh ids when tagged: small frames packed as one batch (``pack_frames``), others as ``(id, frame)``
        pairs (id 0 untagged); and the ids."""
        items = messages if isinstance(messages, (list, tuple)) else list(messages)
        if not items:
            return [], None
        encode_many = self._wire.encode_many
        ids: list[int] | None = None
        if self._ids is None:

            def encode(start: int, stop: int) -> list[bytes]:
                return encode_many(items[start:stop])

        else:
            ids = taken = self._ids.take(len(items))  # (``taken``: ``ids`` is optional to the closure below)

            def encode(start: int, stop: int) -> list[bytes]:
                return encode_many(zip(taken[start:stop], items[start:stop], strict=True))

        encoded = pack_frames(encode, len(items), BATCH_FRAME)
        if isinstance(encoded, Packed):
            return encoded, ids
        return list(zip(ids or itertools.repeat(0), encoded, strict=False)), ids

    def _outcome(self, call: Call) -> list[Any]:
        """A finished call's answers, counted; or its error (``BridgeClosed`` if the bridge was closed under it)."""
        call.release()  # the caller is done with it: no call <-> request cycle left for the garbage collector
        error = call.error
        if error is None:
            self._sup.calls += len(call.results)
            return call.results
        if self._closed and isinstance(error, ChildExited):
            call.error = error = BridgeClosed(f"{self!r} was closed during the call")
        self._count(len(call.answers_so_far()), error)
        return call.outcome()  # type: ignore[no-any-return]

    def _count(self, ok: int, error: BaseException | None) -> None:
        """Count a finished call: ``ok`` answers delivered, and the error it ended with, if any."""
        self._sup.answered(ok)
        if error is not None:
            self._sup.failed(str(error).split("\n", 1)[0][:200], timeout=isinstance(error, TimeoutError))

    def _after_fork(self) -> None:
        """In a process forked from the one that made this bridge: forget the parent's child."""

    def _kill_at_exit(self) -> None:
        """At interpreter exit: the bridge was never closed."""

    def __repr__(self) -> str:
        pid = getattr(self, "pid", None)
        state = "closed" if self._closed else f"pid={pid}" if pid is not None else "not started"
        tagged = " tagged" if self.spec.tagged else ""
        return f"<{type(self).__name__} {self.command!r} codec={self.codec.name!r}{tagged} {state}>"


def _forget_after_fork() -> None:
    for front in list(_fronts):
        with contextlib.suppress(Exception):
            front._after_fork()


@atexit.register
def _close_forgotten() -> None:
    """Interpreter exit: close every bridge still open (killing its child), then let retired ones finish."""
    fronts = list(_fronts)
    for front in fronts:
        with contextlib.suppress(Exception):
            front._kill_at_exit()
    finish_background_work(2.0)


os.register_at_fork(after_in_child=_forget_after_fork)
