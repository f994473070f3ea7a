"""``Bridge``: a synchronous, thread-safe request/response channel to one persistent child.

It only waits: one ``poll`` loop over the child's non-blocking stdout and stdin and
its pidfd, feeding the ``Exchange``, which decides whose answer each frame is.
Without request ids callers are serialised (one call, or one ``call_many`` batch,
in flight). With ``tagged=True`` calls from several threads are in flight together:
one of the waiting threads drives the pipes and hands each answer to its caller.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from threading import get_ident
from time import monotonic
from typing import Any

from .codecs import Codec
from .errors import BridgeError, CallTimeout, ProtocolError
from .exchange import (
    NO_ANSWER,
    NOT_DELIVERED,
    PARTIAL,
    Call,
    ChildState,
    Exchange,
    Frame,
    Packed,
    frame_size,
)
from .failures import tail_note
from .front import READ_CHUNK, Front, read_out
from .process import ChildProcess, describe_exit, retire
from .spec import check_call_timeout

__all__ = ["Bridge"]

log = logging.getLogger("stdiobridge")

_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITE = select.POLLOUT | select.POLLERR
_INF = float("inf")
_MAX_POLL_MS = 1 << 30  # poll() takes an int: longer waits are taken in several polls
_EXIT_GRACE = 0.2  # a child that closed stdout gets this long to exit (its status goes into the error)
_REAP_WAIT = 0.5  # after SIGKILL, wait this long for the exit before leaving it to a background thread


class _Child:
    """One incarnation: the process, its exchange, and a poller over stdout and the pidfd."""

    __slots__ = ("ex", "in_fd", "out_fd", "pidfd", "poll", "poller", "proc", "wake_fd", "writing")

    def __init__(self, proc: ChildProcess, ex: Exchange, wake_fd: int = -1) -> None:
        self.proc = proc
        self.ex = ex
        self.in_fd = proc.stdin_fd
        self.out_fd = proc.stdout_fd
        self.pidfd = proc.pidfd
        self.poller = select.poll()
        self.poller.register(proc.stdout_fd, _READ)
        if proc.pidfd >= 0:
            self.poller.register(proc.pidfd, select.POLLIN)
        self.wake_fd = wake_fd  # tagged: another caller's request is waiting to be written
        if wake_fd >= 0:
            self.poller.register(wake_fd, select.POLLIN)
        self.poll = self.poller.poll
        self.writing = False


class Bridge(Front):
    """Start ``command`` once and exchange messages with it over stdin/stdout; thread-safe.

    Options as for ``Front`` (``stdiobridge.front``), or one ``BridgeSpec``. After
    ``os.fork()`` a bridge in the new process never touches its parent's child: it
    starts its own on first use.
    """

    def _setup(self) -> None:
        wire = self._wire
        # Codec.encode_parts only where a codec has its own (the default would be one more call per message)
        self._encode: Callable[[Any], Frame] = (
            wire.encode if type(wire).encode_parts is Codec.encode_parts else wire.encode_parts
        )
        self._turn = threading.Lock()  # the right to drive the pipes (untagged: the only call in flight)
        self._owner = 0  # the thread holding ``_turn``: a signal handler in it must not wait for it
        self._state = _StateLock()  # tagged: guards the exchange; waiting callers sleep on it
        self._child: _Child | None = None
        self._wake_fd = -1  # tagged: wakes the thread driving the pipes when another caller's request waits
        if self._ids is not None:
            self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            weakref.finalize(self, os.close, self._wake_fd)  # once nobody can use it (a fork keeps sharing it)

    # -- public state

    @property
    def pid(self) -> int | None:
        """The current child's pid, or ``None`` when no child is running."""
        child = self._child
        return child.proc.pid if child is not None else None

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
        return child.ex.default_limit()

    # -- lifetime

    def start(self) -> Bridge:
        """Start the child now rather than on the first call. Returns the bridge."""
        self._take_turn(None, time.monotonic())
        try:
            self._ready()
        finally:
            self._give_turn()
        return self

    def __enter__(self) -> Bridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child gracefully (EOF, SIGTERM, SIGKILL; descendants too). Idempotent.

        Safe from any thread and from a signal handler. A call in progress is given
        ``close_timeout`` to finish; then the child is killed under it and the call
        fails with ``BridgeClosed``. Descriptors are only closed once no call uses them.
        """
        self._closed = True
        if self._owner == threading.get_ident():  # a signal handler interrupting this thread's own call
            child = self._child
            if child is not None:
                child.proc.kill()  # the interrupted call sees the death, fails, and reaps
            return
        if not self._turn.acquire(timeout=self.spec.close_timeout):
            child = self._child
            if child is not None:
                child.proc.kill()
            self._turn.acquire()
        try:
            child, self._child = self._child, None
            if child is not None:
                child.proc.shutdown(self.spec.close_timeout, self.spec.terminate_timeout)
        finally:
            self._turn.release()

    def __del__(self) -> None:
        if getattr(self, "_closed", True):
            return
        child = getattr(self, "_child", None)
        if child is not None:
            import warnings  # noqa: PLC0415  (only on this rare path)

            warnings.warn(
                f"{self!r} was never closed; killing its child (use `with Bridge(...)` or close())",
                ResourceWarning,
                stacklevel=2,
            )
            child.proc.kill()
        self._closed = True

    def _kill_at_exit(self) -> None:
        if not self._closed:
            self._closed = True
            child = self._child
            if child is not None:
                retire(child.proc, self.spec.close_timeout, self.spec.terminate_timeout)

    def _after_fork(self) -> None:
        self._turn = threading.Lock()
        self._owner = 0
        self._state = _StateLock()
        child, self._child = self._child, None
        if child is not None:
            child.proc.forget_after_fork()

    # -- calls

    def call(self, message: Any, timeout: float | None = None) -> Any:
        """Send one message and return the child's response to it.

        ``timeout``: seconds (``None``: the bridge's, ``math.inf``: no limit).
        Raises ``EncodeError`` (nothing sent), ``CallTimeout``, ``ChildExited``,
        ``ProtocolError``, ``SpawnError``, ``ConfigError`` (a bad timeout, before
        anything is sent) or ``BridgeClosed``.
        """
        if self._ids is not None:
            return self._call_tagged(message, timeout)
        frame = self._encode(message)
        limit = None if timeout is None else check_call_timeout(timeout)
        # The common case, flat (every step here is on the path of every call): an idle child, the request
        # written whole, its answer read right away. Anything else goes to ``_quick_rest`` or the exchange.
        turn = self._turn
        if turn.acquire(False):
            try:
                self._owner = get_ident()
                child = self._child
                # poll(0), the one syscall a hand-written loop does not make: nothing on stdout since the last
                # answer (a stale frame, a log line: read now, it would pass for this call's answer) and no exit.
                if child is not None and child.ex.quick and not self._closed and not child.poll(0):
                    try:  # from here on the request may be out: leaving early breaks the child (see except)
                        try:
                            if isinstance(frame, bytes):
                                n = os.write(child.in_fd, frame)
                                whole = n == len(frame)
                            else:  # a big payload behind its header (Codec.encode_parts): no copy to join them
                                n = os.writev(child.in_fd, frame)
                                whole = n == frame_size(frame)
                        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                            n = -1  # nothing written: the general path (and its not-delivered rule) takes it
                            whole = False
                        data = b""
                        message = NO_ANSWER
                        if whole:
                            # Read before waiting: the child has often answered by now (on one CPU it runs as
                            # soon as our write wakes it), and EAGAIN costs less than the poll it saves.
                            try:  # noqa: SIM105  (contextlib.suppress: two calls more on every call)
                                data = os.read(child.out_fd, READ_CHUNK)
                            except BlockingIOError:
                                pass
                            if data:
                                message = child.ex.quick_take(n, data)
                                if message is not NO_ANSWER and message is not PARTIAL:
                                    return message
                        if n >= 0:
                            message = self._quick_rest(child, frame, n, data, message, limit=limit, rid=0, lock=None)
                    except BaseException:
                        self._interrupted(child, 0)
                        raise
                    if n >= 0:
                        if type(message) is not Call:
                            return message
                        return self._finish_drive(child, message, read_first=True)[0]
            finally:
                self._owner = 0
                turn.release()
        return self._run([(0, frame)], limit, monotonic(), rolling=False)[0]

    def _quick_rest(
        self,
        child: _Child,
        frame: Frame,
        n: int,
        data: bytes,
        message: Any,
        *,
        limit: float | None,
        rid: int,
        lock: threading.Lock | None,
    ) -> Any:
        """The fast path wrote ``n`` bytes of ``frame`` (id ``rid``, 0 untagged) and read ``data`` (``b""``:
        nothing yet), which ``quick_take`` did not take as the answer (it said ``message``). An answer not
        there yet, or only begun, is read on in place: at once while reads come back full (the pipe holds
        more: a poll would only say so), else after waiting as a blocking read would (``_await_answer``);
        the rest of a big one straight into the decoder's buffer (``read_buffer``). Anything else registers
        the request as a ``Call`` for the general path: a partial write, a read that is not (only) the
        answer, the deadline, the child's end. Returns the answer, or that call."""
        ex = child.ex
        entered = monotonic()  # a wait here counts against the call's deadline
        counted = 0
        if n == frame_size(frame):
            fd = child.out_fd
            got = len(data)
            ready = got == READ_CHUNK  # a full read: the pipe likely holds more
            while message is PARTIAL or not got:
                if not ready:  # nothing more yet (or the end, which the poll shows at once)
                    if not counted:
                        ex.quick_waits(n)
                        counted = n
                    if not self._await_answer(child, limit, entered, lock):
                        break
                try:
                    read, got, ready = read_out(fd, ex)
                    if got:
                        if read is None:
                            message = ex.quick_fill(n - counted, got, rid)
                        else:
                            message = ex.quick_take(n - counted, read, rid)
                except BlockingIOError:
                    if not ready:  # still nothing after the wait: the general path sees why (the end, the deadline)
                        break
                    ready = False
                    continue
                except BaseException:  # between a read and its hand-over (a signal handler's exception): see
                    ex.lost_place()  # _call_tagged (``lock``, tagged, is held here)
                    raise
                if not got:  # the end of stdout
                    break
            if message is not NO_ANSWER and message is not PARTIAL:
                return message
        return ex.quick_register(frame, n, entered, limit, rid, counted=counted)

    @staticmethod
    def _await_answer(child: _Child, limit: float | None, entered: float, lock: threading.Lock | None) -> bool:
        """Wait for more of the fast path's answer as a blocking read would: one poll of stdout, the pidfd
        and, tagged, other callers' wake-up, until the deadline of a call that began waiting at
        ``entered`` (``lock``, tagged, released meanwhile: only the turn's holder reads stdout). False when
        the deadline has passed already (the general path then says so)."""
        budget = child.ex.default_limit() if limit is None else limit
        wait = None
        if budget is not None and budget != _INF:
            left = entered + budget - monotonic()
            if left <= 0:
                return False
            wait = min(left * 1000.0 + 1.0, _MAX_POLL_MS)
        if lock is None:
            child.poll(wait)
        else:
            lock.release()
            try:
                child.poll(wait)
            finally:
                lock.acquire()
        return True

    def _call_tagged(self, message: Any, timeout: float | None) -> Any:
        """A tagged call: the flat path when nobody else is using the child, else the shared one.

        No check for stray output first: with ids, a stray frame can never pass for an answer.
        """
        rid = self._ids.next_id()  # type: ignore[union-attr]
        frame = self._encode((rid, message))
        limit = None if timeout is None else check_call_timeout(timeout)
        turn = self._turn
        if turn.acquire(False):
            self._owner = get_ident()
            call: Call | None = None
            child: _Child | None = None
            lock = self._state.lock  # the plain lock: holding the turn, this thread refuses re-entry already
            unsure = False  # I/O the exchange has not taken in yet: leaving then loses the stream's place
            try:
                lock.acquire()
                try:
                    child = self._child
                    if child is not None and child.ex.quick and not self._closed:
                        try:  # from here on the request may be out: leaving early abandons its id (see except)
                            try:
                                unsure = True
                                if isinstance(frame, bytes):
                                    n = os.write(child.in_fd, frame)
                                    whole = n == len(frame)
                                else:  # a big payload behind its header (Codec.encode_parts), as in call
                                    n = os.writev(child.in_fd, frame)
                                    whole = n == frame_size(frame)
                            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                                n = -1  # nothing written: the general path (and its not-delivered rule) takes it
                                whole = False
                            unsure = n > 0 and not whole  # a frame begun: until quick_register takes it in
                            data = b""
                            message = NO_ANSWER
                            if whole:
                                unsure = True
                                try:  # noqa: SIM105  (as in call)
                                    data = os.read(child.out_fd, READ_CHUNK)
                                except BlockingIOError:
                                    pass
                                if data:
                                    message = child.ex.quick_take(n, data, rid)
                                    if message is not NO_ANSWER and message is not PARTIAL:
                                        return message
                                unsure = False
                            if n >= 0:
                                message = self._quick_rest(
                                    child, frame, n, data, message, limit=limit, rid=rid, lock=lock
                                )
                        except BaseException:
                            # Ids keep answers apart, not the bytes of one frame: a frame cut short, or bytes read
                            # and not taken in, would shift the stream. Then the child cannot be kept.
                            if unsure:
                                child.ex.lost_place()
                            self._interrupted(child, rid)
                            raise
                        if n >= 0:
                            if type(message) is not Call:
                                return message
                            call = message
                            _park(call)
                finally:
                    lock.release()
            finally:
                self._owner = 0
                turn.release()
                if child is not None and not child.ex.quick:
                    with self._state:  # others may have come while this call waited: wake one to drive
                        self._hand_over(child)
            if call is not None and child is not None:
                self._wait_tagged(child, call)
                return self._outcome(call)[0]
        return self._run([(rid, frame)], limit, monotonic(), rolling=False)[0]

    def _interrupted(self, child: _Child, rid: int) -> None:
        """An exception left the fast path (its request, id ``rid``, may be out): the exchange decides what
        that means for the child."""
        child.ex.quick_interrupted(rid)
        self._settle(child)

    def _finish_drive(self, child: _Child, call: Call, read_first: bool = False) -> list[Any]:
        """Wait for ``call`` (already submitted to ``child``) the usual way, holding the turn."""
        self._drive_settled(child, call, read_first)
        return self._outcome(call)  # delivered (a byte was written): never NOT_DELIVERED

    def _drive_settled(self, child: _Child, call: Call, read_first: bool = False) -> None:
        """Drive the pipes until ``call`` is done (holding the turn); any way out tells the exchange, and
        the child is retired afterwards if the exchange says so."""
        try:
            self._drive(child, call, None, read_first)
        except BaseException as exc:
            child.ex.abandon(call, exc)
            raise
        finally:
            self._settle(child)

    def call_many(self, messages: Iterable[Any], timeout: float | None = None) -> list[Any]:
        """Send many messages pipelined (up to ``max_pending`` in flight); responses in order.

        Every message is encoded before anything is sent. ``timeout`` bounds the
        wait for each next response. On failure the exception's ``results`` holds
        the responses received before it, in order.
        """
        limit = check_call_timeout(timeout)
        entered = time.monotonic()
        encoded, ids = self._encode_many(messages)
        if isinstance(encoded, Packed):  # small frames: one batch, no object per frame
            results = self._run([], limit, entered, rolling=True, batch=encoded, ids=ids)
        elif encoded:
            results = self._run(encoded, limit, entered, rolling=True)
        else:
            return []
        if self._ids is None:
            self._check_after_batch()
        return results

    def _check_after_batch(self) -> None:
        """Without ids, a batch's answers are only as good as the count: frames already waiting beyond it
        (a double answer, a log line) mean some were shifted, so raise rather than hand them out."""
        if not self._turn.acquire(blocking=False):
            return  # another caller has the pipes: its own check covers this
        self._owner = threading.get_ident()
        try:
            child = self._child
            if child is not None and child.ex.idle and child.poll(0):
                self._idle_event(child)
        finally:
            self._give_turn()

    # -- the machinery

    def _run(
        self,
        frames: Sequence[tuple[int, Frame]],
        limit: float | None,
        entered: float,
        rolling: bool,
        *,
        batch: Packed | None = None,
        ids: list[int] | None = None,
    ) -> list[Any]:
        """Submit ``frames`` (or the ``batch``, tagged with its ``ids``), wait for the call, and send it once
        more to a fresh child if the first one was gone before any of its bytes were written."""
        tagged = self._ids is not None
        for attempt in (1, 2):
            if tagged:
                call, child = self._submit_tagged(frames, limit, entered, rolling, batch=batch, ids=ids)
                self._wait_tagged(child, call)
            else:
                self._take_turn(limit, entered)
                try:
                    child = self._ready()
                    ex = child.ex
                    call = (
                        ex.submit(frames, now=entered, limit=limit, rolling=rolling)
                        if batch is None
                        else ex.submit_batch(batch, now=entered, limit=limit, rolling=rolling)
                    )
                    self._drive_settled(child, call)
                finally:
                    self._give_turn()
            if call.error is NOT_DELIVERED and attempt == 1:
                continue  # the child was gone before any byte was written: a fresh child may have it
            break
        return self._outcome(call)

    def _take_turn(self, limit: float | None, entered: float) -> None:
        """Wait for the right to drive the pipes; the wait counts against the call's deadline."""
        if self._turn.acquire(blocking=False):
            self._owner = threading.get_ident()
            return
        self._refuse_reentry()
        if limit is None:
            limit = self.next_call_timeout
        wait = -1.0 if limit is None or limit == float("inf") else entered + limit - time.monotonic()
        if wait != -1.0 and (wait <= 0 or not self._turn.acquire(timeout=wait)):
            raise CallTimeout(
                f"{self!r}: waited {limit} s for other calls on this bridge to finish; nothing was sent "
                "(calls are serialised without request ids: use tagged=True or a BridgePool for concurrency)"
            )
        if wait == -1.0:
            self._turn.acquire()
        self._owner = threading.get_ident()

    def _refuse_reentry(self) -> None:
        """This thread holds the pipes (a signal handler or a stderr callback interrupted its call): the
        call would wait for itself, so it fails at once."""
        if self._owner == get_ident():
            raise BridgeError(
                f"{self!r}: call() re-entered from a signal handler (or a stderr callback) during a call on "
                "the same bridge in the same thread; use another bridge there"
            )

    def _give_turn(self) -> None:
        self._owner = 0
        self._turn.release()

    def _ready(self) -> _Child:
        """The child to send to (started if need be), checked for a death or output while it was idle."""
        self._check_open()
        child = self._child
        if child is not None and child.ex.idle and child.poll(0):
            self._idle_event(child)  # stdout readable or the child exited while nobody was calling
            child = self._child
        if child is None:
            now = time.monotonic()
            proc = self._start_process(now)
            child = self._child = _Child(proc, self._new_exchange(proc))
        return child

    def _idle_event(self, child: _Child) -> None:
        """Between calls, stdout became readable or the pidfd fired: a death, or output nobody asked for."""
        ex = child.ex
        self._drain(child)
        if ex.state is ChildState.BROKEN:  # unsolicited output: the next caller hears of it, nothing is sent
            self._settle(child)
            failure = ex.failure
            assert failure is not None
            self._count(0, failure)
            raise failure
        if ex.state is ChildState.DEAD or child.proc.returncode is not None:
            self._settle(child)
            code = child.proc.returncode
            reason = f"the child (pid {child.proc.pid}) {describe_exit(code)} while idle"
            self._sup.child_lost(reason)
            log.warning("%s; starting a new one.%s", reason, tail_note(child.proc.stderr_tail()))

    def _drain(self, child: _Child) -> None:
        """Read what stdout holds now (non-blocking) into the exchange; EOF means the child is gone."""
        while True:
            try:
                data = os.read(child.out_fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._gone(child)
                return
            child.ex.received(data, time.monotonic())
        if child.pidfd >= 0 and child.proc.returncode is not None:
            self._gone(child)

    def _gone(self, child: _Child) -> None:
        """The child exited or closed stdout: give it a moment for its exit status, then fail what waited."""
        ex = child.ex
        if ex.state is ChildState.DEAD:
            return
        proc = child.proc
        grace = 0.0
        if not ex.idle:  # someone waits: its error says how the child ended (within its deadline)
            deadline = ex.next_deadline()
            grace = _EXIT_GRACE if deadline is None else max(0.0, min(_EXIT_GRACE, deadline - time.monotonic()))
            proc.wait_exit(grace)
        ended = proc.returncode is not None  # then its last stderr lines are on their way: wait for them a little
        ex.child_exited(proc.returncode, proc.stderr_tail(grace if ended else 0.0))

    def _drive(self, child: _Child, call: Call, lock: _StateLock | None, read_first: bool = False) -> None:
        """Write and read until ``call`` is done. ``lock``: held around every exchange step (tagged).
        ``read_first``: stdout probably holds more already (a read just came back full): read before polling."""
        ex = child.ex
        in_fd, out_fd, pidfd = child.in_fd, child.out_fd, child.pidfd
        poll = child.poll
        monotonic_ = monotonic
        while not call.done:
            # 1. write what is due, without blocking
            if lock is not None:
                lock.acquire()
            try:
                out = ex.outgoing()
                if out:
                    try:
                        n = os.write(in_fd, out[0]) if len(out) == 1 else os.writev(in_fd, out)
                        if n:
                            ex.wrote(n)
                    except BlockingIOError:
                        n = 0
                    except (BrokenPipeError, ConnectionResetError):
                        ex.broken_pipe()  # (held: ``lock``, when tagged)
                        if call.done:
                            return
                        n = 0  # the death shows on the pidfd or stdout
                        out = []
                    except BaseException:  # a signal handler's, as the write returned: what went out is not known,
                        ex.lost_place()  # and a frame cut short would splice the next one (``lock`` held, tagged)
                        raise
                    if n and n == (len(out[0]) if len(out) == 1 else sum(map(len, out))):
                        out = ex.outgoing()  # all taken: there may be more to write
                        if out:
                            continue
                        # All is out. Read before waiting: the child has often answered by now (on one
                        # CPU it runs as soon as it is woken), which saves the poll; else EAGAIN, then poll.
                        read_first = True
                    # else nothing, or the pipe is full: a retry would fail, so wait for POLLOUT below
                want_write = bool(out)
                deadline = ex.next_deadline()
            finally:
                if lock is not None:
                    lock.release()
            if read_first:
                read_first = False
                got = self._read_out(child, call, lock)
                if got < 0:
                    break
                if got:
                    continue
            if want_write != child.writing:
                if want_write:
                    child.poller.register(in_fd, _WRITE)
                else:
                    child.poller.unregister(in_fd)
                child.writing = want_write
            # 2. wait for the child (or the earliest deadline)
            if deadline is None:
                events = poll()
            else:
                wait = deadline - monotonic_()
                events = [] if wait <= 0 else poll(min(wait * 1000.0 + 1.0, _MAX_POLL_MS))
            if not events:
                if deadline is not None and monotonic_() >= deadline:
                    self._step(lock, lambda: ex.expire(monotonic_()))
                continue
            for fd, _event in events:
                if fd == out_fd:
                    if self._read_out(child, call, lock) < 0:
                        break
                elif fd == pidfd:
                    self._step(lock, lambda: self._ended(child))
                    break
                elif fd == child.wake_fd:  # a request joined: written at the top of the loop
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(fd)
        if child.writing:  # else the fast path's poll(0) would see stdin writable and leave it to this path
            child.writing = False
            child.poller.unregister(in_fd)

    def _read_out(self, child: _Child, call: Call, lock: _StateLock | None) -> int:
        """Read stdout into the exchange: 1 if anything came, 0 for nothing yet, -1 at its end (handled).

        Reads of ``READ_CHUNK`` bytes, repeated at once while they come back full (a big answer: the pipe
        holds more, and a poll between them would only say so) until ``call`` is done. Bigger reads
        would cost more: Python allocates a fresh buffer per read, from mmap beyond 128 KiB. The rest
        of a big answer whose size the decoder knows is read straight into its buffer instead."""
        ex = child.ex
        out_fd = child.out_fd
        got = 0
        while True:
            try:
                data, size, full = read_out(out_fd, ex)
            except BlockingIOError:
                return got
            except OSError:
                size = 0
            except BaseException:  # a signal handler's exception as the read returned: its bytes may be lost,
                self._step(lock, ex.lost_place)  # and with them the stream's place, ids or not
                raise
            if not size:
                self._step(lock, lambda: self._gone(child))
                return -1
            try:
                if data is None:
                    if lock is None:
                        ex.received_into(size, monotonic())
                    else:
                        with lock:
                            ex.received_into(size, monotonic())
                elif lock is None:
                    ex.received(data, monotonic())
                else:
                    with lock:
                        ex.received(data, monotonic())
            except BaseException:  # (likewise, before or while the exchange took them)
                self._step(lock, ex.lost_place)
                raise
            if not full or call.done:
                return 1
            got = 1

    def _ended(self, child: _Child) -> None:
        """The pidfd fired: take what stdout still holds (answers written before the exit), then the end."""
        self._drain(child)
        self._gone(child)

    @staticmethod
    def _step(lock: _StateLock | None, step: Callable[[], object]) -> None:
        """Run one exchange step, holding ``lock`` if tagged (the calls it ends wake their callers)."""
        if lock is None:
            step()
            return
        with lock:
            step()

    def _settle(self, child: _Child) -> None:
        """After a call: retire the child if its exchange says so (broken, dead, or drained after max_calls)."""
        ex = child.ex
        state = ex.state
        if state is ChildState.READY or (state is ChildState.DRAINING and not ex.idle):
            return
        if self._child is child:
            self._child = None
        if state is ChildState.DRAINING:
            self._sup.plan_recycle()
            retire(child.proc, self.spec.close_timeout, self.spec.terminate_timeout)  # never blocks the caller
        else:
            if ex.failure is not None:
                self._sup.child_lost(str(ex.failure).split("\n", 1)[0])
                if not ex.failure_heard and isinstance(ex.failure, ProtocolError):  # a double answer, say
                    self._unheard = ex.failure
            child.proc.reap(_REAP_WAIT)

    # -- tagged: several threads, one driver at a time

    def _submit_tagged(
        self,
        frames: Sequence[tuple[int, Frame]],
        limit: float | None,
        entered: float,
        rolling: bool,
        *,
        batch: Packed | None = None,
        ids: list[int] | None = None,
    ) -> tuple[Call, _Child]:
        self._refuse_reentry()
        with self._state:
            child = self._child
            if child is None or child.ex.state is not ChildState.READY:
                if child is not None and child.ex.idle:
                    self._settle(child)
                child = self._ready_tagged()
            ex = child.ex
            call = (
                ex.submit(frames, now=entered, limit=limit, rolling=rolling)
                if batch is None
                else ex.submit_batch(batch, now=entered, limit=limit, rolling=rolling, ids=ids)
            )
            _park(call)
            if self._owner:  # someone drives the pipes: write this request now, not at their next wake-up
                self._push(child)
            return call, child

    def _ready_tagged(self) -> _Child:
        self._check_open()
        if self._child is not None:
            return self._child  # draining or broken with calls still on it: wait for them below
        now = time.monotonic()
        proc = self._start_process(now)
        child = self._child = _Child(proc, self._new_exchange(proc), self._wake_fd)
        return child

    def _push(self, child: _Child) -> None:
        """Tagged, holding the state: write what is due now rather than when the driver next wakes (it
        waits for answers, not for other callers); what the pipe does not take, the driver is woken for."""
        ex = child.ex
        out = ex.outgoing()
        if not out:
            return
        try:
            n = os.write(child.in_fd, out[0]) if len(out) == 1 else os.writev(child.in_fd, out)
            if n:
                ex.wrote(n)
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            ex.broken_pipe()  # undelivered calls end NOT_DELIVERED (sent again once); the rest see the death
        except BaseException:  # as the write returned: see _drive
            ex.lost_place()
            raise
        if ex.outgoing() and self._owner:
            with contextlib.suppress(BlockingIOError):
                os.eventfd_write(child.wake_fd, 1)

    @staticmethod
    def _hand_over(child: _Child) -> None:
        """Holding the state, the pipes just freed: wake one waiting caller, to drive them."""
        for other in child.ex.live_calls():
            if other.notify is not None:
                other.notify()
                break

    def _wait_tagged(self, child: _Child, call: Call) -> None:
        """Wait for ``call``: drive the pipes when nobody else does, else sleep until woken."""
        state = self._state
        parked = call.waiter
        try:
            while not call.done:
                if self._turn.acquire(blocking=False):
                    self._owner = threading.get_ident()
                    try:
                        self._drive(child, call, state)
                    finally:
                        self._give_turn()
                        with state:  # another waiting caller takes over driving
                            self._hand_over(child)
                    break
                # Park until this call is done, or a leaving driver hands the pipes over, or its deadline.
                deadline = call.deadline
                wait = -1.0 if deadline is None else deadline - time.monotonic()
                if (wait < 0 and deadline is not None) or not parked.acquire(timeout=wait):
                    with state:
                        if not call.done:
                            child.ex.expire(time.monotonic())
        except BaseException as exc:
            with state:
                child.ex.abandon(call, exc)
            raise
        finally:
            with state:
                if not self._owner and not child.ex.idle:  # leaving without driving: someone must drive
                    self._hand_over(child)
                if (
                    child.ex.state is not ChildState.READY
                    and (child.ex.idle or child.ex.state in (ChildState.BROKEN, ChildState.DEAD))
                    and self._turn.acquire(blocking=False)
                ):  # nobody is using its descriptors
                    try:
                        self._settle(child)
                    finally:
                        self._turn.release()


def _park(call: Call) -> None:
    """Give a tagged call its own parking lock: released when the call is done (or to hand it the pipes)."""
    lock = threading.Lock()
    lock.acquire()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # already released: one wake is enough
            lock.release()

    call.waiter = lock
    call.notify = wake


class _StateLock:
    """A lock whose holder is known, so that a signal handler in the holding thread fails at once
    (``BridgeError``) instead of deadlocking on it. Waiting callers sleep on their own call's lock
    (``_park``), not on this one. The thread holding the turn may take ``lock`` itself: for it,
    ``_refuse_reentry`` (the turn's owner) already turns a re-entry away."""

    __slots__ = ("_holder", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._holder = 0

    def __enter__(self) -> _StateLock:
        self.acquire_as(threading.get_ident())
        return self

    def acquire_as(self, me: int) -> None:
        """Acquire, as thread ``me`` (the caller's ident)."""
        if self._holder == me:
            raise BridgeError("a bridge call was re-entered from a signal handler while it held the bridge's state")
        self.lock.acquire()
        self._holder = me

    def __exit__(self, *exc: object) -> None:
        self._holder = 0
        self.lock.release()

    def acquire(self) -> None:
        self.acquire_as(get_ident())

    def release(self) -> None:
        self._holder = 0
        self.lock.release()
