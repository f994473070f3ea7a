"""``AsyncBridge``: the bridge for asyncio, with many calls in flight on one child.

It only waits: the event loop watches the child's stdout, its pidfd, its stdin
(while a large request is being written) and one timer for the earliest deadline,
and feeds the ``Exchange``, which pairs answers with calls (in order, or by id when
tagged). At most ``max_pending`` calls are admitted at once; later callers wait
their turn (backpressure). A cancelled caller's answer is consumed and dropped in
its slot, so the others' pairing stays intact. A bridge can be used from one event
loop at a time, and from a new loop once the old one has nothing in flight (two
``asyncio.run`` calls in a row).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import os
from collections.abc import Callable, Generator, Iterable
from typing import Any

from .errors import BridgeClosed, BridgeError, ProtocolError
from .exchange import NOT_DELIVERED, Call, ChildState, Exchange, Frame, Packed
from .failures import tail_note
from .front import READ_CHUNK, Front, read_out
from .process import ChildProcess, describe_exit, retire
from .spec import check_call_timeout

__all__ = ["AsyncBridge"]

log = logging.getLogger("stdiobridge")

_READS_PER_WAKE = 32  # full reads taken in one wake-up of the reader (about 2 MiB), then the loop gets a turn
_REAP_WAIT = 0.5
_QUICK_RUN = 8  # calls answered without yielding in a row, at most, before one goes through the loop


_PENDING = 0
_DONE = 1
_CANCELLED = 2
_READY = ChildState.READY  # a module global: an enum member is a slower lookup, and this is per call


class _Waiter:
    """What one caller awaits: the part of the asyncio future protocol a ``Task`` uses.

    Unlike a ``Future``'s, its task's wakeup can be run by the reader directly
    (``AsyncBridge._wake``): the caller takes its next step at once, inside the read
    callback, instead of through a loop handle per answer (``Future.set_result`` ->
    ``call_soon`` -> a ``Handle`` per waiter). ``set_result`` and ``cancel`` go
    through ``call_soon`` as a future's do.
    """

    __slots__ = ("_asyncio_future_blocking", "_loop", "callback", "context", "message", "more", "state")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop  # ``Task`` finds a future's loop here (no get_loop method: one call less per await)
        self._asyncio_future_blocking = False
        self.callback: Callable[[Any], object] | None = None
        self.context: contextvars.Context | None = None
        self.more: list[tuple[Callable[[Any], object], contextvars.Context]] | None = None
        self.state = _PENDING
        self.message: object = None

    def __await__(self) -> Generator[Any, None, None]:
        if self.state == _PENDING:
            self._asyncio_future_blocking = True
            yield self  # the task registers its wakeup; woken, it calls result() first (raising if cancelled)
        elif self.state == _CANCELLED:
            self.result()

    __iter__ = __await__

    def add_done_callback(self, fn: Callable[[Any], object], *, context: contextvars.Context | None = None) -> None:
        if context is None:
            context = contextvars.copy_context()
        if self.state != _PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self.callback is None:
            self.callback, self.context = fn, context
        else:
            if self.more is None:
                self.more = []
            self.more.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        removed = 0
        if self.callback is not None and self.callback == fn:
            self.callback = self.context = None
            removed += 1
        if self.more:
            kept = [(f, c) for f, c in self.more if f != fn]
            removed += len(self.more) - len(kept)
            self.more = kept
        return removed

    def done(self) -> bool:
        return self.state != _PENDING

    def cancelled(self) -> bool:
        return self.state == _CANCELLED

    def result(self) -> None:
        if self.state == _CANCELLED:
            raise asyncio.CancelledError(*(() if self.message is None else (self.message,)))
        if self.state == _PENDING:
            raise asyncio.InvalidStateError("the call is not answered yet")

    def exception(self) -> BaseException | None:
        self.result()
        return None

    def cancel(self, msg: object = None) -> bool:
        if self.state != _PENDING:
            return False
        self.state = _CANCELLED
        self.message = msg
        self._schedule()
        return True

    def set_result(self, _: object = None) -> None:
        """Done: the callbacks run from the loop, as a future's do."""
        if self.state == _PENDING:
            self.state = _DONE
            self._schedule()

    def _schedule(self) -> None:
        call_soon = self._loop.call_soon
        if self.callback is not None:
            call_soon(self.callback, self, context=self.context)
            self.callback = self.context = None
        for fn, context in self.more or ():
            call_soon(fn, self, context=context)
        self.more = None


class _Child:
    """One incarnation bound to one event loop: its exchange, watchers and deadline timer."""

    __slots__ = (
        "ex",
        "flush_due",
        "gone",
        "loop",
        "proc",
        "reaped",
        "timer",
        "timer_at",
        "waking",
        "writing",
    )

    def __init__(self, proc: ChildProcess, ex: Exchange, loop: asyncio.AbstractEventLoop) -> None:
        self.proc = proc
        self.ex = ex
        self.loop = loop
        self.writing = False
        self.flush_due = False  # a write is scheduled for the end of this loop iteration
        self.waking = False  # the reader is running woken callers: it writes what they send when they are done
        self.gone = False
        self.reaped: asyncio.Task[None] | None = (
            None  # killing and reaping a broken child  # stdout closed or the pidfd fired: its end is being recorded
        )
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None


class AsyncBridge(Front):
    """Start ``command`` once and exchange messages with it from asyncio; same options as ``Bridge``.

    ``max_pending`` bounds the calls in flight on the child; more callers wait.
    """

    def _setup(self) -> None:
        self._child: _Child | None = None
        self._children: set[_Child] = set()  # every child not yet reaped (draining ones included)
        self._busy = 0  # calls admitted and not finished
        self._max_pending = self.spec.max_pending
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._spawning: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._quick_run = 0  # calls answered at once since the loop last ran: a few, then the loop gets a turn

    # -- public state

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.proc.pid if child is not None else None

    @property
    def alive(self) -> bool:
        child = self._child
        return child is not None and not child.gone and child.proc.returncode is None

    @property
    def in_flight(self) -> int:
        """Requests written (or being written) to the current child and not answered yet."""
        child = self._child
        return child.ex.in_flight if child is not None else 0

    # -- lifetime

    async def start(self) -> AsyncBridge:
        """Start the child now rather than on the first call."""
        await self._ready(asyncio.get_running_loop())
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
        self._child = None
        await asyncio.gather(*(self._stop(c) for c in list(self._children)))
        for task in list(self._background):
            with contextlib.suppress(BaseException):
                await task

    def __del__(self) -> None:
        if getattr(self, "_closed", True) or not getattr(self, "_children", None):
            return
        import warnings  # noqa: PLC0415  (only on this rare path)

        warnings.warn(
            f"{self!r} was never closed; killing its child (use `async with` or aclose())",
            ResourceWarning,
            stacklevel=2,
        )
        for child in list(self._children):
            child.proc.kill()

    def _kill_at_exit(self) -> None:
        if not self._closed:
            self._closed = True
            for child in list(self._children):
                retire(child.proc, 0.0, 0.0)

    def _after_fork(self) -> None:
        children, self._children = list(self._children), set()
        self._child = None
        self._waiting.clear()
        self._busy = 0
        self._spawning = None
        self._background = set()
        for child in children:
            child.proc.forget_after_fork()

    # -- calls

    async def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message and await the child's response to it (errors as for ``Bridge.call``)."""
        limit = None if timeout is None else check_call_timeout(timeout)
        if self._ids is None:
            rid = 0
            frame = self._wire.encode(message)
        else:
            rid = self._ids.next_id()
            frame = self._wire.encode((rid, message))
        child = self._child
        if child is not None and not child.gone and self._unheard is None and not self._closed:
            ex = child.ex
            if self._busy == 0:
                if ex.quick and self._quick_run < _QUICK_RUN:
                    loop = asyncio.get_running_loop()
                    if not self._quick_run:
                        loop.call_soon(self._new_iteration)
                    self._quick_run += 1
                    if child.loop is loop and (rid or self._silent(child)):
                        # The common case, flat, as in Bridge.call: an idle child, the request written whole, its
                        # answer read at once, no loop iteration. Anything else goes to the exchange.
                        entered = loop.time()
                        try:  # from here on the request may be out: leaving early breaks the child or abandons its id
                            answered, value = self._quick(child, frame, limit, entered, rid)
                        except BaseException:
                            ex.quick_interrupted(rid)
                            self._after(child, [])
                            raise
                        if answered:
                            return value
                        if value is not None:  # written: never NOT_DELIVERED
                            self._busy += 1
                            try:
                                await self._wait(child, value, loop)
                            finally:
                                self._release_slot()
                            return self._outcome(value)[0]
            elif self._busy < self._max_pending and ex.state is _READY and child.loop is asyncio.get_running_loop():
                # Joining calls in flight, flat (no inner coroutine, no future): the request goes out with the
                # others' at the end of this loop iteration, and the reader wakes this caller with its answer.
                loop = child.loop
                entered = loop.time()
                self._busy += 1
                call = None
                try:
                    call = ex.submit_one(rid, frame, entered, limit)
                    waiter = call.waiter = _Waiter(loop)
                    if not child.flush_due and not child.writing:
                        child.flush_due = True
                        if not child.waking:  # else the reader writes once the callers it wakes are done
                            loop.call_soon(self._flush, child)
                    deadline = call.deadline
                    if deadline is not None and (child.timer_at is None or deadline < child.timer_at):
                        self._rearm(child)
                    await waiter
                    if call.error is None:
                        self._sup.calls += 1
                        call.release()
                        return call.results[0]
                    if call.error is not NOT_DELIVERED and child.reaped is not None:
                        await asyncio.shield(child.reaped)  # as with Bridge: the child is gone when the caller hears
                except BaseException as exc:
                    if call is not None:
                        ex.abandon(call, exc, reader_continues=not child.gone)
                        self._after(child, [])
                    raise
                finally:
                    if self._waiting:
                        self._release_slot()
                    else:
                        self._busy -= 1
                if call.error is not NOT_DELIVERED:
                    return self._outcome(call)[0]
                return (await self._call([(rid, frame)], limit, rolling=False, entered=entered))[0]
        return (await self._call([(rid, frame)], limit, rolling=False))[0]

    def _new_iteration(self) -> None:
        self._quick_run = 0

    def _silent(self, child: _Child) -> bool:
        """Untagged: nothing waits on stdout before a request goes out (a stale answer, a log line)."""
        try:
            data = os.read(child.proc.stdout_fd, READ_CHUNK)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if data:
            self._after(child, child.ex.received(data, child.loop.time()))  # breaks it: the next call hears
        else:
            self._exited(child)
        return False

    def _quick(self, child: _Child, frame: bytes, limit: float | None, entered: float, rid: int) -> tuple[bool, Any]:
        """Write and read at once (``Exchange.quick_answer``); ``(False, call)`` to wait for; ``(False, None)``
        when nothing was written (the general path takes it)."""
        ex = child.ex
        fd = child.proc.stdin_fd
        try:
            n = os.write(fd, frame)
        except OSError:
            return False, None
        except BaseException:  # a signal handler's, as the write returned: how much went out is not known
            self._after(child, ex.lost_place())
            raise
        if n == len(frame):
            try:
                data = os.read(child.proc.stdout_fd, READ_CHUNK)
                if data:
                    answered, value = ex.quick_answer(frame, data, entered, limit, rid)
            except BlockingIOError:
                data = b""
            except OSError:
                data = b""
            except BaseException:  # a signal handler's, between a read and its hand-over: the bytes read may
                self._after(child, ex.lost_place())  # be lost, and with them the stream's place (ids or not)
                raise
            if data:
                if not answered:
                    self._after(child, [])
                return answered, value
        try:
            call = ex.submit([(rid, frame)], now=entered, limit=limit)
            ex.wrote(n)
        except BaseException:  # (likewise, before the exchange knew of the bytes written)
            self._after(child, ex.lost_place())
            raise
        if n < len(frame):
            self._send(child)  # the rest, as the pipe drains
        return False, call

    async def call_many(self, messages: Iterable[Any], timeout: float | None = None) -> list[Any]:
        """Send many messages pipelined; responses in order. Every message is encoded first.

        ``timeout`` bounds the wait for each next response. On failure the
        exception's ``results`` holds the responses before the first failed one.
        """
        limit = check_call_timeout(timeout)
        encoded, ids = self._encode_many(messages)
        if isinstance(encoded, Packed):  # small frames: one batch, no object per frame
            return await self._call([], limit, rolling=True, batch=encoded, ids=ids)
        if not encoded:
            return []
        return await self._call(encoded, limit, rolling=True)

    async def _call(
        self,
        frames: list[tuple[int, Frame]],
        limit: float | None,
        rolling: bool,
        entered: float | None = None,
        *,
        batch: Packed | None = None,
        ids: list[int] | None = None,
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        if entered is None:
            entered = loop.time()
        if self._busy >= self.spec.max_pending:
            await self._wait_for_slot()  # returns holding a slot handed over by a finished call
        else:
            self._busy += 1
        try:
            for attempt in (1, 2):
                child = self._child
                if child is None or child.gone or child.ex.state is not ChildState.READY or child.loop is not loop:
                    child = await self._ready(loop)
                idle = child.ex.idle
                call = (
                    child.ex.submit(frames, now=entered, limit=limit, rolling=rolling)
                    if batch is None
                    else child.ex.submit_batch(batch, now=entered, limit=limit, rolling=rolling, ids=ids)
                )
                if idle:  # written at once
                    self._send(child)
                elif not child.flush_due and not child.writing:  # joins others: one write per loop iteration
                    child.flush_due = True
                    if not child.waking:
                        loop.call_soon(self._flush, child)
                await self._wait(child, call, loop)
                if call.error is not NOT_DELIVERED or attempt == 2:
                    return self._outcome(call)
        finally:
            self._release_slot()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait(self, child: _Child, call: Call, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for ``call`` (submitted to ``child``); on any way out, tell the exchange."""
        if not call.done:
            call.waiter = _Waiter(loop)
            self._rearm(child)
            try:
                await call.waiter
            except BaseException as exc:
                child.ex.abandon(call, exc, reader_continues=not child.gone)
                self._after(child, [])
                raise
        if call.error is not None and call.error is not NOT_DELIVERED and child.reaped is not None:
            await asyncio.shield(child.reaped)  # as with Bridge: the child is gone when the caller hears

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

    # -- the child

    async def _ready(self, loop: asyncio.AbstractEventLoop) -> _Child:
        """The child to send to, on this loop: spawned if need be, moved over from a finished loop."""
        while True:
            self._check_open()
            child = self._child
            if child is not None and child.ex.state is ChildState.READY and not child.gone:
                if child.loop is not loop:
                    self._move(child, loop)
                return child
            if child is not None and child.ex.state is ChildState.DRAINING:
                self._child = None  # answers what it holds; retired when idle
            spawning = self._spawning
            if spawning is not None and spawning.get_loop() is loop and not spawning.done():
                await asyncio.shield(spawning)
                continue
            self._spawning = loop.create_future()
            try:
                await self._spawn(loop)
            finally:
                self._spawning.set_result(None)
                self._spawning = None

    def _move(self, child: _Child, loop: asyncio.AbstractEventLoop) -> None:
        """Watch ``child`` from ``loop`` instead of the loop it was started on (which must be idle or closed)."""
        if not child.ex.idle and not child.loop.is_closed():
            raise BridgeError(
                f"{self!r} has calls in flight on another event loop; an AsyncBridge is used from one loop at a "
                "time (make one bridge per loop)"
            )
        if not child.loop.is_closed():
            self._unwatch(child)
        child.loop = loop
        self._watch(child)

    async def _spawn(self, loop: asyncio.AbstractEventLoop) -> None:
        proc = await asyncio.to_thread(self._start_process, loop.time())
        if self._closed:
            await asyncio.to_thread(proc.reap, None)
            raise BridgeClosed(f"{self!r} was closed while starting")
        child = _Child(proc, self._new_exchange(proc), loop)
        self._watch(child)
        self._children.add(child)
        self._child = child

    def _watch(self, child: _Child) -> None:
        loop = child.loop
        loop.add_reader(child.proc.stdout_fd, self._readable, child)
        if child.proc.pidfd >= 0:
            loop.add_reader(child.proc.pidfd, self._exited, child)
        if child.writing:
            loop.add_writer(child.proc.stdin_fd, self._send, child)

    def _unwatch(self, child: _Child) -> None:
        loop = child.loop
        if loop.is_closed():
            return
        loop.remove_reader(child.proc.stdout_fd)
        if child.proc.pidfd >= 0:
            loop.remove_reader(child.proc.pidfd)
        if child.writing:
            loop.remove_writer(child.proc.stdin_fd)
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
            child.timer_at = None

    # -- events

    def _send(self, child: _Child) -> None:
        """Write what the exchange has due, as far as the pipe takes it; wait for POLLOUT for the rest."""
        ex = child.ex
        ended: list[Call] = []
        out = ex.outgoing()
        while out:
            try:
                n = os.write(child.proc.stdin_fd, out[0]) if len(out) == 1 else os.writev(child.proc.stdin_fd, out)
                if n:
                    ex.wrote(n)
            except BlockingIOError:
                n = 0
            except OSError:  # the child's stdin is closed: undelivered calls may go to a fresh child
                ended = ex.broken_pipe()
                out = []
                break
            except BaseException:  # a signal handler's, as the write returned: see _quick
                self._after(child, ex.lost_place())
                raise
            if n < sum(map(len, out)):
                break
            out = ex.outgoing()
        if bool(out) != child.writing and not child.loop.is_closed():
            if out:
                child.loop.add_writer(child.proc.stdin_fd, self._send, child)
            else:
                child.loop.remove_writer(child.proc.stdin_fd)
            child.writing = bool(out)
        self._after(child, ended)

    def _flush(self, child: _Child) -> None:
        if child.flush_due:  # (the reader may have written already)
            child.flush_due = False
            if not child.gone:
                self._send(child)

    def _readable(self, child: _Child) -> None:
        """stdout is readable: read while reads come back full (a big answer: the pipe holds more), in
        reads of READ_CHUNK (a bigger one allocates from mmap per read), a bounded number per wake-up."""
        ended: list[Call] = []
        fd = child.proc.stdout_fd
        got = False
        for _ in range(_READS_PER_WAKE):
            try:
                data, size, full = read_out(fd, child.ex)
                if size:
                    if data is None:
                        ended += child.ex.received_into(size, child.loop.time())
                    else:
                        ended += child.ex.received(data, child.loop.time())
            except BlockingIOError:
                break
            except OSError:
                size = 0
            except BaseException:  # between a read and its hand-over: see _quick
                self._after(child, ended + child.ex.lost_place())
                raise
            if not size:
                if ended:
                    self._after(child, ended)
                self._exited(child)
                return
            got = True
            if not full:
                break
        if not got:
            return  # nothing there after all
        if child.ex.unsent and not child.writing and not child.flush_due:
            self._send(child)  # the answers made room for requests held back by max_pending (a long call_many)
        if ended and asyncio.current_task(child.loop) is None:
            self._after(child, [])
            self._wake(child, ended)
        else:
            self._after(child, ended)

    def _wake(self, child: _Child, calls: list[Call]) -> None:
        """Run the answered callers' next steps now, then write the requests they sent meanwhile at once.

        This is what makes many awaiters cheap: one read answers a batch, each caller
        resumes without a loop handle of its own, and their next requests leave in one
        write before the loop polls again.
        """
        child.waking = True
        try:
            for call in calls:
                waiter = call.waiter
                if waiter is None or waiter.state != _PENDING:
                    continue
                if waiter.more is not None:
                    waiter.set_result()
                    continue
                waiter.state = _DONE  # _Waiter.wake, inlined: once per answer
                callback = waiter.callback
                if callback is not None:
                    waiter.callback = None
                    try:
                        waiter.context.run(callback, waiter)
                    except Exception as exc:  # as a loop handle would: report, and go on with the others
                        child.loop.call_exception_handler({"message": "waking an AsyncBridge caller", "exception": exc})
        except BaseException:  # KeyboardInterrupt from a caller's step: the others still wake, from the loop
            self._resolve(calls)
            child.waking = False
            if child.flush_due:
                child.loop.call_soon(self._flush, child)
            raise
        child.waking = False
        if child.flush_due:
            self._flush(child)

    def _on_timer(self, child: _Child) -> None:
        child.timer = None
        child.timer_at = None
        self._after(child, child.ex.expire(child.loop.time()))
        if not child.gone:
            self._rearm(child)

    def _exited(self, child: _Child) -> None:
        """stdout closed or the pidfd fired: take what stdout still holds, then record the end off the loop."""
        if child.gone:
            return
        while True:
            try:
                data = os.read(child.proc.stdout_fd, READ_CHUNK)
            except (BlockingIOError, OSError):
                break
            if not data:
                break
            self._after(child, child.ex.received(data, child.loop.time()))
        child.gone = True
        self._unwatch(child)
        if self._child is child:
            self._child = None
        self._task(self._record_end(child))

    async def _record_end(self, child: _Child) -> None:
        proc = child.proc
        await asyncio.to_thread(proc.wait_exit, 0.2)
        tail = await asyncio.to_thread(proc.stderr_tail, 0.2 if proc.returncode is not None else 0.0)
        idle = child.ex.idle and child.ex.state is ChildState.READY
        self._resolve(child.ex.child_exited(proc.returncode, tail))
        if idle and not self._closed:
            reason = f"the child (pid {proc.pid}) {describe_exit(proc.returncode)} while idle"
            self._sup.child_lost(reason)
            log.warning("%s; the next call starts a new one.%s", reason, tail_note(tail))
        await asyncio.to_thread(proc.reap, _REAP_WAIT)
        self._children.discard(child)

    def _after(self, child: _Child, ended: list[Call]) -> None:
        """After an exchange step: retire the child if due, keep the deadline timer tidy, then wake the callers
        it finished (from the loop)."""
        self._settle(child)
        self._resolve(ended)

    def _settle(self, child: _Child) -> None:
        ex = child.ex
        state = ex.state
        if state is ChildState.BROKEN:
            if isinstance(ex.failure, ProtocolError) and not ex.failure_heard:
                self._unheard = ex.failure  # nobody was waiting: the next caller hears of it
            if not child.gone:
                child.gone = True
                self._unwatch(child)
                if self._child is child:
                    self._child = None
                child.proc.kill()
                child.reaped = self._task(self._reap(child))
            return
        if state is ChildState.DRAINING and ex.idle and not child.gone:
            child.gone = True
            self._unwatch(child)
            if self._child is child:
                self._child = None
            self._sup.plan_recycle()
            self._children.discard(child)
            retire(child.proc, self.spec.close_timeout, self.spec.terminate_timeout)
            return
        if not child.gone:
            self._rearm(child)

    def _resolve(self, calls: list[Call]) -> None:
        for call in calls:
            waiter = call.waiter
            if waiter is not None:
                waiter.set_result()

    def _rearm(self, child: _Child) -> None:
        """Keep one timer armed no later than the earliest deadline. A timer is not cancelled when its
        deadline goes away: it fires, finds nothing due, and re-arms for the next one (one timer per
        timeout period instead of two per call)."""
        when = child.ex.next_deadline()
        if when is None or (child.timer is not None and child.timer_at is not None and child.timer_at <= when):
            return
        if child.timer is not None:
            child.timer.cancel()
        child.timer_at = when
        child.timer = child.loop.call_at(when, self._on_timer, child)

    async def _reap(self, child: _Child) -> None:
        await asyncio.to_thread(child.proc.reap, _REAP_WAIT)
        self._children.discard(child)

    async def _stop(self, child: _Child) -> None:
        """``aclose``: EOF to the child, let it answer what it holds within ``close_timeout``, then shut it down."""
        proc = child.proc
        if not child.gone:
            await asyncio.to_thread(proc.remember_family)
            proc.close_stdin()
            await asyncio.to_thread(proc.wait_exit, self.spec.close_timeout)  # answers keep arriving meanwhile
            await asyncio.sleep(0)  # let the reader take the last bytes
            if not child.gone:
                self._exited(child)
        await asyncio.to_thread(proc.shutdown, 0.0, self.spec.terminate_timeout)
        self._children.discard(child)

    def _task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task
