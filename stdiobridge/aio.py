"""``AsyncBridge``: the bridge for asyncio, with many calls pipelined to one child.

Requests from concurrent coroutines are written in the order they arrive and
paired with responses first-in, first-out; at most ``max_pending`` are in flight
and further callers wait (backpressure). The child's stdout is watched by the
event loop (``add_reader``), so frames of any size arrive without a line limit.
When a call times out or the child dies, every call in flight on that child
fails at once and the next call starts a fresh child. A cancelled caller leaves
its slot in the queue, so the response meant for it is consumed and dropped and
the pairing of the others stays intact.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import warnings
from collections.abc import Iterable
from typing import Any

from .codecs import Decoder
from .errors import BridgeClosed, BridgeError, CallTimeout, ChildExited, ProtocolError
from .failures import (
    exit_error,
    extra_output_error,
    label,
    stopped,
    tail_note,
    timeout_error,
    unsolicited_output_error,
)
from .front import Front
from .process import ChildProcess, describe_exit

__all__ = ["AsyncBridge"]

log = logging.getLogger("stdiobridge")

_CHUNK = 1 << 16
_BIG_CHUNK = 1 << 20
_EXIT_WAIT = 1.0
_PARTIAL_KEPT = 256


class _Call:
    """One request in flight: the caller's future and its deadline (loop time)."""

    __slots__ = ("deadline", "future", "limit")

    def __init__(self, future: asyncio.Future[Any], limit: float | None, now: float) -> None:
        self.future = future
        self.limit = limit
        self.deadline = None if limit is None else now + limit

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.future.done():  # cancelled by its caller: the response is dropped
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(result)


class _Child:
    """One incarnation with its FIFO of calls in flight and its unwritten bytes."""

    __slots__ = (
        "decoder",
        "fresh",
        "incarnation",
        "out",
        "partial",
        "pending",
        "proc",
        "read_size",
        "reaped",
        "sent",
        "state",
        "timer",
        "timer_at",
        "unflushed",
    )

    def __init__(self, proc: ChildProcess, decoder: Decoder[Any], incarnation: int) -> None:
        self.proc = proc
        self.decoder = decoder
        self.incarnation = incarnation
        self.pending: collections.deque[_Call] = collections.deque()
        self.out: collections.deque[memoryview] = collections.deque()
        self.fresh = True
        self.read_size = _CHUNK
        self.partial = bytearray()  # first bytes of a response not yet whole (for errors)
        self.reaped: asyncio.Task[None] | None = None  # killing and reaping, once it is dead
        self.sent = 0  # requests written to this child (for max_calls)
        self.unflushed: list[bytes] = []  # requests queued this loop iteration, written together
        self.timer: asyncio.TimerHandle | None = None  # one timer: the earliest deadline in flight
        self.timer_at = 0.0
        self.state = "live"  # live | draining (max_calls reached) | dead


class AsyncBridge(Front):
    """Start ``command`` once and exchange messages with it from asyncio; same options as ``Bridge``.

    ``max_pending`` bounds the calls in flight on the child; more callers wait.
    """

    def _setup(self) -> None:
        self._child: _Child | None = None
        self._children: set[_Child] = set()  # every child not yet reaped (draining ones included)
        self._busy = 0  # calls between admission and their end
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._spawning: asyncio.Lock | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._unheard: ProtocolError | None = None  # a protocol error no caller was waiting for

    # -- public state

    @property
    def alive(self) -> bool:
        child = self._child
        return child is not None and child.state != "dead" and child.proc.returncode is None

    @property
    def in_flight(self) -> int:
        """Calls written to the current child and not answered yet."""
        child = self._child
        return len(child.pending) if child is not None else 0

    # -- lifetime

    async def start(self) -> AsyncBridge:
        """Start the child now rather than on the first call."""
        await self._ready(counted=False)
        return self

    async def __aenter__(self) -> AsyncBridge:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close stdin (calls in flight may still be answered), then SIGTERM, SIGKILL. Idempotent."""
        if self._closed:
            return
        self._closed = True
        children, self._child = list(self._children), None
        await asyncio.gather(*(self._stop(c, graceful=True) for c in children))
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task

    def __del__(self) -> None:
        if getattr(self, "_closed", True) or not getattr(self, "_children", None):
            return
        warnings.warn(
            f"{self!r} was never closed; killing its child (use `async with` or aclose())",
            ResourceWarning,
            stacklevel=2,
        )
        for child in list(self._children):
            with contextlib.suppress(Exception):
                child.proc.kill()

    # -- calls

    async def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message and await the child's response to it (errors as for ``Bridge.call``)."""
        return await self._call(self.codec.encode(message), timeout)

    async def call_many(self, messages: Iterable[Any], timeout: float | None = None) -> list[Any]:
        """Send many messages pipelined; responses in order. Every message is encoded first.

        On failure the exception's ``results`` holds the responses before the first failed one.
        """
        payloads = [self.codec.encode(m) for m in messages]
        outcomes = await asyncio.gather(*(self._call(p, timeout) for p in payloads), return_exceptions=True)
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, BridgeError):
                    outcome.results = list(outcomes[:i])
                raise outcome
        return outcomes

    async def _call(self, payload: bytes, timeout: float | None) -> Any:
        if self._busy >= self.max_pending:
            await self._wait_for_slot()  # returns holding a slot handed over by a finished call
        else:
            self._busy += 1
        try:
            for attempt in (1, 2):
                child = self._child
                max_calls = self._sup.max_calls
                if (
                    child is None
                    or child.state != "live"
                    or self._unheard is not None
                    or self._closed
                    or (max_calls is not None and child.sent >= max_calls)
                ):
                    child = await self._ready()
                else:
                    child.sent += 1
                loop = asyncio.get_running_loop()
                limit = timeout if timeout is not None else self._default_timeout(child)
                call = _Call(loop.create_future(), limit, loop.time())
                if call.deadline is not None and (child.timer is None or call.deadline < child.timer_at):
                    self._arm(child, call.deadline)
                idle = not child.pending
                child.pending.append(call)
                if not self._write(child, payload, idle) and attempt == 1:
                    # The pipe was broken before any byte went out: the child died while idle.
                    # It never saw this request, so a fresh child may have it.
                    child.pending.remove(call)
                    self._lose(child, "stdin was closed before the request was written")
                    continue
                try:
                    return await call.future
                except CallTimeout:
                    if child.reaped is not None:  # like Bridge: the child is gone when the caller hears
                        await asyncio.shield(child.reaped)
                    raise
        finally:
            self._release_slot()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_for_slot(self) -> None:
        """Backpressure: wait, in arrival order, for a call in flight to finish and hand over its slot."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot we will not use: pass it on
            raise

    def _release_slot(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next waiter
                return
        self._busy -= 1

    def _arm(self, child: _Child, when: float) -> None:
        """(Re)schedule the child's one deadline timer for loop time ``when``."""
        if child.timer is not None:
            child.timer.cancel()
        child.timer_at = when
        child.timer = asyncio.get_running_loop().call_at(when, self._deadline_passed, child)

    def _deadline_passed(self, child: _Child) -> None:
        """The earliest deadline in flight is due: time out whoever it was, or wait for the next one."""
        child.timer = None
        if child.state == "dead":
            return
        now = asyncio.get_running_loop().time()
        live = [c for c in child.pending if c.deadline is not None and not c.future.done()]
        for call in live:
            if call.deadline is not None and call.deadline <= now:
                self._timed_out(child, call, call.limit)
                return
        if live:
            self._arm(child, min(c.deadline for c in live if c.deadline is not None))

    # -- the child

    async def _ready(self, *, counted: bool = True) -> _Child:
        """The child to send the next request to (counted against ``max_calls``), spawned if need be."""
        while True:
            if self._closed:
                raise BridgeClosed(f"{self!r} is closed")
            if self._unheard is not None:
                err, self._unheard = self._unheard, None
                raise err
            child = self._child
            if child is not None and child.state == "live":
                max_calls = self._sup.max_calls
                if max_calls is None or child.sent < max_calls:
                    child.sent += counted
                    return child
                child.state = "draining"  # answers what it holds, then is retired
                self._sup.plan_recycle()
                self._child = None
                self._retire_if_drained(child)
            if self._spawning is None:
                self._spawning = asyncio.Lock()
            async with self._spawning:
                if self._child is None or self._child.state != "live":
                    await self._spawn()

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        refusal = self._sup.refusal(loop.time())
        if refusal is not None:
            raise ChildExited(refusal)
        try:
            proc = await asyncio.to_thread(ChildProcess, self.command, **self._spawn_options)
        except BridgeError:
            self._sup.failed("spawn failed")
            raise
        if self._closed:
            await asyncio.to_thread(proc.kill)
            raise BridgeClosed(f"{self!r} was closed while starting")
        child = _Child(proc, self.codec.decoder(), self._sup.spawned(loop.time()))
        loop.add_reader(proc.stdout_fd, self._readable, child)
        self._children.add(child)
        self._child = child

    def _default_timeout(self, child: _Child) -> float | None:
        return self.startup_timeout if child.fresh and self.startup_timeout else self.timeout

    def _write(self, child: _Child, payload: bytes, idle: bool) -> bool:
        """Send ``payload`` to the child; False if its stdin was already broken (nothing sent).

        A request to an idle child is written at once; requests that join others in
        flight are queued and written together once per loop iteration (one syscall
        for many awaiters).
        """
        if child.state == "dead":
            return True  # the failure is on its way to every call in flight
        if not idle or child.out or child.unflushed:
            if not child.unflushed:
                asyncio.get_running_loop().call_soon(self._flush, child)
            child.unflushed.append(payload)
            return True
        try:
            sent = os.write(child.proc.stdin_fd, payload)
        except BlockingIOError:
            sent = 0
        except (BrokenPipeError, ConnectionResetError):
            return False
        self._sup.bytes_sent += sent
        if sent < len(payload):
            self._backlog(child, [memoryview(payload)[sent:]])
        return True

    def _flush(self, child: _Child) -> None:
        batch, child.unflushed = child.unflushed, []
        if child.state == "dead" or not batch:
            return
        if child.out:  # already waiting for the pipe to drain
            child.out.extend(map(memoryview, batch))
            return
        try:
            sent = os.writev(child.proc.stdin_fd, batch)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the child is gone; its EOF on stdout fails the calls
        self._sup.bytes_sent += sent
        rest: list[memoryview] = []
        for chunk in batch:
            if sent >= len(chunk):
                sent -= len(chunk)
                continue
            rest.append(memoryview(chunk)[sent:])
            sent = 0
        if rest:
            self._backlog(child, rest)

    def _backlog(self, child: _Child, chunks: list[memoryview]) -> None:
        """Keep what the pipe did not take, and write it as the child reads."""
        if not child.out:
            asyncio.get_running_loop().add_writer(child.proc.stdin_fd, self._writable, child)
        child.out.extend(chunks)

    def _writable(self, child: _Child) -> None:
        out = child.out
        while out:
            try:
                sent = os.write(child.proc.stdin_fd, out[0])
            except BlockingIOError:
                return
            except OSError:
                out.clear()  # the child is gone; its EOF on stdout fails the calls
                break
            self._sup.bytes_sent += sent
            if sent == len(out[0]):
                out.popleft()
            else:
                out[0] = out[0][sent:]
                return
        asyncio.get_running_loop().remove_writer(child.proc.stdin_fd)

    def _readable(self, child: _Child) -> None:
        try:
            data = os.read(child.proc.stdout_fd, child.read_size)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lose(child, None)
            return
        self._sup.bytes_received += len(data)
        if len(data) == child.read_size:
            child.read_size = _BIG_CHUNK
        try:
            messages = child.decoder.feed(data)
        except ProtocolError as err:
            self._deliver(child, err.messages, data)
            if child.state != "dead":
                self._broken(child, stopped(err, child.proc))
            return
        if messages:
            child.partial.clear()
            self._deliver(child, messages, data)
        elif len(child.partial) < _PARTIAL_KEPT:
            child.partial += data[: _PARTIAL_KEPT - len(child.partial)]

    def _deliver(self, child: _Child, messages: list[Any], data: bytes) -> None:
        pending = child.pending
        if len(messages) > len(pending):
            extra = unsolicited_output_error(child.proc, data) if not pending else extra_output_error(data)
            for message, call in zip(messages, list(pending), strict=False):
                call.settle(message)
            pending.clear()
            self._broken(child, extra)
            return
        for message in messages:
            pending.popleft().settle(message)
        self._sup.answered(len(messages))
        child.fresh = False
        if child.state == "draining":
            self._retire_if_drained(child)

    # -- failures: the child is detached at once and every call in flight on it fails

    def _detach(self, child: _Child) -> list[_Call]:
        """Stop watching the child, mark it dead; returns the calls that were in flight."""
        if child.state == "dead":
            return []
        child.state = "dead"
        if self._child is child:
            self._child = None
        loop = asyncio.get_running_loop()
        loop.remove_reader(child.proc.stdout_fd)
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
        child.unflushed.clear()
        if child.out:
            loop.remove_writer(child.proc.stdin_fd)
            child.out.clear()
        calls = list(child.pending)
        child.pending.clear()
        return calls

    def _background_task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _timed_out(self, child: _Child, call: _Call, limit: float | None) -> None:
        if call.future.done():
            return
        calls = self._detach(child)
        self._sup.failed(f"timeout after {limit} s", timeout=True)
        tail = child.proc.stderr_tail()
        received = child.decoder.buffered
        for other in calls:
            if other is call:
                other.settle(error=timeout_error(child.proc, limit, received, "a response", tail))
            else:
                other.settle(
                    error=ChildExited(
                        f"{label(child.proc)} was stopped because an earlier request timed out after {limit} s; "
                        "this request may or may not have been processed"
                    )
                )
        child.reaped = self._background_task(self._reap(child, kill=True))

    def _broken(self, child: _Child, err: ProtocolError) -> None:
        calls = self._detach(child)
        self._sup.failed(f"protocol error: {err}")
        if not calls:  # nobody was waiting: the next caller hears of it (its request is not sent)
            self._unheard = err
        for i, call in enumerate(calls):
            call.settle(
                error=err
                if i == 0
                else ChildExited(
                    f"{label(child.proc)} was stopped after a protocol error on an earlier response; "
                    "this request may or may not have been processed"
                )
            )
        self._background_task(self._reap(child, kill=True))

    def _lose(self, child: _Child, reason: str | None) -> None:
        """stdout closed (or stdin broken): the child is dying; fail its calls once its status is known."""
        calls = self._detach(child)
        self._background_task(self._reap(child, kill=False, calls=calls, reason=reason))

    async def _reap(
        self, child: _Child, *, kill: bool, calls: list[_Call] | None = None, reason: str | None = None
    ) -> None:
        proc = child.proc
        if not kill:
            await asyncio.to_thread(proc.wait_exit, _EXIT_WAIT)
        code = await asyncio.to_thread(proc.kill)
        self._children.discard(child)
        if calls is None:
            return
        if self._closed:
            for call in calls:
                call.settle(error=BridgeClosed(f"{self!r} was closed during the call"))
            return
        tail = await asyncio.to_thread(proc.stderr_tail, 0.5)
        if calls:
            self._sup.failed(f"child {describe_exit(code)}")
        else:
            reason = reason or f"the child (pid {proc.pid}) {describe_exit(code)} while idle"
            self._sup.child_lost(reason)
            log.warning("%s; the next call starts a new one.%s", reason, tail_note(tail))
        for i, call in enumerate(calls):
            when = "before answering" if i == 0 else f"before answering (with {i} earlier requests in flight)"
            call.settle(error=exit_error(proc, code, when, bytes(child.partial) if i == 0 else b"", tail))

    def _retire_if_drained(self, child: _Child) -> None:
        if not child.pending and child.state == "draining":
            self._detach(child)
            self._background_task(self._stop(child, graceful=True))

    async def _stop(self, child: _Child, *, graceful: bool) -> None:
        """Close the child's stdin and let it finish, then the shutdown sequence; fail what is left."""
        proc = child.proc
        if graceful and child.state != "dead":
            await asyncio.to_thread(proc.remember_family)
            proc.close_stdin()
            await asyncio.to_thread(proc.wait_exit, self.close_timeout)  # responses keep arriving meanwhile
            await asyncio.sleep(0)  # let the reader take the last bytes
        leftover = self._detach(child)
        await asyncio.to_thread(proc.shutdown, 0.0 if graceful else self.close_timeout, self.terminate_timeout)
        self._children.discard(child)
        for call in leftover:
            call.settle(error=BridgeClosed(f"{self!r} was closed before this call was answered"))
