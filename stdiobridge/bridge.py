"""``Bridge``: a synchronous, thread-safe request/response channel to one persistent child.

One call at a time is in flight on the child (callers are serialised by a lock),
except inside ``call_many``, which pipelines a batch. Reads and writes share one
``poll`` loop over non-blocking pipes, so a large request and a large response
flow at once and never deadlock on full pipe buffers.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import threading
import time
import warnings
import weakref
from collections.abc import Iterable
from typing import Any

from .codecs import Decoder
from .errors import (
    BridgeClosed,
    BridgeError,
    CallTimeout,
    ChildExited,
    ProtocolError,
    SpawnError,
)
from .failures import (
    exit_error,
    extra_output_error,
    stopped,
    tail_note,
    timeout_error,
    unsolicited_output_error,
    which_response,
)
from .front import Front
from .process import ChildProcess, describe_exit

__all__ = ["Bridge"]

log = logging.getLogger("stdiobridge")

_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITE = select.POLLOUT | select.POLLHUP | select.POLLERR
_CHUNK = 1 << 16
_BIG_CHUNK = 1 << 20
_WRITE_BATCH = 1 << 18
_PARTIAL_KEPT = 256
_EXIT_WAIT = 1.0  # how long a child that closed stdout gets to exit before it is killed


class _Child:
    """One incarnation: the process, its decoder and poller, and what arrived of a response."""

    __slots__ = (
        "decoder",
        "feed",
        "fresh",
        "in_fd",
        "incarnation",
        "limit",
        "out_fd",
        "partial",
        "poll",
        "poller",
        "proc",
    )

    def __init__(self, proc: ChildProcess, decoder: Decoder[Any], incarnation: int) -> None:
        self.proc = proc
        self.decoder = decoder
        self.poller = select.poll()
        self.poller.register(proc.stdout_fd, _READ)
        self.poll = self.poller.poll
        self.feed = decoder.feed
        self.in_fd = proc.stdin_fd
        self.out_fd = proc.stdout_fd
        self.incarnation = incarnation
        self.partial = bytearray()  # first bytes of a response not yet whole (for errors)
        self.fresh = True  # no call has been answered yet (startup_timeout applies)
        self.limit: float | None = None  # the limit of a call that gives none (set by the bridge)


_live_bridges: weakref.WeakSet[Bridge] = weakref.WeakSet()


@atexit.register
def _close_forgotten() -> None:
    for bridge in list(_live_bridges):
        with contextlib.suppress(Exception):
            bridge.close()


class Bridge(Front):
    """Start ``command`` once and exchange messages with it over stdin/stdout; thread-safe.

    Options as for ``Front`` (``stdiobridge.front``): codec, timeouts, restarts,
    environment, stderr handling, shutdown grace times. ``max_pending`` bounds
    the requests in flight inside ``call_many``.
    """

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._child: _Child | None = None
        _live_bridges.add(self)

    # -- public state

    @property
    def alive(self) -> bool:
        """True while a child is running."""
        child = self._child
        return child is not None and child.proc.returncode is None

    @property
    def next_call_timeout(self) -> float | None:
        """The limit a call without its own ``timeout`` gets now (``startup_timeout`` for a fresh child)."""
        child = self._child
        if child is None:
            return self.startup_timeout or self.timeout
        return self._default_timeout(child)

    # -- lifetime

    def start(self) -> Bridge:
        """Start the child now rather than on the first call. Returns the bridge."""
        with self._lock:
            self._ready()
        return self

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child gracefully (EOF, SIGTERM, SIGKILL; descendants too). Idempotent.

        A call in progress in another thread is given ``close_timeout`` to finish;
        after that the child is killed under it and it fails with ``BridgeClosed``.
        """
        if self._closed:
            return
        self._closed = True
        _live_bridges.discard(self)
        if not self._lock.acquire(timeout=self.close_timeout):
            child = self._child
            if child is not None:
                child.proc.kill()
            self._lock.acquire()
        try:
            child, self._child = self._child, None
            if child is not None:
                child.proc.shutdown(self.close_timeout, self.terminate_timeout)
        finally:
            self._lock.release()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        child = self._child
        if child is not None:
            warnings.warn(
                f"{self!r} was never closed; killing its child (use `with Bridge(...)` or close())",
                ResourceWarning,
                stacklevel=2,
            )
            with contextlib.suppress(Exception):
                child.proc.kill()
        self._closed = True

    # -- calls

    def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message and return the child's response to it.

        Raises ``EncodeError`` (nothing sent), ``CallTimeout``, ``ChildExited``,
        ``ProtocolError``, ``SpawnError`` or ``BridgeClosed``.
        """
        payload = self.codec.encode(message)
        with self._lock:
            child = self._child
            if child is None or child.poll(0) or self._closed or self._sup.max_calls is not None:
                child = self._ready()
            try:
                sent = os.write(child.in_fd, payload)
            except BlockingIOError:
                sent = 0
            except (BrokenPipeError, ConnectionResetError):
                return self._exchange([payload], timeout, child)[0]
            sup = self._sup
            sup.bytes_sent += sent
            if sent != len(payload):  # a large request: write and read together
                return self._pump(child, [payload], timeout, first_sent=sent)[0]
            # The request is out; wait for its one response. (The hot path: kept flat.)
            if timeout is None:
                timeout = child.limit
            deadline = None if timeout is None else time.monotonic() + timeout
            wait = timeout
            poll, fd, feed = child.poll, child.out_fd, child.feed
            read_size = _CHUNK
            while True:
                if wait is None:
                    poll()
                elif not poll(wait * 1000.0 + 1.0):
                    wait = deadline - time.monotonic()  # type: ignore[operator]
                    if wait <= 0:
                        raise self._timed_out(child, timeout, 0, 1)
                    continue
                try:
                    data = os.read(fd, read_size)
                except BlockingIOError:
                    continue
                if not data:
                    raise self._child_gone(child, 0, 1)
                sup.bytes_received += len(data)
                try:
                    got = feed(data)
                except ProtocolError as err:
                    raise self._protocol_error(child, err) from None
                if got:
                    if len(got) > 1 or child.decoder.buffered:
                        raise self._extra_output(child, data)
                    if child.fresh:
                        self._answered_first(child)
                    sup.calls += 1
                    sup.calls_this_child += 1
                    return got[0]
                if len(data) == read_size:
                    read_size = _BIG_CHUNK  # a big response is streaming: read more per call
                if len(child.partial) < _PARTIAL_KEPT:
                    child.partial += data[: _PARTIAL_KEPT - len(child.partial)]
                if deadline is not None:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        raise self._timed_out(child, timeout, 0, 1)

    def call_many(self, messages: Iterable[Any], timeout: float | None = None) -> list[Any]:
        """Send many messages pipelined (up to ``max_pending`` in flight); responses in order.

        Every message is encoded before anything is sent. ``timeout`` bounds the
        wait for each next response. On failure the exception's ``results`` holds
        the responses received before it.
        """
        encode = self.codec.encode
        payloads = [encode(m) for m in messages]
        if not payloads:
            return []
        with self._lock:
            return self._exchange(payloads, timeout, self._ready())

    # -- the machinery (called with the lock held)

    def _ready(self) -> _Child:
        """The child to send to: alive, idle, with nothing unsolicited on its stdout."""
        if self._closed:
            raise BridgeClosed(f"{self!r} is closed")
        child = self._child
        if child is not None:
            if child.poller.poll(0):
                self._idle_output(child)
                child = self._child
            elif self._sup.due_for_recycle():
                self._retire(graceful=True)
                child = None
        if child is None:
            child = self._spawn()
        return child

    def _idle_output(self, child: _Child) -> None:
        """stdout became readable between calls: the child died, or wrote unasked-for bytes."""
        try:
            data = os.read(child.proc.stdout_fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            code = self._retire(graceful=False, wait=_EXIT_WAIT)
            reason = f"the child (pid {child.proc.pid}) {describe_exit(code)} while idle"
            self._sup.child_lost(reason)
            log.warning("%s; starting a new one.%s", reason, tail_note(child.proc.stderr_tail()))
            return
        self._retire(graceful=False)
        raise unsolicited_output_error(child.proc, data)

    def _spawn(self) -> _Child:
        now = time.monotonic()
        refusal = self._sup.refusal(now)
        if refusal is not None:
            raise ChildExited(refusal)
        try:
            proc = ChildProcess(self.command, **self._spawn_options)
        except SpawnError:
            self._sup.failed("spawn failed")
            raise
        incarnation = self._sup.spawned(now)
        child = self._child = _Child(proc, self.codec.decoder(), incarnation)
        child.limit = self.startup_timeout or self.timeout
        return child

    def _answered_first(self, child: _Child) -> None:
        """The child's first answer: from now on its calls get ``timeout``, not ``startup_timeout``."""
        child.fresh = False
        child.limit = self.timeout

    def _retire(self, *, graceful: bool, wait: float = 0.0) -> int | None:
        """Stop the current child (gracefully or by SIGKILL) and forget it; returns its status."""
        child, self._child = self._child, None
        if child is None:
            return None
        proc = child.proc
        if graceful:
            return proc.shutdown(self.close_timeout, self.terminate_timeout)
        if wait and proc.returncode is None:
            with contextlib.suppress(Exception):
                proc.proc.wait(wait)
        return proc.kill()

    def _deadline(self, child: _Child, timeout: float | None) -> float | None:
        if timeout is None:
            timeout = self._default_timeout(child)
        return None if timeout is None else time.monotonic() + timeout

    def _exchange(self, payloads: list[bytes], timeout: float | None, child: _Child) -> list[Any]:
        """Write ``payloads`` and read one response each, pipelined, in one poll loop."""
        try:
            return self._pump(child, payloads, timeout)
        except _NotDelivered:
            # The pipe was broken before any byte of the first request went out: the child
            # had died while idle. Nothing was received, so a fresh child may have it.
            self._retire(graceful=False, wait=_EXIT_WAIT)
            self._sup.child_lost("stdin was closed before the request was written")
            return self._pump(self._ready(), payloads, timeout)

    def _pump(self, child: _Child, payloads: list[bytes], timeout: float | None, first_sent: int = 0) -> list[Any]:
        proc = child.proc
        in_fd, out_fd = proc.stdin_fd, proc.stdout_fd
        poller = child.poller
        decoder = child.decoder
        sup = self._sup
        total = len(payloads)
        results: list[Any] = []
        deadline = self._deadline(child, timeout)
        window = self.max_pending

        # What to write: whole frames, joined into batches of up to _WRITE_BATCH bytes.
        queued = 0  # payloads handed to the writer so far
        out: memoryview | bytes = b""
        sent_any = first_sent > 0
        writing = False

        def refill() -> memoryview | bytes:
            nonlocal queued
            limit = min(total, len(results) + window)
            if queued >= limit:
                return b""
            if queued + 1 == limit or len(payloads[queued]) >= _WRITE_BATCH:
                queued += 1
                return payloads[queued - 1]
            batch = []
            size = 0
            while queued < limit and size < _WRITE_BATCH:
                batch.append(payloads[queued])
                size += len(payloads[queued])
                queued += 1
            return b"".join(batch)

        if first_sent:
            queued = 1
            out = memoryview(payloads[0])[first_sent:]
        else:
            out = refill()
        read_size = _CHUNK
        try:
            while True:
                # 1. write what we can without blocking
                while out:
                    try:
                        n = os.write(in_fd, out)
                    except BlockingIOError:
                        n = 0
                    except (BrokenPipeError, ConnectionResetError):
                        if not sent_any:
                            raise _NotDelivered() from None
                        out = b""
                        break  # the child is gone; its exit shows up on stdout as EOF
                    if n:
                        sent_any = True
                        sup.bytes_sent += n
                    if n == len(out):
                        out = refill()
                        continue
                    out = memoryview(out)[n:]
                    break
                if out and not writing:
                    poller.register(in_fd, _WRITE)
                    writing = True
                elif not out and writing:
                    poller.unregister(in_fd)
                    writing = False

                # 2. wait for the child
                if deadline is None:
                    events = poller.poll()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise self._timed_out(child, timeout, len(results), total)
                    events = poller.poll(remaining * 1000.0 + 1.0)
                    if not events:
                        continue  # the deadline check above decides
                for fd, _event in events:
                    if fd != out_fd:
                        continue  # stdin writable (or broken): the write step handles it
                    try:
                        data = os.read(out_fd, read_size)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise self._child_gone(child, len(results), total)
                    sup.bytes_received += len(data)
                    if len(data) == read_size:
                        read_size = _BIG_CHUNK  # a big response is streaming: read more per call
                    try:
                        got = decoder.feed(data)
                    except ProtocolError as err:
                        results.extend(err.messages[: total - len(results)])
                        raise self._protocol_error(child, err) from None
                    if not got:
                        if len(child.partial) < _PARTIAL_KEPT:
                            child.partial += data[: _PARTIAL_KEPT - len(child.partial)]
                        continue
                    child.partial.clear()
                    results.extend(got)
                    if len(results) > total or (len(results) == total and (decoder.buffered or out)):
                        raise self._extra_output(child, data)
                    if len(results) == total:
                        if child.fresh:
                            self._answered_first(child)
                        sup.answered(total)
                        return results
                    if timeout is not None or self.timeout is not None:
                        deadline = self._deadline(child, timeout)  # progress: the next response gets its own
                    if not out:
                        out = refill()
        except BridgeError as err:
            if not isinstance(err, _NotDelivered):
                err.results = results
            raise
        finally:
            if writing and self._child is child:
                with contextlib.suppress(KeyError, ValueError):
                    poller.unregister(in_fd)

    # -- failures: each one retires the child, so no late answer can reach a later caller

    def _timed_out(self, child: _Child, timeout: float | None, done: int, total: int) -> CallTimeout:
        limit = timeout if timeout is not None else self._default_timeout(child)
        self._retire(graceful=False)
        self._sup.failed(f"timeout after {limit} s", timeout=True)
        tail = child.proc.stderr_tail()
        return timeout_error(child.proc, limit, child.decoder.buffered, which_response(done, total), tail)

    def _extra_output(self, child: _Child, data: bytes) -> ProtocolError:
        return self._protocol_error(child, extra_output_error(data))

    def _child_gone(self, child: _Child, done: int, total: int) -> BridgeError:
        if self._closed:
            self._retire(graceful=False)
            return BridgeClosed(f"{self!r} was closed during the call")
        code = self._retire(graceful=False, wait=_EXIT_WAIT)
        self._sup.failed(f"child {describe_exit(code)}")
        when = f"after {done} of {total} responses" if total > 1 else "before answering"
        return exit_error(child.proc, code, when, bytes(child.partial), child.proc.stderr_tail(wait=0.5))

    def _protocol_error(self, child: _Child, err: ProtocolError) -> ProtocolError:
        self._retire(graceful=False)
        self._sup.failed(f"protocol error: {err}")
        return stopped(err, child.proc)

    def _default_timeout(self, child: _Child) -> float | None:
        """The limit of a call that gave none: ``startup_timeout`` for a fresh child, else ``timeout``."""
        return child.limit


class _NotDelivered(BridgeError):
    """Internal: the first write found the pipe broken, so the child never saw the request."""
