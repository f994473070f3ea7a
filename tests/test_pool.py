"""BridgePool and AsyncBridgePool: routing, order, isolation of a failing child, stats."""

from __future__ import annotations

import asyncio
import threading

import pytest

import stdiobridge as sb

from childprogs import faulty


def test_map_keeps_order_over_all_children() -> None:
    with sb.BridgePool(["cat"], size=3, codec="jsonl") as pool:
        msgs = [{"i": i} for i in range(3000)]
        assert pool.map(msgs) == msgs
        pids = pool.pids
        assert len(set(pids)) == 3
        per_child = [b.stats.calls for b in pool.bridges]
        assert sum(per_child) == 3000 and all(c > 0 for c in per_child)  # everyone worked
        assert pool.stats.calls == 3000 and pool.stats.spawns == 3


def test_one_child_crashing_on_a_payload_fails_only_that_request() -> None:
    with sb.BridgePool(faulty("crash-before-reply"), size=4, timeout=20) as pool:
        msgs = [f"m{i}" for i in range(400)]
        msgs[137] = "poison!"
        results = pool.map(msgs, return_exceptions=True)
        for i, r in enumerate(results):
            if i == 137:
                assert isinstance(r, sb.ChildExited) and r.returncode == 3
            else:
                assert r == msgs[i]
        assert pool.map([f"n{i}" for i in range(200)]) == [f"n{i}" for i in range(200)]
        assert pool.stats.restarts == 1 and len(set(pool.pids)) == 4  # the dead child was replaced
        with pytest.raises(sb.ChildExited) as info:
            pool.map(["a", "b!", "c"])
        assert list(info.value.results) == ["a"]


def test_chunked_map_pipelines_and_a_crash_fails_only_its_chunk() -> None:
    with sb.BridgePool(faulty("crash-before-reply"), size=2, timeout=20) as pool:
        msgs = [f"m{i}" for i in range(1000)]
        assert pool.map(msgs, chunksize=100) == msgs
        msgs[250] = "poison!"
        results = pool.map(msgs, chunksize=100, return_exceptions=True)
        bad = [i for i, r in enumerate(results) if isinstance(r, sb.BridgeError)]
        assert 250 in bad and set(bad) <= set(range(250, 300))  # at most the rest of its chunk
        assert all(results[i] == msgs[i] for i in range(1000) if i not in bad)
        with pytest.raises(sb.ConfigError, match="chunksize"):
            pool.map(msgs, chunksize=0)


def test_call_routes_to_an_idle_child() -> None:
    with sb.BridgePool(faulty("late", 0.5), size=2, timeout=10) as pool:
        busy = threading.Thread(target=pool.call, args=("slow!",))
        busy.start()
        while max(pool._outstanding) == 0:
            pass
        slow_child = pool._outstanding.index(1)
        assert pool.call("quick") == "quick"  # did not queue behind the slow one
        assert pool.bridges[1 - slow_child].stats.calls == 1
        busy.join()


def test_closed_pool_refuses_calls_and_bad_size() -> None:
    pool = sb.BridgePool(["cat"], size=1)
    pool.close()
    with pytest.raises(sb.BridgeClosed):
        pool.call("x")
    with pytest.raises(sb.ConfigError, match="'size' must be an integer >= 1"):
        sb.BridgePool(["cat"], size=0)


def test_async_pool_map_order_and_isolation() -> None:
    async def main() -> None:
        async with sb.AsyncBridgePool(faulty("crash-before-reply"), size=2, timeout=20) as pool:
            msgs = [f"m{i}" for i in range(200)]
            assert await pool.map(msgs) == msgs
            assert len(set(pool.pids)) == 2
            msgs[50] = "poison!"
            results = await pool.map(msgs, return_exceptions=True)
            assert isinstance(results[50], sb.ChildExited)
            ok = [r for i, r in enumerate(results) if i != 50]
            # the crashing child also fails the requests it held in flight; every other child's succeed
            assert sum(r == m for r, m in zip(ok, msgs[:50] + msgs[51:], strict=True)) >= 100
            assert await pool.call("after") == "after"

    asyncio.run(asyncio.wait_for(main(), 120))
