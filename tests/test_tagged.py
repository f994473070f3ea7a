"""Tagged mode end to end: request ids on the wire, against real children.

The fault matrix runs in tagged mode too (tests/test_bridge_faults.py, ``*-tagged``);
these are the promises only ids can keep.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import stdiobridge as sb

from childprogs import HERE, faulty

CHILDREN = Path(__file__).resolve().parent.parent / "build" / "children"
CODECS = ["lines", "jsonl", "lenprefix", "msgpack"]


def _message(codec: str, i: int) -> Any:
    return {"lines": f"m{i}", "jsonl": {"i": i}, "lenprefix": f"m{i}".encode(), "msgpack": [i, b"x"]}[codec]


@pytest.mark.parametrize("how", ["together", "apart"])
@pytest.mark.parametrize("codec", CODECS)
def test_stray_stdout_before_an_answer_is_a_protocol_error_every_time(codec: str, how: str) -> None:
    child = [sys.executable, str(HERE / "stray.py"), codec, how]
    with sb.Bridge(child, codec=codec, tagged=True, timeout=10) as br:
        for i in range(3):
            with pytest.raises(sb.ProtocolError):
                br.call(_message(codec, i))
        assert br.stats.calls == 0


def test_a_late_answer_is_dropped_and_the_same_child_answers_the_next_call() -> None:
    with sb.Bridge(faulty("late", 0.3), tagged=True, timeout=5) as br:
        assert br.call("warm") == "warm"
        pid = br.pid
        with pytest.raises(sb.CallTimeout, match="kept"):
            br.call("slow!", timeout=0.05)
        assert br.pid == pid and br.alive
        assert [br.call(f"mine {i}") for i in range(3)] == [f"mine {i}" for i in range(3)]
        assert br.pid == pid and br.stats.late == 1 and br.stats.restarts == 0


@pytest.fixture(scope="module")
def concurrent_child() -> list[str]:
    path = CHILDREN / "go-concurrent"
    assert path.exists(), f"{path} is missing: run `make children` (make test does)"
    return [str(path)]


def test_threads_share_one_tagged_bridge_and_their_calls_overlap(concurrent_child: list[str]) -> None:
    spans: list[tuple[float, float]] = []
    wrong: list[str] = []
    with sb.Bridge(concurrent_child, codec="jsonl", tagged=True, timeout=20) as br:

        def worker(t: int) -> None:
            for i in range(5):
                msg = {"sleep_ms": 30, "thread": t, "i": i}
                start = time.monotonic()
                got = br.call(msg)
                spans.append((start, time.monotonic()))
                if got != msg:
                    wrong.append(f"{msg} got {got}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not wrong and len(spans) == 40
        assert br.stats.calls == 40 and br.stats.spawns == 1
    overlapping = sum(1 for a, b in spans for c, d in spans if (a, b) < (c, d) and c < b)
    assert overlapping > 0  # serialised calls would never overlap


def test_a_tagged_call_waiting_for_a_slow_answer_lets_other_threads_through(concurrent_child: list[str]) -> None:
    """A call that waits for its answer in the fast path (the child was idle) holds the pipes, not the
    bridge: other threads' calls go out and come back meanwhile, and the slow one still ends cleanly."""
    br = sb.Bridge(concurrent_child, codec="jsonl", tagged=True, timeout=30, close_timeout=0.3, terminate_timeout=0.3)
    br.start()
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            br.call({"sleep_ms": 60_000})
        except BaseException as exc:
            errors.append(exc)

    waiting = threading.Thread(target=slow)
    waiting.start()
    deadline = time.monotonic() + 5
    while br.stats.bytes_sent == 0 and time.monotonic() < deadline:  # its request is out: it waits
        time.sleep(0.001)
    assert br.stats.bytes_sent > 0
    got: list[Any] = [None] * 4

    def fast(i: int) -> None:
        got[i] = br.call({"i": i}, timeout=5)

    threads = [threading.Thread(target=fast, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    assert got == [{"i": i} for i in range(4)]
    br.close()
    waiting.join(5)
    assert not waiting.is_alive()
    assert len(errors) == 1 and type(errors[0]) is sb.BridgeClosed


def test_async_bridge_takes_answers_in_the_order_the_child_gives_them(concurrent_child: list[str]) -> None:
    async def main() -> list[int]:
        async with sb.AsyncBridge(concurrent_child, codec="jsonl", tagged=True, timeout=20) as br:
            done: list[int] = []

            async def one(ms: int) -> None:
                assert await br.call({"sleep_ms": ms}) == {"sleep_ms": ms}
                done.append(ms)

            await asyncio.gather(one(400), one(10), one(150))
            return done

    assert asyncio.run(asyncio.wait_for(main(), 60)) == [10, 150, 400]


def _reference_children() -> list[tuple[str, str]]:
    found = []
    for path in sorted(CHILDREN.glob("*-*")) if CHILDREN.exists() else []:
        codec = path.name.partition("-")[2]
        if codec in CODECS:
            found.append((path.name, codec))
    return found


def test_the_reference_children_are_built() -> None:
    assert len(_reference_children()) >= 10, "run `make children` (make test does)"  # Go, Racket and Rust


@pytest.mark.parametrize(("name", "codec"), _reference_children())
def test_every_reference_child_serves_a_tagged_bridge(name: str, codec: str) -> None:
    msgs = [_message(codec, i) for i in range(50)]
    with sb.Bridge([str(CHILDREN / name)], codec=codec, tagged=True, timeout=30) as br:
        assert br.call(msgs[0]) == msgs[0]
        assert br.call_many(msgs) == msgs

    async def main() -> list[Any]:
        async with sb.AsyncBridge([str(CHILDREN / name)], codec=codec, tagged=True, timeout=30) as ab:
            return list(await asyncio.gather(*(ab.call(m) for m in msgs)))

    assert asyncio.run(asyncio.wait_for(main(), 60)) == msgs


def test_the_child_is_told_whether_it_is_tagged() -> None:
    show = [
        sys.executable,
        "-c",
        "import os,sys\nfor l in sys.stdin: print(l.split(' ',1)[0]+' '+os.environ['STDIOBRIDGE_TAGGED'], flush=True)",
    ]
    with sb.Bridge(show, tagged=True) as br:
        assert br.call("x") == "1"
    untagged = [
        sys.executable,
        "-c",
        "import os,sys\nfor l in sys.stdin: print(os.environ['STDIOBRIDGE_TAGGED'], flush=True)",
    ]
    with sb.Bridge(untagged, env={"STDIOBRIDGE_TAGGED": "1"}) as br:
        assert br.call("x") == "0"  # the host's word wins over an inherited value
