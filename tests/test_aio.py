"""AsyncBridge specifics: concurrency, pipelining, backpressure, cancellation, prompt failure.

The fault matrix itself runs against AsyncBridge too (tests/test_bridge_faults.py, [async]).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

import stdiobridge as sb

from childprogs import faulty


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 120))  # type: ignore[arg-type]


def test_a_thousand_concurrent_calls_each_get_their_own_answer() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(["cat"], codec="jsonl", max_pending=64) as br:
            msgs = [{"caller": i, "token": os.urandom(8).hex()} for i in range(1000)]
            got = await asyncio.gather(*(br.call(m) for m in msgs))
            assert got == msgs
            assert br.stats.calls == 1000

    run(main())


def test_backpressure_bounds_the_calls_in_flight() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("late", 0.02), codec="lines", max_pending=8) as br:
            await br.start()
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, br.in_flight)
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            got = await asyncio.gather(*(br.call(f"m{i}!") for i in range(24)))
            watcher.cancel()
            assert got == [f"m{i}!" for i in range(24)]
            assert 1 < peak <= 8

    run(main())


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
def test_cancelling_a_hundred_random_waiters_keeps_the_pairing(tagged: bool) -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("late", 0.001), codec="lines", max_pending=128, tagged=tagged) as br:
            tasks = [asyncio.create_task(br.call(f"request {i}!")) for i in range(1000)]
            while br.stats.calls < 200:  # the middle of the run: some answered, 128 in flight
                await asyncio.sleep(0.005)
            in_flight = br.in_flight
            alive = [i for i, t in enumerate(tasks) if not t.done()]
            doomed = set(random.Random(7).sample(alive, 100))
            for i in doomed:
                tasks[i].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for i, result in enumerate(results):
                if i in doomed:
                    assert isinstance(result, asyncio.CancelledError)
                else:
                    assert result == f"request {i}!"  # never someone else's answer
            assert in_flight > 50  # cancelled waiters included requests already written
            assert await br.call("after") == "after"
            assert br.stats.spawns == 1

    run(main())


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
def test_a_caller_that_gives_up_in_wait_for_leaves_the_others_their_answers(tagged: bool) -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("late", 0.3), codec="lines", tagged=tagged) as br:
            await br.start()
            first = asyncio.create_task(br.call("first"))
            await asyncio.sleep(0)  # in flight: the next calls join it
            slow = br.call("slow!")
            behind = [asyncio.create_task(br.call(f"behind {i}")) for i in range(5)]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(slow, 0.05)
            assert await first == "first"
            assert await asyncio.gather(*behind) == [f"behind {i}" for i in range(5)]
            assert await br.call("after") == "after"
            assert br.stats.spawns == 1
            assert br.stats.late == 1  # the answer it gave up on: dropped, counted

    run(main())


def test_answered_calls_are_no_work_for_the_garbage_collector() -> None:
    async def main() -> int:
        async with sb.AsyncBridge(["cat"], codec="lines", max_pending=64) as br:
            await br.call("warm")
            gc.collect()
            gc.disable()
            try:
                got = await asyncio.gather(*(br.call(f"m{i}") for i in range(500)))
                assert got == [f"m{i}" for i in range(500)]
                return gc.collect()
            finally:
                gc.enable()

    found = run(main())
    assert isinstance(found, int) and found < 500  # a call and its request pointing at each other: 4 objects each


def test_an_exception_escaping_one_answered_caller_leaves_none_of_the_others_waiting() -> None:
    loop = asyncio.new_event_loop()
    br = sb.AsyncBridge(["cat"], codec="lines", max_pending=64)
    try:
        loop.run_until_complete(br.start())

        async def caller(i: int) -> str:
            got: str = await br.call(f"m{i}")
            if i == 3:
                raise KeyboardInterrupt  # out of the loop, from inside the step that took the answer
            return got

        tasks = [loop.create_task(caller(i)) for i in range(20)]
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.gather(*tasks))
        rest = asyncio.gather(*(t for i, t in enumerate(tasks) if i != 3))
        assert loop.run_until_complete(asyncio.wait_for(rest, 10)) == [f"m{i}" for i in range(20) if i != 3]
        assert loop.run_until_complete(br.call("after")) == "after"
    finally:
        loop.run_until_complete(br.aclose())
        loop.close()


def test_when_the_child_dies_every_call_in_flight_fails_promptly() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("crash-before-reply"), codec="lines", timeout=30) as br:
            await br.start()
            start = time.monotonic()
            calls = [br.call("fine 1"), br.call("boom!"), *(br.call(f"later {i}") for i in range(20))]
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert time.monotonic() - start < 5  # nobody waited for the 30 s deadline
            assert results[0] == "fine 1"
            assert all(isinstance(r, sb.ChildExited) for r in results[1:])
            assert await br.call("recovered") == "recovered"

    run(main())


def test_a_timeout_fails_the_others_in_flight_and_recycles() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("hang"), codec="lines", timeout=30, startup_timeout=30) as br:
            await br.start()
            start = time.monotonic()
            stuck = br.call("stuck!", timeout=0.3)
            behind = [br.call(f"behind {i}") for i in range(5)]
            results = await asyncio.gather(stuck, *behind, return_exceptions=True)
            assert time.monotonic() - start < 2
            assert isinstance(results[0], sb.CallTimeout)
            assert all(isinstance(r, sb.ChildExited) and "timed out" in str(r) for r in results[1:])
            assert await br.call("next") == "next"

    run(main())


def test_call_many_beyond_max_pending_goes_out_as_answers_make_room(make_bridge: Callable[..., Any]) -> None:
    """More messages than ``max_pending``: the rest wait for answers, then go out. (AsyncBridge once sent
    only the first window, and the call timed out.) Both fronts, with and without ids."""
    with make_bridge(["cat"], codec="lines", max_pending=3, timeout=2) as br:
        msgs = [f"m{i}" for i in range(50)]
        assert br.call_many(msgs) == msgs  # small frames: one batch
        assert br.call_many(msgs[:3]) == msgs[:3]  # exactly one window
        big = [f"{i}" * (40 << 10) for i in range(10)]
        assert br.call_many(big) == big  # large frames: one request each
        assert br.call("after") == "after"
        assert br.stats.failures == 0 and br.stats.timeouts == 0


def test_no_64_kib_line_limit_and_large_frames_both_ways() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(["cat"], codec="lines") as br:
            line = "x" * (3 << 20)
            assert await br.call(line) == line
        async with sb.AsyncBridge(["cat"], codec="lenprefix") as br:
            blobs = [os.urandom(8 << 20) for _ in range(3)]
            assert await br.call_many(blobs) == blobs

    run(main())


def test_call_many_failure_carries_results_and_encode_errors_send_nothing() -> None:
    async def main() -> None:
        async with sb.AsyncBridge(faulty("crash-before-reply"), codec="lines", timeout=10) as br:
            with pytest.raises(sb.EncodeError):
                await br.call_many(["ok", "bad\nline"])
            assert br.stats.bytes_sent == 0
            with pytest.raises(sb.ChildExited) as info:
                await br.call_many(["a", "b", "c!", "d"])
            assert list(info.value.results) == ["a", "b"]

    run(main())


def test_aclose_lets_calls_in_flight_finish_and_later_calls_raise() -> None:
    async def main() -> None:
        br = sb.AsyncBridge(faulty("late", 0.2), codec="lines", close_timeout=5)
        await br.start()
        pending = asyncio.create_task(br.call("slow!"))
        await asyncio.sleep(0.05)
        await br.aclose()
        assert await pending == "slow!"  # EOF lets the child finish what it holds
        with pytest.raises(sb.BridgeClosed):
            await br.call("x")
        await br.aclose()

    run(main())


def test_from_config_and_max_calls() -> None:
    async def main() -> None:
        async with sb.AsyncBridge.from_config({"command": ["cat"], "codec": "msgpack", "max_calls": 10}) as br:
            got = await asyncio.gather(*(br.call({"i": i}) for i in range(35)))
            assert got == [{"i": i} for i in range(35)]
            assert br.stats.spawns == 4 and br.stats.restarts == 0

    run(main())
