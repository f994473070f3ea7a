"""The exchange: which answer belongs to which caller, for one incarnation of a child. No I/O.

This is the one place where the pairing rules live (h11's ``Connection`` is the
model). A front end (``Bridge``, ``AsyncBridge``) only waits: it asks
``outgoing()`` what to write and reports ``wrote(n)``, hands every byte read to
``received(data, now)``, reports the child's death with ``child_exited``, asks
``next_deadline()`` and calls ``expire(now)`` when it passes, and tells the
exchange with ``abandon(call)`` whenever a caller leaves a call early, for *any*
reason (an exception of ours, KeyboardInterrupt, a signal handler's exception, a
cancelled task). The exchange answers with the ``Call`` objects it completed and
with its ``state``: once ``BROKEN`` or ``DEAD`` the front retires the child.

Pairing: without request ids the n-th frame answers the n-th request written, so
any doubt (a call left after its first byte was written, a timeout, a frame
nobody asked for) breaks the child. With ids (``tagged``) frames are matched by
id in any order; a call that gives up abandons its ids, their late answers are
dropped and counted, and the child is kept.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import enum
import heapq
import itertools
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from .codecs import Codec, Decoder
from .errors import BridgeError, ChildExited, ProtocolError, excerpt_of
from .failures import (
    abandoned_error,
    exit_error,
    extra_output_error,
    label,
    stopped,
    timeout_error,
    unknown_id_error,
    unsolicited_output_error,
)

__all__ = [
    "NO_ANSWER",
    "NOT_DELIVERED",
    "PARTIAL",
    "Call",
    "ChildInfo",
    "ChildState",
    "Counters",
    "Exchange",
    "Frame",
    "Packed",
    "RequestIds",
    "frame_size",
    "pack_frames",
]

_PARTIAL_KEPT = 256  # first bytes of an incomplete answer, kept for error messages
_WRITE_BATCH = 1 << 18  # small frames are handed to the writer together, up to this many bytes
_MAX_ID = 0xFFFFFFFF
_INF = float("inf")


class ChildInfo(Protocol):
    """What the exchange needs to know of the process to word its errors."""

    argv: list[str]
    pid: int

    def stderr_tail(self, wait: float = 0.0) -> str: ...


class Counters(Protocol):
    """Where the exchange adds up bytes, late answers and the fast path's calls (the supervisor: they
    outlive one child)."""

    calls: int
    bytes_sent: int
    bytes_received: int
    late: int


class _OwnCounters:
    def __init__(self) -> None:
        self.calls = self.bytes_sent = self.bytes_received = self.late = 0


class ChildState(enum.Enum):
    """Where one child is in its life, as far as the exchange is concerned."""

    READY = "ready"  # takes requests
    DRAINING = "draining"  # max_calls reached: answers what it holds, takes no more
    BROKEN = "broken"  # pairing can no longer be trusted: retire it (kill)
    DEAD = "dead"  # exited, or closed its stdout


_KNUTH = 2654435761  # odd: multiplying by it is a bijection mod 2**32
_MASKS = itertools.repeat(_MAX_ID)  # (shared: it holds no state)


class RequestIds:
    """Request ids 1 ... 2**32-1 that look random (a bijection of a counter), so a stray
    line such as ``3 items done`` is very unlikely to carry an id in flight."""

    __slots__ = ("_count", "next_id")

    def __init__(self, start: int = 1) -> None:
        self._count = itertools.count(start)
        # Knuth's multiplicative hash, a bijection mod 2**32, for each count; 0 (every 2**32 ids) is not an id.
        # Built of C iterators: ``next_id()`` runs no Python code (it is called once per tagged call).
        ids = filter(None, map(operator.and_, map(operator.mul, self._count, itertools.repeat(_KNUTH)), _MASKS))
        self.next_id: Callable[[], int] = ids.__next__

    def __next__(self) -> int:
        return self.next_id()

    def __iter__(self) -> Iterator[int]:
        return self

    def take(self, n: int) -> list[int]:
        """The next ``n`` ids at once (a batch's), without a call per id."""
        ids = [(c * _KNUTH) & _MAX_ID for c in itertools.islice(self._count, n)]
        return ids if 0 not in ids else [i or self.next_id() for i in ids]


#: One encoded frame: its bytes, or (``Codec.encode_parts``) pieces to write back to back.
Frame = bytes | tuple[bytes, ...]


def frame_size(frame: Frame) -> int:
    """The length of ``frame`` on the wire."""
    return len(frame) if isinstance(frame, bytes) else sum(map(len, frame))


def _rest(frame: Frame, written: int) -> list[bytes | memoryview]:
    """What is left of ``frame`` after its first ``written`` bytes, as buffers for ``writev``."""
    if isinstance(frame, bytes):
        return [memoryview(frame)[written:]]
    out: list[bytes | memoryview] = []
    for part in frame:
        if written >= len(part):
            written -= len(part)
            continue
        out.append(memoryview(part)[written:] if written else part)
        written = 0
    return out


class _Request:
    __slots__ = ("call", "frame", "id", "index", "size", "whole", "written")

    def __init__(self, call: Call, index: int, rid: int, frame: Frame) -> None:
        self.call = call
        self.index = index
        self.id = rid
        self.frame = frame
        self.size = len(frame) if isinstance(frame, bytes) else frame_size(frame)
        self.written = 0  # bytes of ``frame`` written so far: > 0 means delivered (the child may have it)
        self.whole = False  # every byte written


class Packed(NamedTuple):
    """Frames back to back in one bytes object, and where each of them ends in it (``pack_frames``)."""

    blob: bytes
    ends: list[int]

    @classmethod
    def of(cls, frames: Sequence[bytes]) -> Packed:
        return cls(b"".join(frames), list(itertools.accumulate(map(len, frames))))


class _Batch(_Request):
    """``call_many`` of small frames: one request whose frames go out back to back from one bytes
    object. Untagged, its answers are paired by count, in bulk; tagged, by ``index_of`` its ids
    (no object per frame either way)."""

    __slots__ = ("answered", "blob", "count", "ends", "full", "ids", "index_of")

    def __init__(self, call: Call, packed: Packed, ids: list[int] | None = None) -> None:
        self.blob = packed.blob
        super().__init__(call, 0, 0, self.blob)
        self.ends = packed.ends  # where each frame ends in ``frame``
        self.count = len(packed.ends)
        self.answered = 0  # untagged: frames answered so far (in order)
        self.full = 0  # how many of its frames are written whole (kept by Exchange.wrote)
        self.ids = ids
        self.index_of = dict(zip(ids, range(len(ids)), strict=True)) if ids is not None else None

    def cut(self) -> None:
        """Its caller left (tagged): the frames not begun are not sent; a begun one is finished."""
        keep = self.started(self.written)
        self.count = keep
        self.full = min(self.full, keep)
        self.ends = self.ends[:keep]
        self.size = self.ends[-1] if keep else 0
        self.blob = self.frame = self.blob[: self.size]

    def started(self, written: int) -> int:
        """How many of its frames have a byte among the first ``written``."""
        return min(self.count, bisect.bisect_left(self.ends, written) + 1) if written else 0


_MISSING: Any = object()


#: ``Exchange.quick_take``'s "what was read is not (only) the answer": register the call.
NO_ANSWER: Any = object()
#: ``Exchange.quick_take``'s "what was read only begins the answer": read on, or register the call.
PARTIAL: Any = object()

#: How a call ends when the child's stdin was already closed before any of its bytes were written.
NOT_DELIVERED = ChildExited(
    "the child closed its stdin (or died) before this request was written; nothing was sent, and a fresh "
    "child refused it too"
)


class Call:
    """One caller's wait: its requests, their answers in order, one deadline, the outcome.

    ``waiter`` belongs to the front end (a future, an event). ``rolling``: the
    deadline restarts whenever one of the call's answers arrives (``call_many``:
    the timeout bounds the wait for each next response).
    """

    __slots__ = (
        "deadline",
        "done",
        "error",
        "limit",
        "notify",
        "pending",
        "requests",
        "results",
        "rolling",
        "waiter",
    )

    def __init__(self, size: int, limit: float | None, deadline: float | None, rolling: bool) -> None:
        self.requests: list[_Request] = []
        self.results: list[Any] = [_MISSING] * size
        self.pending = size
        self.limit = limit
        self.deadline = deadline
        self.rolling = rolling
        self.done = size == 0
        self.error: BaseException | None = None
        self.waiter: Any = None
        self.notify: Callable[[], object] | None = None  # the front's: called once the call is done

    @property
    def delivered(self) -> bool:
        """True once any byte of any of its requests was written (the child may have seen it)."""
        return any(r.written for r in self.requests)

    def release(self) -> None:
        """The caller took its answers and is gone: drop its requests. Each points back at its call, so a
        finished call would otherwise be a reference cycle that only the garbage collector frees (at many
        calls a second, its passes cost more than the calls)."""
        self.requests.clear()

    def answers_so_far(self) -> list[Any]:
        """The answers in order up to the first one missing (what ``err.results`` carries)."""
        out = []
        for value in self.results:
            if value is _MISSING:
                break
            out.append(value)
        return out

    def outcome(self) -> Any:
        """The answers (``call_many``) or raise the call's error, with ``results`` set."""
        if self.error is not None:
            if isinstance(self.error, BridgeError):
                self.error.results = self.answers_so_far()
            raise self.error
        return self.results

    def answered(self, now: float) -> bool:
        """Answers of it came (``pending`` counts those still due): True once all have, and it is done;
        else a rolling deadline starts again (``next_deadline`` re-files it)."""
        if not self.pending:
            self._finish()
            return True
        if self.rolling and self.limit is not None:
            self.deadline = now + self.limit
        return False

    def _fail(self, error: BaseException) -> bool:
        if self.done:
            return False
        self.error = error
        self._finish()
        return True

    def _finish(self) -> None:
        self.done = True
        if self.notify is not None:
            self.notify()


class Exchange:
    """Requests and answers of one child incarnation, paired by order or (``tagged``) by id.

    ``codec`` is the codec whose messages go on the wire: for a tagged exchange
    that is ``codec.tagged()``, whose messages are ``(id, message)`` pairs.
    ``limit`` is the default timeout of a call that gives none, and
    ``startup_limit`` the one of a call to a child that has not answered yet.
    """

    def __init__(
        self,
        codec: Codec[Any],
        child: ChildInfo,
        *,
        tagged: bool = False,
        max_pending: int = 1024,
        max_calls: int | None = None,
        limit: float | None = None,
        startup_limit: float | None = None,
        stats: Counters | None = None,
    ) -> None:
        self.codec = codec
        self.stats: Counters = stats if stats is not None else _OwnCounters()
        self.child = child
        self.tagged = tagged
        self.max_pending = max_pending
        self.max_calls = max_calls
        self._limit = limit
        self._startup_limit = startup_limit
        self._decoder = codec.decoder()
        self.lends = type(self._decoder).get_buffer is not Decoder.get_buffer  # may read into it: read_buffer
        self.state = ChildState.READY
        self.failure: BridgeError | None = None  # why the child is BROKEN
        self.failure_heard = False  # whether a call got it (else the front tells the next caller)
        # True when a one-request call may take the fast path (``quick_take``): READY, idle, answered once
        # (``startup_limit`` is behind it), no max_calls to count against. An attribute, not a property (it is
        # read on every call): cleared whenever a request is registered or the child leaves READY, set again
        # by _recheck when calls end.
        self.quick = False
        self._feed = self._decoder.feed
        self._taken: tuple[bytes, list[Any], ProtocolError | None] | None = None  # quick_take's unused read
        self.fresh = True  # no answer yet: ``startup_limit`` applies
        self.accepted = 0  # requests accepted (for max_calls)
        self.partial = bytearray()
        self._unsent: collections.deque[_Request] = collections.deque()  # not fully written, in order
        self._fifo: collections.deque[_Request] = collections.deque()  # untagged: delivered, unanswered
        self._started = 0  # frames with a byte written and no answer yet (the window; untagged: what may be answered)
        self._by_id: dict[int, _Request] = {}  # tagged: delivered or queued, unanswered
        self._abandoned: set[int] = set()  # tagged: ids whose caller left; their answers are dropped
        # Deadlines: those that come in order (the usual case: one limit, calls made one after another) wait in
        # a queue, O(1) both ways; any other in a heap. Entries of finished calls are dropped when they surface.
        self._in_order: collections.deque[tuple[float, int, Call]] = collections.deque()
        self._timers: list[tuple[float, int, Call]] = []
        self._seq = itertools.count()

    # -- what a front end asks

    @property
    def usable(self) -> bool:
        return self.state is ChildState.READY

    @property
    def in_flight(self) -> int:
        """Requests the child holds or will be sent, unanswered (abandoned tagged ones included)."""
        if self.tagged:
            return len(self._by_id) + len(self._abandoned)
        waiting = sum(r.count if type(r) is _Batch else 1 for r in self._unsent if not r.written)
        return (
            self._started
            + waiting
            + sum(  # and the frames of a batch not begun yet
                r.count - r.started(r.written) for r in self._fifo if type(r) is _Batch
            )
        )

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing left to write: stdout must stay silent."""
        return not self._unsent and not self._fifo and not self._by_id and not self._abandoned

    @property
    def unsent(self) -> bool:
        """Requests are left to write, perhaps only once answers make room for them (``max_pending``)."""
        return bool(self._unsent)

    def default_limit(self) -> float | None:
        """The timeout of a call that gives none: ``startup_limit`` until the child first answers."""
        if self.fresh and self._startup_limit is not None:
            return self._startup_limit
        return self._limit

    def next_deadline(self) -> float | None:
        """The earliest deadline of a call still waiting, or ``None``."""
        in_order = self._in_order
        while in_order:
            when, _, call = in_order[0]
            if call.done:
                in_order.popleft()  # stale: finished
            elif call.deadline is not None and call.deadline != when:  # a rolling deadline moved on:
                in_order.popleft()  # re-filed once, here, not per answer
                heapq.heappush(self._timers, (call.deadline, next(self._seq), call))
            else:
                break
        timers = self._timers
        while timers:
            when, seq, call = timers[0]
            if call.done:
                heapq.heappop(timers)  # stale: finished
            elif call.deadline is not None and call.deadline != when:  # a rolling deadline moved on:
                heapq.heapreplace(timers, (call.deadline, seq, call))  # re-filed once, here, not per answer
            else:
                break
        if not in_order:
            return timers[0][0] if timers else None
        return in_order[0][0] if not timers or in_order[0][0] <= timers[0][0] else timers[0][0]

    def _pop_earliest(self) -> Call:
        """Take the call whose deadline ``next_deadline`` just gave."""
        in_order, timers = self._in_order, self._timers
        if in_order and (not timers or in_order[0][0] <= timers[0][0]):
            return in_order.popleft()[2]
        return heapq.heappop(timers)[2]

    # -- sending

    def submit(
        self,
        frames: Sequence[tuple[int, Frame]],
        *,
        now: float,
        limit: float | None = None,
        rolling: bool = False,
    ) -> Call:
        """Register a call of already encoded ``(id, frame)`` requests (the id is 0 untagged).

        ``limit`` ``None`` means the default (see ``default_limit``); the front passes
        ``float('inf')`` for a call with no limit at all.
        """
        call = self._new_call(len(frames), now, limit, rolling)
        requests = call.requests
        unsent = self._unsent
        by_id = self._by_id if self.tagged else None
        for index, (rid, frame) in enumerate(frames):
            request = _Request(call, index, rid, frame)
            requests.append(request)
            if by_id is not None:
                if rid in by_id or rid in self._abandoned:  # after 2**32 ids, with one still held
                    raise AssertionError(f"request id {rid} is still in flight")
                by_id[rid] = request
            unsent.append(request)
        self._accepted(call, len(frames))
        return call

    def submit_one(self, rid: int, frame: bytes, now: float, limit: float | None) -> Call:
        """``submit([(rid, frame)], now=now, limit=limit)`` without the loop and the packing (a third
        cheaper: it runs once per awaiter when many share an ``AsyncBridge``)."""
        call = self._new_call(1, now, limit, False)
        request = _Request(call, 0, rid, frame)
        call.requests.append(request)
        if self.tagged:
            if rid in self._by_id or rid in self._abandoned:  # after 2**32 ids, with one still held
                raise AssertionError(f"request id {rid} is still in flight")
            self._by_id[rid] = request
        self._unsent.append(request)
        self._accepted(call, 1)
        return call

    def submit_batch(
        self,
        packed: Packed,
        *,
        now: float,
        limit: float | None = None,
        rolling: bool = False,
        ids: list[int] | None = None,
    ) -> Call:
        """``submit`` of many frames (tagged: with their ``ids``) as one ``_Batch``, written back to back
        from one bytes object: ``call_many``'s per-frame bookkeeping, gone."""
        count = len(packed.ends)
        if (ids is not None) != self.tagged or (ids is not None and len(ids) != count):
            raise AssertionError("a tagged batch has one id per frame, an untagged one none")
        call = self._new_call(count, now, limit, rolling)
        if count:
            batch = _Batch(call, packed, ids)
            if ids is not None:
                if not self._by_id.keys().isdisjoint(ids) or not self._abandoned.isdisjoint(ids):
                    raise AssertionError("a request id of the batch is still in flight")  # after 2**32 ids
                self._by_id.update(dict.fromkeys(ids, batch))
            call.requests.append(batch)
            self._unsent.append(batch)
        self._accepted(call, count)
        return call

    def _new_call(self, size: int, now: float, limit: float | None, rolling: bool) -> Call:
        if self.state is not ChildState.READY:
            raise AssertionError(f"submit to a child in state {self.state.name}")  # the front checks usable
        if limit is None:
            limit = self._startup_limit if self.fresh and self._startup_limit is not None else self._limit
        elif limit == _INF:
            limit = None
        return Call(size, limit, None if limit is None else now + limit, rolling)

    def _accepted(self, call: Call, count: int) -> None:
        self.quick = False
        self.accepted += count
        if self.max_calls is not None and self.accepted >= self.max_calls:
            self.state = ChildState.DRAINING
        deadline = call.deadline
        if deadline is not None:
            in_order = self._in_order
            if not in_order or in_order[-1][0] <= deadline:
                in_order.append((deadline, 0, call))
            else:
                heapq.heappush(self._timers, (deadline, next(self._seq), call))

    def outgoing(self) -> list[bytes | memoryview]:
        """What to write next (several small frames, or the rest of a large one); empty when nothing is due.

        Frames beyond ``max_pending`` requests in flight wait until answers come.
        """
        if not self._unsent or self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return []
        first = self._unsent[0]
        room = self.max_pending - self._started  # frames begun and not answered (abandoned ones too)
        if type(first) is _Batch:  # up to the window's last frame (a begun frame is in it already)
            written = first.written
            last = min(first.count, first.started(written) + max(room, 0))  # frames that may be out
            end = min(first.ends[last - 1] if last else 0, written + _WRITE_BATCH)
            return [memoryview(first.blob)[written:end]] if end > written else []
        if first.written:
            return _rest(first.frame, first.written)
        out: list[bytes | memoryview] = []
        size = 0
        for request in self._unsent:
            if room <= 0 or size >= _WRITE_BATCH or type(request) is _Batch:
                break
            frame = request.frame
            if isinstance(frame, bytes):
                out.append(frame)
            else:
                out.extend(frame)
            size += request.size
            room -= 1
        return out

    def wrote(self, n: int) -> None:
        """``n`` bytes of ``outgoing()`` reached the pipe."""
        self.stats.bytes_sent += n
        unsent = self._unsent
        delivered = None if self.tagged else self._fifo.append  # untagged: the order answers will come in
        while n and unsent:
            request = unsent[0]
            if type(request) is _Batch:
                n = self._wrote_batch(request, n)
                continue
            size = request.size
            if not request.written:
                if delivered is not None:
                    delivered(request)
                self._started += 1
            if n < size - request.written:
                request.written += n
                return
            n -= size - request.written
            request.written = size
            request.whole = True
            request.frame = b""  # written: the bytes are not needed any more
            unsent.popleft()
        if not unsent:  # the last of an abandoned call's frame may have been all that was left: idle again?
            self._recheck()

    def _wrote_batch(self, batch: _Batch, n: int) -> int:
        """``n`` bytes reached the pipe, from ``batch`` on; returns how many of them belong to what follows it."""
        before = batch.written
        if not before and not self.tagged:
            self._fifo.append(batch)
        after = min(batch.size, before + n)
        self._started += batch.started(after) - batch.started(before)
        batch.written = after
        batch.full = bisect.bisect_right(batch.ends, after)
        if after == batch.size:
            batch.whole = True
            batch.frame = batch.blob = b""
            self._unsent.popleft()
        return n - (after - before)

    def broken_pipe(self) -> list[Call]:
        """The child's stdin is closed. A call none of whose bytes were written never reached the child:
        it ends with ``NOT_DELIVERED`` (its caller may send it to a fresh child, once). The child is
        broken; calls it may have received fail when its death is seen. Returns the calls ended."""
        undelivered: list[Call] = []
        for request in list(self._unsent):
            call = request.call
            if not call.done and not call.delivered and call not in undelivered:
                undelivered.append(call)
        for call in undelivered:
            self._drop_requests(call)
            call._fail(NOT_DELIVERED)
        if self.state is ChildState.READY or self.state is ChildState.DRAINING:
            self.state = ChildState.BROKEN
            self.quick = False
            self.failure = ChildExited(f"{label(self.child)} closed its stdin before reading a request")
        return undelivered

    # -- the common case, without the bookkeeping objects

    def _recheck(self) -> None:
        """Calls ended: the fast path is open again if the child is idle (``quick``)."""
        self.quick = (
            self.state is ChildState.READY
            and not self.fresh
            and self.max_calls is None
            and not self._unsent
            and not self._fifo
            and not self._by_id
            and not self._abandoned
        )

    def lost_place(self) -> list[Call]:
        """A front left between a read or write and handing over its result (a signal handler's exception as
        the syscall returned): bytes read may be lost, or a frame written in part would splice the next one.
        Ids or not, the stream's place is lost: the child is stopped; returns the calls that ended."""
        if self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return []
        return self._break(
            ChildExited(
                f"{label(self.child)} was stopped because a call was interrupted as it wrote its request or read "
                "its answer; the request may or may not have been processed"
            )
        )

    def quick_interrupted(self, rid: int = 0) -> None:
        """The caller left the fast path early (any exception) once its request (id ``rid``, 0 untagged) may
        be out, with nobody to read the answer. Untagged that breaks the child; tagged the id is abandoned.
        (Bytes counted by ``quick_waits`` stay counted: they were sent.)"""
        if self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return
        if self.tagged:
            self._abandoned.add(rid)
            self._started += 1  # out, and its answer will come
            self.quick = False
        else:
            self._break(
                ChildExited(
                    f"{label(self.child)} was stopped because a call in flight was interrupted; "
                    "its request may or may not have been processed"
                )
            )

    def quick_waits(self, written: int) -> None:
        """The fast path's request (``written`` bytes) is out and its caller now waits for the answer
        unregistered: the bytes count as sent from now on (the stats show the call running). The front
        passes 0 as ``sent`` to ``quick_take`` and ``written`` as ``counted`` to ``quick_register`` after."""
        self.stats.bytes_sent += written

    def quick_answer(
        self, frame: bytes, data: bytes, now: float, limit: float | None, rid: int = 0
    ) -> tuple[bool, Any]:
        """``quick_take``, then ``quick_register`` if ``data`` was not the answer: ``(True, message)`` or
        ``(False, call)`` to wait on as usual."""
        message = self.quick_take(frame_size(frame), data, rid)
        if message is not NO_ANSWER and message is not PARTIAL:
            return True, message
        return False, self.quick_register(frame, len(frame), now, limit, rid)

    def quick_take(self, sent: int, data: bytes, rid: int = 0) -> Any:
        """One request (id ``rid`` when tagged) was written whole to an idle child (``quick``), ``sent`` of its
        bytes not counted yet, and ``data`` read right after: the answer, when ``data`` completes exactly
        one frame (tagged: carrying ``rid``); the call then counts as made. ``PARTIAL`` when it only begins
        one: the front may read on and call this again, or call ``quick_register``. Otherwise
        ``NO_ANSWER``, and the front must call ``quick_register``, which gives ``data`` the usual treatment.

        Every step here is on the path of every call: no other work, no bookkeeping object."""
        try:
            messages = self._feed(data)
        except ProtocolError as err:
            self.stats.bytes_received += len(data)
            self._taken = (data, err.messages, err)
            return NO_ANSWER
        if len(messages) == 1:
            answer = messages[0]
            if rid:
                answer = answer[1] if answer[0] == rid else NO_ANSWER
            elif self._decoder.buffered:  # more bytes behind it: not a lone answer
                answer = NO_ANSWER
            if answer is not NO_ANSWER:
                stats = self.stats
                stats.calls += 1
                stats.bytes_sent += sent
                stats.bytes_received += len(data)
                if self.partial:
                    self.partial.clear()
                return answer
        self.stats.bytes_received += len(data)
        if not messages:
            if len(self.partial) < _PARTIAL_KEPT:  # the first bytes of the answer, for error messages
                self.partial += data[: _PARTIAL_KEPT - len(self.partial)]
            return PARTIAL
        self._taken = (data, messages, None)
        return NO_ANSWER

    def quick_fill(self, sent: int, nbytes: int, rid: int = 0) -> Any:
        """``quick_take`` for ``nbytes`` read straight into ``read_buffer()`` (the rest of a big answer)."""
        self.stats.bytes_received += nbytes
        seen = bytes(self.partial)  # the answer's first bytes: what error messages show of it
        try:
            messages = self._decoder.buffer_updated(nbytes)
        except ProtocolError as err:
            self._taken = (seen, err.messages, err)
            return NO_ANSWER
        if not messages:
            return PARTIAL
        if len(messages) == 1 and (rid or not self._decoder.buffered):
            answer = messages[0]
            if not rid or answer[0] == rid:
                self.stats.calls += 1
                self.stats.bytes_sent += sent
                self.partial.clear()
                return answer[1] if rid else answer
        self._taken = (seen, messages, None)
        return NO_ANSWER

    def quick_register(
        self, frame: Frame, written: int, now: float, limit: float | None, rid: int = 0, *, counted: int = 0
    ) -> Call:
        """The fast path's request becomes an ordinary call, ``written`` bytes of it out (``counted`` of them
        counted by ``quick_waits``); what ``quick_take`` read and did not take goes through the usual rules."""
        call = self.submit([(rid, frame)], now=now, limit=limit)
        self.wrote(written)
        self.stats.bytes_sent -= counted
        taken, self._taken = self._taken, None
        if taken is None:
            return call
        data, messages, fault = taken
        if messages:
            self._deliver(messages, now, data)
        if fault is not None and self.state is ChildState.READY:
            self._break(stopped(fault, self.child))
        return call

    # -- receiving

    def read_buffer(self) -> memoryview | None:
        """Where to read the rest of a big answer straight into (``Decoder.get_buffer``), or ``None``: read
        bytes and pass them to ``received`` or ``quick_take``. The reader releases the view, then reports
        what it read with ``received_into`` or ``quick_fill``."""
        if self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return None
        return self._decoder.get_buffer()

    def received(self, data: bytes, now: float) -> list[Call]:
        """Bytes from the child's stdout; returns the calls they completed (answered or failed)."""
        self.stats.bytes_received += len(data)
        if self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return []
        try:
            messages = self._decoder.feed(data)
        except ProtocolError as err:
            return self._fault(err, now, data)
        if not messages:
            if len(self.partial) < _PARTIAL_KEPT:
                self.partial += data[: _PARTIAL_KEPT - len(self.partial)]
            return []
        self.partial.clear()
        return self._deliver(messages, now, data)

    def received_into(self, nbytes: int, now: float) -> list[Call]:
        """``received`` for ``nbytes`` read straight into ``read_buffer()``."""
        self.stats.bytes_received += nbytes
        if self.state is ChildState.BROKEN or self.state is ChildState.DEAD:
            return []
        seen = bytes(self.partial)  # the answer's first bytes: what error messages show of it
        try:
            messages = self._decoder.buffer_updated(nbytes)
        except ProtocolError as err:
            return self._fault(err, now, seen)
        if not messages:
            return []
        self.partial.clear()
        return self._deliver(messages, now, seen)

    def _fault(self, err: ProtocolError, now: float, data: bytes) -> list[Call]:
        """The decoder raised on ``data``: deliver the messages it completed before, then break the child."""
        done = self._deliver(err.messages, now, data) if err.messages else []
        if not self.usable and self.state is not ChildState.DRAINING:  # already broken by those messages
            return done
        return done + self._break(stopped(err, self.child))

    def _deliver(self, messages: list[Any], now: float, data: bytes) -> list[Call]:
        if self.tagged:
            return self._deliver_tagged(messages, now, data)
        fifo = self._fifo
        total = len(messages)
        if total > self._started or (
            total == self._started and not self._unsent and self._decoder.buffered
        ):  # more than was asked for: which frame answers which request is unknowable
            error = (
                unsolicited_output_error(self.child, data)
                if not fifo and not self._unsent
                else extra_output_error(data)
            )
            for call in self._live_calls():  # answers already paired may be shifted too: hand none of them out
                call.results = [_MISSING] * len(call.results)
            return self._break(error)
        done: list[Call] = []
        self.fresh = False
        pos = 0
        while pos < total:  # per request (per frame of a single call: this is the loop of many awaiters)
            request = fifo[0]
            call = request.call
            early = False
            if type(request) is _Batch:
                first = request.answered
                take = min(request.count - first, total - pos)
                if first + take > request.full:  # answers to frames not written whole: those after them
                    early = True  # are refused, as one request per frame would be
                    take = request.full - first
                if call.done:  # its caller left: the answers are dropped in their slots
                    self.stats.late += take
                else:
                    call.results[first : first + take] = messages[pos : pos + take]
                    call.pending -= take
                request.answered = first + take
                if request.answered == request.count:
                    fifo.popleft()
            else:
                if not request.whole:
                    return done + self._early_answer(data)
                take = 1
                fifo.popleft()
                if call.done:  # its caller left: the answer is dropped in its slot
                    self.stats.late += 1
                else:
                    call.results[request.index] = messages[pos]
                    call.pending -= 1
            pos += take
            self._started -= take
            if early:
                return done + self._early_answer(data)
            if call.done:
                continue
            if call.answered(now):
                done.append(call)
        self._recheck()
        return done

    def _early_answer(self, data: bytes) -> list[Call]:
        return self._break(
            ProtocolError(
                f"{label(self.child)} answered before the whole request was written: "
                f"{excerpt_of(data)!r}; a child must read a whole request before answering it",
                excerpt=excerpt_of(data),
            )
        )

    def _deliver_tagged(self, messages: list[Any], now: float, data: bytes) -> list[Call]:
        done: list[Call] = []
        by_id = self._by_id
        if len(messages) > 1 and self._deliver_run(messages, now, done):
            return done
        answered = 0
        for rid, message in messages:  # the per-message loop of a tagged call_many: no call per answer
            request = by_id.pop(rid, None)
            if request is None:
                index = -1
            elif type(request) is _Batch:
                index = request.index_of[rid]  # type: ignore[index]
                if index >= request.full:
                    index = -1
            else:
                index = request.index if request.whole else -1
            if index < 0:
                if request is None and rid in self._abandoned:
                    self._abandoned.discard(rid)
                    self._started -= 1
                    self.stats.late += 1  # an answer to an abandoned id: dropped
                    continue
                if request is not None:
                    by_id[rid] = request
                if answered:
                    self.fresh = False
                return done + self._break(unknown_id_error(self.child, rid, data))
            answered += 1
            self._started -= 1
            call = request.call  # type: ignore[union-attr]
            if call.done:  # its caller left: the answer is dropped in its slot
                self.stats.late += 1
                continue
            call.results[index] = message
            call.pending -= 1
            if call.answered(now):
                done.append(call)
        if answered:
            self.fresh = False
        self._recheck()
        return done

    def _deliver_run(self, messages: list[Any], now: float, done: list[Call]) -> bool:
        """``messages`` answer, in order, a run of one waiting batch's frames written whole (the child kept
        the order, as most do): deliver them in bulk, as untagged ones are, and say so; else (any doubt)
        nothing is done and the per-message loop sorts them out."""
        by_id = self._by_id
        batch = by_id.get(messages[0][0])
        if type(batch) is not _Batch or batch.call.done:
            return False
        start = batch.index_of[messages[0][0]]  # type: ignore[index]
        end = start + len(messages)
        rids, answers = zip(*messages, strict=True)
        # In its order, written whole, and each one still awaited (not answered twice): by C loops only.
        if end > batch.full or batch.ids[start:end] != list(rids) or not by_id.keys() >= set(rids):  # type: ignore[index]
            return False
        collections.deque(map(by_id.__delitem__, rids), maxlen=0)
        call = batch.call
        call.results[start:end] = answers
        call.pending -= len(messages)
        self._started -= len(messages)
        self.fresh = False
        if call.answered(now):
            done.append(call)
        self._recheck()
        return True

    # -- the end of calls and of the child

    def expire(self, now: float) -> list[Call]:
        """Fail the calls whose deadline has passed; returns every call that ended."""
        done: list[Call] = []
        while True:
            when = self.next_deadline()
            if when is None or when > now:
                self._recheck()
                return done
            call = self._pop_earliest()
            total = len(call.results)
            which = "a response" if total == 1 else f"response {len(call.answers_so_far()) + 1} of {total}"
            error = timeout_error(
                self.child, call.limit, self._decoder.buffered, which, self.child.stderr_tail(), kept=self.tagged
            )
            if self.tagged:
                self._abandon_requests(call)
                call._fail(error)
                done.append(call)
            else:
                call._fail(error)
                done.append(call)
                done += self._break(
                    ChildExited(
                        f"{label(self.child)} was stopped because an earlier request timed out after "
                        f"{call.limit} s; this request may or may not have been processed"
                    )
                )

    def abandon(self, call: Call, error: BaseException | None = None, *, reader_continues: bool = False) -> None:
        """The caller left ``call`` early (any exception, a cancellation, a signal handler's exception).

        Requests not yet written are withdrawn. Tagged, an abandoned request's id
        is dropped when its late answer comes; a partly written frame is still
        finished, so that the stream stays whole. Untagged, a written request's
        answer still comes in its turn: if the front goes on reading
        (``reader_continues``: an event loop's reader) that answer is consumed
        and dropped in its slot; if not (a synchronous caller left its own read
        loop), it would reach the next caller, so the child is broken.
        """
        if call.done and call.error is not None:
            return
        was_delivered = call.delivered
        call._fail(error if error is not None else abandoned_error())
        if self.state is ChildState.DEAD or self.state is ChildState.BROKEN:
            return
        if not self.tagged:
            if was_delivered and reader_continues:
                for request in call.requests:
                    if request.written == 0:
                        with contextlib.suppress(ValueError):
                            self._unsent.remove(request)
            elif was_delivered:
                self._break(
                    ChildExited(
                        f"{label(self.child)} was stopped because a call in flight was interrupted; "
                        "this request may or may not have been processed"
                    )
                )
            else:
                self._drop_requests(call)
            self._recheck()
            return
        self._abandon_requests(call)
        self._recheck()

    def _abandon_requests(self, call: Call) -> None:
        for request in call.requests:
            if type(request) is _Batch:
                self._abandon_batch(request)
                continue
            if self._by_id.get(request.id) is not request:
                continue  # answered
            if request.written == 0:
                del self._by_id[request.id]
                self._unsent.remove(request)
            else:
                del self._by_id[request.id]
                self._abandoned.add(request.id)
        if len(self._abandoned) >= self.max_pending:
            self._break(
                ChildExited(
                    f"{label(self.child)} holds {len(self._abandoned)} requests whose callers gave up "
                    "(max_pending): it is stuck and was stopped"
                )
            )

    def _abandon_batch(self, batch: _Batch) -> None:
        """Tagged: the ids of ``batch`` not answered yet: begun ones are abandoned, the rest withdrawn."""
        by_id, index_of = self._by_id, batch.index_of
        assert batch.ids is not None and index_of is not None
        begun = batch.started(batch.written)
        for rid in batch.ids:
            if by_id.get(rid) is batch:
                del by_id[rid]
                if index_of[rid] < begun:
                    self._abandoned.add(rid)
        if not batch.whole:
            batch.cut()
            if batch.written == batch.size:  # nothing left to write of it
                batch.whole = True
                self._unsent.remove(batch)

    def _drop_requests(self, call: Call) -> None:
        for request in call.requests:
            if request.written == 0:
                with contextlib.suppress(ValueError):
                    self._unsent.remove(request)
                if type(request) is _Batch and request.ids is not None:
                    for rid in request.ids:
                        self._by_id.pop(rid, None)
                elif self.tagged:
                    self._by_id.pop(request.id, None)
        self.accepted -= sum(r.count if type(r) is _Batch else 1 for r in call.requests if r.written == 0)

    def _break(self, error: BridgeError) -> list[Call]:
        """Pairing can no longer be trusted: every call still waiting fails; the child must go."""
        self.state = ChildState.BROKEN
        self.quick = False
        self.failure = error
        calls = self._live_calls()
        self.failure_heard = bool(calls)
        for i, call in enumerate(calls):  # the first hears what happened, the others that they were caught in it
            call._fail(
                error
                if i == 0
                else ChildExited(
                    f"{label(self.child)} was stopped ({_first_line(error)}); "
                    "this request may or may not have been processed"
                )
            )
        self._clear()
        return calls

    def child_exited(self, returncode: int | None, tail: str = "") -> list[Call]:
        """The child died (or closed stdout): every call still waiting fails with ``ChildExited``.

        ``tail``: the last lines of its stderr, for the errors.
        """
        calls = self._live_calls()
        self.state = ChildState.DEAD
        self.quick = False
        for i, call in enumerate(calls):
            when = (
                "before answering"
                if len(call.results) == 1
                else (f"after {len(call.answers_so_far())} of {len(call.results)} responses")
            )
            if i:
                when += " (with earlier requests in flight)"
            call._fail(exit_error(self.child, returncode, when, bytes(self.partial) if i == 0 else b"", tail))
        self._clear()
        return calls

    def live_calls(self) -> list[Call]:
        """The calls not done yet (in the order they were sent, roughly)."""
        return self._live_calls()

    def _live_calls(self) -> list[Call]:
        seen: dict[int, Call] = {}
        for request in itertools.chain(self._fifo, self._unsent, self._by_id.values()):
            call = request.call
            if not call.done:
                seen.setdefault(id(call), call)
        for _, _, call in itertools.chain(self._in_order, self._timers):
            if not call.done:
                seen.setdefault(id(call), call)
        return list(seen.values())

    def _clear(self) -> None:
        self._unsent.clear()
        self._fifo.clear()
        self._started = 0
        self._by_id.clear()
        self._abandoned.clear()
        self._in_order.clear()
        self._timers.clear()


#: ``pack_frames`` encodes and joins this many messages at a time.
_PACK_SLICE = 512


def pack_frames(encode: Callable[[int, int], list[bytes]], count: int, small: int) -> Packed | list[bytes]:
    """Encode ``count`` messages, ``encode(start, stop)`` giving the frames of a slice of them (an
    ``EncodeError`` before anything is sent): ``Packed`` when the frames are small (the first slice's at
    most ``small`` bytes on average), else the frames, each to go out as its own request.

    Small frames are encoded and joined 512 at a time: a whole batch of them alive at once costs more than
    making them. orjson allocates each output at 1 KiB and shrinks it, so that 20,000 kept at once spread
    over 20 MiB of heap: several times slower to make than 512 at a time, whose memory the next ones reuse."""
    first = encode(0, _PACK_SLICE)
    if sum(map(len, first)) > small * len(first):
        return first + encode(_PACK_SLICE, count) if count > _PACK_SLICE else first
    pieces = [b"".join(first)]
    ends = list(itertools.accumulate(map(len, first)))
    for start in range(_PACK_SLICE, count, _PACK_SLICE):
        frames = encode(start, start + _PACK_SLICE)
        pieces.append(b"".join(frames))
        ends += itertools.islice(itertools.accumulate(map(len, frames), initial=ends[-1]), 1, None)
    return Packed(b"".join(pieces), ends)


def _first_line(error: BaseException) -> str:
    return str(error).split("\n", 1)[0]
