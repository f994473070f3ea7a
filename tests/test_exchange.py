"""The exchange alone: bytes in, a fake clock, no processes and no sleeps.

Each test drives ``Exchange`` the way a front end does (``submit``, ``outgoing``,
``wrote``, ``received``, ``expire``, ``abandon``, ``child_exited``) and checks who
gets which answer, and what becomes of the child.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import stdiobridge as sb
from stdiobridge.exchange import (
    NOT_DELIVERED,
    Call,
    ChildState,
    Exchange,
    Packed,
    RequestIds,
    pack_frames,
)


class FakeChild:
    def __init__(self) -> None:
        self.argv = ["/bin/fake"]
        self.pid = 4242

    def stderr_tail(self, wait: float = 0.0) -> str:
        return "fake stderr"


def make(codec: str = "lines", *, tagged: bool = False, **options: Any) -> tuple[Exchange, sb.Codec[Any]]:
    base = sb.get_codec(codec)
    wire = base.tagged() if tagged else base
    return Exchange(wire, FakeChild(), tagged=tagged, **options), wire


def send(
    ex: Exchange,
    wire: sb.Codec[Any],
    messages: list[Any],
    *,
    now: float = 0.0,
    limit: float | None = None,
    ids: RequestIds | None = None,
    rolling: bool = False,
) -> Call:
    call = ex.submit(encode_frames(wire, messages, ids), now=now, limit=limit, rolling=rolling)
    flush(ex)
    return call


def encode_frames(codec: sb.Codec[Any], messages: list[Any], ids: RequestIds | None) -> list[tuple[int, bytes]]:
    """``(id, frame)`` pairs of ``messages`` for ``Exchange.submit``, with fresh ids if tagged (0 untagged)."""
    if ids is None:
        return [(0, codec.encode(m)) for m in messages]
    return [(rid, codec.encode((rid, m))) for m, rid in zip(messages, ids, strict=False)]


def quick_is_right(ex: Exchange) -> bool:
    """``Exchange.quick`` (an attribute kept up to date, read on every call) says what it stands for."""
    return ex.quick == (ex.state is ChildState.READY and not ex.fresh and ex.max_calls is None and ex.idle)


def flush(ex: Exchange) -> bytes:
    """Write everything due, as a pipe that takes it all would."""
    assert quick_is_right(ex)
    out = b""
    while True:
        chunks = ex.outgoing()
        if not chunks:
            assert quick_is_right(ex)
            return out
        data = b"".join(bytes(c) for c in chunks)
        ex.wrote(len(data))
        out += data


def test_answers_pair_in_order_and_the_child_stays_ready() -> None:
    ex, wire = make()
    call = send(ex, wire, ["a", "b"], limit=5)
    assert ex.received(b"a\nb", 1.0) == []
    assert ex.received(b"\n", 1.0) == [call]
    assert call.results == ["a", "b"] and call.error is None
    assert ex.state is ChildState.READY and ex.idle


def test_a_frame_nobody_asked_for_breaks_the_child() -> None:
    ex, _ = make()
    assert ex.received(b"INFO starting\n", 0.0) == []
    assert ex.state is ChildState.BROKEN
    assert isinstance(ex.failure, sb.ProtocolError) and "no request asked for" in str(ex.failure)


def test_two_frames_for_one_request_fail_it_rather_than_guess() -> None:
    ex, wire = make()
    call = send(ex, wire, ["x"])
    ex.received(b"log line\nx\n", 0.0)
    assert isinstance(call.error, sb.ProtocolError) and ex.state is ChildState.BROKEN


def test_an_answer_before_the_whole_request_was_written_is_a_protocol_error() -> None:
    ex, wire = make()
    call = ex.submit(encode_frames(wire, ["abcdef"], None), now=0.0)
    ex.wrote(3)
    ex.received(b"abc\n", 0.0)
    assert isinstance(call.error, sb.ProtocolError) and "before the whole request" in str(call.error)


def test_untagged_timeout_fails_everyone_and_breaks_the_child() -> None:
    ex, wire = make()
    first = send(ex, wire, ["a"], now=0.0, limit=1.0)
    second = send(ex, wire, ["b"], now=0.5, limit=10.0)
    assert ex.next_deadline() == 1.0
    assert ex.expire(0.99) == []
    ended = ex.expire(1.0)
    assert first in ended and second in ended
    assert isinstance(first.error, sb.CallTimeout) and "stopped" in str(first.error)
    assert isinstance(second.error, sb.ChildExited) and "may or may not have been processed" in str(second.error)
    assert ex.state is ChildState.BROKEN


def test_untagged_call_left_after_its_first_byte_breaks_the_child() -> None:
    ex, wire = make()
    call = send(ex, wire, ["a"])
    ex.abandon(call, KeyboardInterrupt())
    assert ex.state is ChildState.BROKEN
    assert isinstance(call.error, KeyboardInterrupt)


def test_untagged_call_left_before_anything_was_written_is_withdrawn() -> None:
    ex, wire = make()
    call = ex.submit(encode_frames(wire, ["a"], None), now=0.0)
    ex.abandon(call, KeyboardInterrupt())
    assert ex.state is ChildState.READY and ex.idle and ex.outgoing() == []


def test_a_reader_that_goes_on_consumes_a_cancelled_callers_answer_in_its_slot() -> None:
    ex, wire = make()
    gone = send(ex, wire, ["a"])
    kept = send(ex, wire, ["b"])
    ex.abandon(gone, KeyboardInterrupt(), reader_continues=True)
    assert ex.state is ChildState.READY
    assert ex.received(b"a\nb\n", 0.0) == [kept]
    assert kept.results == ["b"] and ex.stats.late == 1


def test_a_partly_written_request_is_finished_after_its_caller_left() -> None:
    ex, wire = make("lenprefix", tagged=True)
    ids = RequestIds()
    call = ex.submit(encode_frames(wire, [b"x" * 100], ids), now=0.0)
    ex.wrote(10)
    ex.abandon(call, TimeoutError())
    assert ex.state is ChildState.READY
    rest = flush(ex)
    assert len(rest) == 4 + 4 + 100 - 10  # the frame is completed: the stream stays whole


def test_rolling_deadline_restarts_with_each_answer() -> None:
    ex, wire = make()
    call = send(ex, wire, ["a", "b", "c"], now=0.0, limit=1.0, rolling=True)
    ex.received(b"a\n", 0.9)
    assert ex.expire(1.5) == [] and ex.next_deadline() == pytest.approx(1.9)
    ex.received(b"b\nc\n", 1.8)
    assert call.results == ["a", "b", "c"]


def test_startup_limit_applies_until_the_first_answer() -> None:
    ex, wire = make(limit=2.0, startup_limit=30.0)
    assert ex.default_limit() == 30.0
    send(ex, wire, ["a"])
    ex.received(b"a\n", 0.0)
    assert ex.default_limit() == 2.0


def test_max_calls_drains_the_child() -> None:
    ex, wire = make(max_calls=2)
    send(ex, wire, ["a", "b"])
    assert ex.state is ChildState.DRAINING and not ex.idle
    ex.received(b"a\nb\n", 0.0)
    assert ex.idle


def test_a_broken_pipe_ends_undelivered_calls_with_not_delivered() -> None:
    ex, wire = make()
    call = ex.submit(encode_frames(wire, ["a"], None), now=0.0)
    assert ex.broken_pipe() == [call]
    assert call.error is NOT_DELIVERED and ex.state is ChildState.BROKEN


def test_death_fails_the_calls_with_the_partial_answer() -> None:
    ex, wire = make()
    call = send(ex, wire, ["hello"])
    ex.received(b"hel", 0.0)
    ex.child_exited(3, "panic: oops")
    assert isinstance(call.error, sb.ChildExited)
    assert call.error.returncode == 3 and call.error.partial == b"hel" and "panic: oops" in str(call.error)
    assert ex.state is ChildState.DEAD


def test_a_window_of_max_pending_requests() -> None:
    ex, wire = make(max_pending=2)
    ex.submit(encode_frames(wire, ["a", "b", "c"], None), now=0.0)
    assert flush(ex) == b"a\nb\n"
    ex.received(b"a\n", 0.0)
    assert flush(ex) == b"c\n"


# -- tagged


def test_tagged_answers_in_any_order() -> None:
    ex, wire = make("jsonl", tagged=True)
    ids = RequestIds()
    one = send(ex, wire, [{"n": 1}], ids=ids)
    two = send(ex, wire, [{"n": 2}], ids=ids)
    (id1,), (id2,) = [r.id for r in one.requests], [r.id for r in two.requests]
    assert ex.received(wire.encode((id2, "second")), 0.0) == [two]
    assert ex.received(wire.encode((id1, "first")), 0.0) == [one]
    assert one.results == ["first"] and two.results == ["second"]


def test_tagged_late_answer_is_dropped_and_counted_and_the_child_kept() -> None:
    ex, wire = make("msgpack", tagged=True)
    ids = RequestIds()
    call = send(ex, wire, ["slow"], now=0.0, limit=1.0, ids=ids)
    rid = call.requests[0].id
    assert ex.expire(1.0) == [call] and isinstance(call.error, sb.CallTimeout) and "kept" in str(call.error)
    assert ex.state is ChildState.READY
    assert ex.received(wire.encode((rid, "late")), 2.0) == []
    assert ex.stats.late == 1 and ex.state is ChildState.READY and ex.idle


@pytest.mark.parametrize("codec", ["lines", "jsonl", "lenprefix", "msgpack"])
def test_tagged_unknown_id_is_a_protocol_error(codec: str) -> None:
    ex, wire = make(codec, tagged=True)
    call = send(ex, wire, [b"x" if codec == "lenprefix" else "x"], ids=RequestIds())
    stray = wire.encode((12345, b"x" if codec == "lenprefix" else "x"))
    ex.received(stray, 0.0)
    assert isinstance(call.error, sb.ProtocolError) and ex.state is ChildState.BROKEN


@pytest.mark.parametrize(
    ("codec", "stray"),
    [("lines", b"INFO starting\n"), ("jsonl", b'{"log": 1}\n'), ("msgpack", b"d"), ("lenprefix", b"\x00\x00\x00\x01x")],
)
@pytest.mark.parametrize("together", [True, False])
def test_tagged_stray_output_never_becomes_an_answer(codec: str, stray: bytes, together: bool) -> None:
    ex, wire = make(codec, tagged=True)
    message: Any = b"m" if codec == "lenprefix" else "m"
    call = send(ex, wire, [message], ids=RequestIds())
    answer = wire.encode((call.requests[0].id, message))
    if together:
        ex.received(stray + answer, 0.0)
    else:
        ex.received(stray, 0.0)
        ex.received(answer, 0.0)
    assert call.error is not None and isinstance(call.error, sb.ProtocolError)
    assert call.answers_so_far() == []  # the answer itself was never handed over


def test_abandoned_ids_up_to_max_pending_mean_a_stuck_child() -> None:
    ex, wire = make("jsonl", tagged=True, max_pending=3)
    ids = RequestIds()
    for _ in range(3):
        call = send(ex, wire, ["x"], now=0.0, limit=1.0, ids=ids)
        ex.expire(5.0)
        assert isinstance(call.error, sb.CallTimeout)
    assert ex.state is ChildState.BROKEN and "stuck" in str(ex.failure)


def test_request_ids_are_unique_nonzero_and_look_random() -> None:
    ids = RequestIds()
    seen = [next(ids) for _ in range(100_000)]
    assert len(set(seen)) == len(seen) and 0 not in seen and max(seen) < 2**32
    assert seen[:3] != [1, 2, 3]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(1, 50), min_size=1, max_size=20),
    codec=st.sampled_from(["lines", "jsonl", "lenprefix", "msgpack"]),
)
def test_out_of_order_answers_in_any_chunking_reach_their_callers(
    n: int, seed: int, cuts: list[int], codec: str
) -> None:
    ex, wire = make(codec, tagged=True)
    ids = RequestIds()
    messages = [f"m{i}".encode() if codec == "lenprefix" else f"m{i}" for i in range(n)]
    calls = [send(ex, wire, [m], ids=ids) for m in messages]
    answers = [(c.requests[0].id, m) for c, m in zip(calls, messages, strict=True)]
    random.Random(seed).shuffle(answers)
    stream = b"".join(wire.encode(a) for a in answers)
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        ex.received(stream[pos : pos + step], 0.0)
        pos += step
        i += 1
    assert [c.results for c in calls] == [[m] for m in messages]
    assert ex.state is ChildState.READY and ex.idle and quick_is_right(ex)


# -- the fast path of an idle child


def answered_once(codec: str = "lines", *, tagged: bool = False) -> tuple[Exchange, sb.Codec[Any]]:
    """An exchange whose child answered one call the usual way: the fast path is open."""
    ex, wire = make(codec, tagged=tagged)
    assert not ex.quick, "a child that never answered is not quick: startup_limit applies to its first call"
    frame = wire.encode((1, "hi")) if tagged else wire.encode("hi")
    call = ex.submit([(1 if tagged else 0, frame)], now=0.0)
    assert flush(ex) == frame
    assert ex.received(frame, 0.0) == [call]
    assert ex.quick and quick_is_right(ex)
    return ex, wire


def test_quick_answer_takes_one_whole_frame_as_the_answer() -> None:
    ex, wire = answered_once()
    before = (ex.stats.calls, ex.stats.bytes_sent, ex.stats.bytes_received)
    assert ex.quick_answer(wire.encode("hi"), b"hi\n", 0.0, 5.0) == (True, "hi")
    assert ex.state is ChildState.READY and ex.idle and quick_is_right(ex)
    assert (ex.stats.calls, ex.stats.bytes_sent, ex.stats.bytes_received) == (
        before[0] + 1,
        before[1] + 3,
        before[2] + 3,
    )


def test_quick_answer_hands_anything_else_to_the_usual_rules() -> None:
    ex, wire = answered_once()
    answered, call = ex.quick_answer(wire.encode("hi"), b"h", 0.0, 5.0)
    assert not answered and not call.done
    assert ex.received(b"i\n", 0.0) == [call] and call.results == ["hi"]
    ex2, wire2 = answered_once()
    answered, call = ex2.quick_answer(wire2.encode("hi"), b"log\nhi\n", 0.0, 5.0)
    assert not answered and isinstance(call.error, sb.ProtocolError) and ex2.state is ChildState.BROKEN
    ex3, wire3 = answered_once()
    answered, call = ex3.quick_answer(wire3.encode("hi"), b"hi\nlo", 0.0, 5.0)  # bytes behind the answer
    assert not answered and ex3.stats.calls == 0


def test_quick_take_counts_bytes_the_front_counted_early_once() -> None:
    ex, wire = answered_once()
    frame = wire.encode("hi")
    sent = ex.stats.bytes_sent
    ex.quick_waits(len(frame))  # the answer was late: the caller waits for it unregistered
    assert ex.stats.bytes_sent == sent + 3
    assert ex.quick_take(0, b"hi\n") == "hi" and ex.stats.bytes_sent == sent + 3
    ex.quick_waits(len(frame))
    call = ex.quick_register(frame, len(frame), 0.0, 5.0, counted=len(frame))  # still nothing: the usual way
    assert ex.stats.bytes_sent == sent + 6 and not call.done
    assert ex.received(b"hi\n", 0.0) == [call] and call.results == ["hi"]


def test_quick_answer_tagged_needs_the_right_id() -> None:
    ex, wire = answered_once("jsonl", tagged=True)
    assert ex.quick_answer(wire.encode((7, "x")), wire.encode((7, "y")), 0.0, 5.0, 7) == (True, "y")
    answered, call = ex.quick_answer(wire.encode((8, "x")), wire.encode((9, "y")), 0.0, 5.0, 8)
    assert not answered and isinstance(call.error, sb.ProtocolError) and "request id 9" in str(call.error)


def test_leaving_the_fast_path_early_breaks_an_untagged_child_and_abandons_a_tagged_id() -> None:
    ex, _ = answered_once()
    ex.quick_interrupted(0)  # e.g. KeyboardInterrupt right after the write
    assert ex.state is ChildState.BROKEN
    ex, wire = answered_once("jsonl", tagged=True)
    ex.quick_interrupted(7)
    assert ex.state is ChildState.READY and not ex.quick
    assert ex.received(wire.encode((7, "late")), 0.0) == [] and ex.stats.late == 1 and quick_is_right(ex)


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
@pytest.mark.parametrize("limit", [None, 0.5, float("inf")])
def test_submit_one_registers_a_call_exactly_as_submit_does(tagged: bool, limit: float | None) -> None:
    seen = []
    for one in (False, True):
        ex, wire = make(tagged=tagged, max_calls=3, limit=5.0, startup_limit=60.0)
        ids = RequestIds() if tagged else None
        calls = []
        for i, now in enumerate((1.0, 2.0, 3.0)):
            ((rid, frame),) = encode_frames(wire, [f"m{i}"], ids)
            calls.append(
                ex.submit_one(rid, frame, now, limit) if one else ex.submit([(rid, frame)], now=now, limit=limit)
            )
            if i == 0:
                data = flush(ex)
                ex.received(data, now)  # answered: the startup limit no longer applies
        data = flush(ex)
        done = ex.received(data, 4.0)
        seen.append(
            (
                [(c.limit, c.deadline, c.done, c.results, c.rolling) for c in calls],
                ex.state,
                ex.accepted,
                ex.in_flight,
                ex.next_deadline(),
                len(done),
            )
        )
    assert seen[0] == seen[1]
    assert seen[0][1] is ChildState.DRAINING  # max_calls counts them alike


def _pipe_takes(ex: Exchange, stream: bytes, written: int, amount: int) -> int:
    """Write what is due, as a pipe that takes at most ``amount`` bytes now would; every byte must be the
    next of ``stream``. Returns the bytes of ``stream`` written so far."""
    while amount:
        out = b"".join(bytes(c) for c in ex.outgoing())
        if not out:
            break
        take = min(amount, len(out))
        assert out[:take] == stream[written : written + take]
        ex.wrote(take)
        written += take
        amount -= take
    return written


def _batch_run(batched: bool, frames: list[bytes], max_pending: int, steps: list[tuple[str, int, int]]) -> list[Any]:
    """Drive one untagged call of ``frames`` (one batch, or one request per frame) through ``steps``
    against a child that answers by echoing; returns what a caller could observe after each step."""
    ex, _ = make(max_pending=max_pending, limit=5.0)
    call = (
        ex.submit_batch(Packed.of(frames), now=0.0, limit=5.0, rolling=True)
        if batched
        else ex.submit([(0, f) for f in frames], now=0.0, limit=5.0, rolling=True)
    )
    stream = b"".join(frames)
    ends = [sum(map(len, frames[: i + 1])) for i in range(len(frames))]
    written = answered = 0
    seen: list[Any] = []
    for kind, amount, chunk in steps:
        if kind == "write":  # the pipe takes up to ``amount`` bytes
            written = _pipe_takes(ex, stream, written, amount)
        else:  # the child answers ``amount`` frames ("answer": only frames it has whole; "rogue": any)
            whole = sum(1 for end in ends if end <= written)
            count = amount if kind == "rogue" else min(amount, whole - answered)
            data = b"".join(frames[i % len(frames)] for i in range(answered, answered + count))
            answered += count
            for start in range(0, len(data), chunk):
                ex.received(data[start : start + chunk], 1.0)
        assert quick_is_right(ex)
        seen.append((written, call.done, type(call.error), call.answers_so_far(), ex.state, ex.in_flight, ex.idle))
    return seen


def _batch_steps(kinds: list[str], max_chunk: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    """Steps for the batch properties: a kind, an amount (bytes the pipe takes, or frames answered), and the
    size of the reads that bring answers in (one byte up to several frames)."""
    return st.lists(st.tuples(st.sampled_from(kinds), st.integers(1, 40), st.integers(1, max_chunk)), max_size=25)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="abc", min_size=0, max_size=6), min_size=2, max_size=12),
    max_pending=st.integers(1, 5),
    steps=_batch_steps(["write", "write", "answer", "answer", "rogue"], max_chunk=9),
)
def test_a_batch_behaves_exactly_as_one_request_per_frame(
    texts: list[str], max_pending: int, steps: list[tuple[str, int, int]]
) -> None:
    """``submit_batch`` (call_many's small frames) against ``submit``: the same bytes go out within the
    same window, the same answers reach the caller, the same faults (early or extra answers) break the
    child, under any split of the writes and of the reads."""
    frames = [sb.get_codec("lines").encode(t) for t in texts]
    assert _batch_run(True, frames, max_pending, steps) == _batch_run(False, frames, max_pending, steps)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.lists(st.binary(min_size=0, max_size=7), min_size=1, max_size=4), min_size=1, max_size=4),
    takes=st.lists(st.integers(1, 9), min_size=1, max_size=40),
)
def test_frames_in_parts_go_out_exactly_as_their_joined_bytes(parts: list[list[bytes]], takes: list[int]) -> None:
    """A frame given as pieces (``Codec.encode_parts``) is written like its joined bytes, whatever the
    pipe takes each time: partly written pieces resume where they stopped, nothing is sent twice."""
    ex, _ = make("lenprefix")
    frames = [tuple(p) for p in parts]
    ex.submit([(0, f) for f in frames], now=0.0)
    sent = b""
    for take in itertools.cycle(takes):
        out = b"".join(bytes(c) for c in ex.outgoing())
        if not out:
            break
        sent += out[:take]
        ex.wrote(min(take, len(out)))
    assert sent == b"".join(b"".join(f) for f in frames)
    assert ex.stats.bytes_sent == len(sent)


def _tagged_batch_run(
    batched: bool, texts: list[str], max_pending: int, steps: list[tuple[str, int, int]]
) -> list[Any]:
    """A tagged call of ``texts`` (one batch, or one request per frame) driven through ``steps``
    against a child that echoes in any order; what a caller could observe after each step."""
    ex, wire = make(tagged=True, max_pending=max_pending, limit=5.0)
    ids = [next(RequestIds(i + 1)) for i in range(len(texts))]
    frames = [wire.encode((rid, t)) for rid, t in zip(ids, texts, strict=True)]
    call = (
        ex.submit_batch(Packed.of(frames), now=0.0, limit=5.0, rolling=True, ids=ids)
        if batched
        else ex.submit(list(zip(ids, frames, strict=True)), now=0.0, limit=5.0, rolling=True)
    )
    stream = b"".join(frames)
    ends = list(itertools.accumulate(map(len, frames)))
    written = 0
    answered: set[int] = set()
    seen: list[Any] = []
    for n, (kind, amount, chunk) in enumerate(steps):
        if kind == "write":
            written = _pipe_takes(ex, stream, written, amount)
        elif kind == "abandon":
            ex.abandon(call)
        else:
            # Answer up to ``amount`` frames: in a shuffled order, in order ("ordered": the child kept it),
            # frames not written whole too ("rogue"), or some answered already among them ("again").
            pool = [i for i in range(len(texts)) if i not in answered and (kind == "rogue" or ends[i] <= written)]
            if kind != "ordered":
                random.Random(n * 7919 + chunk).shuffle(pool)
            picked = pool[:amount]
            if kind == "again" and answered:
                picked = sorted({*picked, min(answered)})
            answered.update(picked)
            data = b"".join(frames[i] for i in picked)
            for start in range(0, len(data), chunk):
                ex.received(data[start : start + chunk], 1.0)
        assert quick_is_right(ex)
        done_so_far = [r for r in call.results if r is not _MISSING_RESULT]
        seen.append((written, call.done, type(call.error), done_so_far, ex.state, ex.in_flight, ex.idle, ex.stats.late))
    return seen


_MISSING_RESULT = Call(1, None, None, False).results[0]


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab", min_size=0, max_size=5), min_size=2, max_size=10),
    max_pending=st.integers(1, 5),
    steps=_batch_steps(["write", "write", "answer", "ordered", "ordered", "again", "rogue", "abandon"], max_chunk=64),
)
@example(  # answers in order, in bulk, reopen the window
    texts=["a", "b", "ab", "", "b"],
    max_pending=2,
    steps=[("write", 40, 1), ("ordered", 2, 64), ("write", 40, 1), ("ordered", 5, 64)],
)
@example(  # in order, but the middle one answered already: refused, not delivered in bulk
    texts=["a", "b", "c"], max_pending=5, steps=[("write", 60, 1), ("answer", 1, 1), ("again", 2, 64)]
)
@example(  # the last byte of an abandoned call's frame, written after its answer came: idle again, quick again
    texts=["", "aa"],
    max_pending=2,
    steps=[("write", 25, 1), ("answer", 1, 1), ("abandon", 1, 1), ("rogue", 1, 1), ("write", 1, 1)],
)
def test_a_tagged_batch_behaves_exactly_as_one_request_per_frame(
    texts: list[str], max_pending: int, steps: list[tuple[str, int, int]]
) -> None:
    """Tagged ``submit_batch`` against ``submit``: the same bytes within the same window, the same
    answers in any order (in order: delivered in bulk), the same refusals (ids not written whole, or
    answered twice), the same abandoned and late ids after the caller leaves mid-write."""
    assert _tagged_batch_run(True, texts, max_pending, steps) == _tagged_batch_run(False, texts, max_pending, steps)


@pytest.mark.parametrize("start", [1, 2**32 - 2])
def test_request_ids_taken_at_once_are_the_next_ids(start: int) -> None:
    """``RequestIds.take`` (a batch's ids) gives the ids ``next`` would, 0 left out, none twice."""
    one_by_one, at_once = RequestIds(start), RequestIds(start)
    taken = at_once.take(5)
    assert 0 not in taken and len(set(taken)) == 5
    assert sorted(taken) == sorted(next(one_by_one) for _ in range(5))
    assert next(at_once) == next(one_by_one)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["submit", "submit", "submit", "answer", "expire", "abandon"]),
            st.sampled_from([None, 0.5, 1.0, 3.0, 10.0, float("inf")]),  # a call's limit
            st.booleans(),  # rolling
            st.integers(0, 3),  # how much time passes first, in half seconds
        ),
        max_size=40,
    )
)
def test_next_deadline_and_expire_follow_every_waiting_call(steps: list[tuple[str, float | None, bool, int]]) -> None:
    """Deadlines in order (a queue) and out of order (a heap), rolling ones moving on, calls ending every
    way: ``next_deadline`` is always the earliest deadline of a call still waiting, and ``expire`` ends
    exactly the calls past theirs."""
    ex, wire = make("lines", tagged=True, max_pending=100, limit=2.0)  # tagged: a timeout keeps the child
    now = 0.0
    rid = 0
    calls: list[Call] = []
    waiting_ids: list[tuple[int, Call]] = []
    for kind, limit, rolling, later in steps:
        now += later * 0.5
        if kind == "submit":
            for _ in range(2 if rolling else 1):  # a rolling call of two: its first answer moves its deadline
                rid += 1
                waiting_ids.append((rid, None))  # type: ignore[arg-type]
            ids = [i for i, _ in waiting_ids[-(2 if rolling else 1) :]]
            call = ex.submit([(i, wire.encode((i, "m"))) for i in ids], now=now, limit=limit, rolling=rolling)
            waiting_ids[-len(ids) :] = [(i, call) for i in ids]
            calls.append(call)
            flush(ex)
        elif kind == "answer" and waiting_ids:
            i, _ = waiting_ids.pop(0)
            ex.received(wire.encode((i, "m")), now)
        elif kind == "expire":
            due = {id(c) for c in calls if not c.done and c.deadline is not None and c.deadline <= now}
            ended = ex.expire(now)
            assert due <= {id(c) for c in ended}
            assert all(isinstance(c.error, sb.CallTimeout) for c in ended if id(c) in due)
        elif kind == "abandon" and calls and not calls[-1].done:
            ex.abandon(calls[-1])
        live = [c.deadline for c in calls if not c.done and c.deadline is not None]
        assert ex.next_deadline() == (min(live) if live else None)


@given(
    pattern=st.lists(st.integers(0, 40), min_size=1, max_size=8), count=st.integers(0, 1600), small=st.integers(0, 40)
)
@example(pattern=[3], count=1100, small=10)  # three slices, joined
@example(pattern=[30], count=1100, small=10)  # three slices, left alone
@settings(max_examples=60, deadline=None)
def test_pack_frames_joins_small_frames_with_their_ends_and_leaves_large_ones_alone(
    pattern: list[int], count: int, small: int
) -> None:
    """Every message is encoded once, in order, slice after slice; small frames (judged on the first slice)
    come back joined with where each ends, others as they are."""
    sizes = list(itertools.islice(itertools.cycle(pattern), count))
    frames = [bytes([i % 256]) * n for i, n in enumerate(sizes)]
    asked: list[int] = []

    def encode(start: int, stop: int) -> list[bytes]:
        asked.extend(range(start, min(stop, len(frames))))
        return frames[start:stop]

    got = pack_frames(encode, len(frames), small)
    assert asked == list(range(len(frames)))
    first = frames[:512]
    if sum(map(len, first)) > small * len(first):
        assert got == frames and not isinstance(got, Packed)
    else:
        assert got == Packed(b"".join(frames), list(itertools.accumulate(map(len, frames))))
