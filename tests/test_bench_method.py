"""Tests of the benchmark method itself: pinning, interleaving, the hand loops, the runner.

Run with ``.venv/bin/pytest benchmarks/test_method.py`` (not under ``tests/``: it checks
the measuring tools, not the library).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.common import CHILDREN, CODECS, PINNED, ROOT, UNPINNED, Rounds, cpu_mode, interleave, sample
from benchmarks.handloops import HandLoop, HandPipeline


def _allowed_of(pid: int) -> str:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("Cpus_allowed_list:"):
            return row.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning cannot be observed on one CPU")
def test_pinned_mode_pins_every_thread_and_new_children_then_restores() -> None:
    before = os.sched_getaffinity(0)
    release = threading.Event()
    idle = threading.Thread(target=release.wait)
    idle.start()
    assert idle.native_id is not None
    try:
        with cpu_mode(PINNED) as label:
            (cpu,) = os.sched_getaffinity(0)
            assert label == f"pinned (CPU {cpu})"
            assert os.sched_getaffinity(idle.native_id) == {cpu}  # a thread started before the block
            proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE)
            try:
                assert _allowed_of(proc.pid) == str(cpu)  # children inherit the affinity at spawn
            finally:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait()
        assert os.sched_getaffinity(0) == before
        assert os.sched_getaffinity(idle.native_id) == before
    finally:
        release.set()
        idle.join()


def test_unpinned_mode_changes_nothing() -> None:
    before = os.sched_getaffinity(0)
    with cpu_mode(UNPINNED) as label:
        assert label == "unpinned"
        assert os.sched_getaffinity(0) == before


def test_rounds_alternate_their_order() -> None:
    order: list[str] = []

    def contender(name: str) -> Callable[[], float]:
        def run() -> float:
            order.append(name)
            return 1.0

        return run

    interleave({"a": contender("a"), "b": contender("b"), "c": contender("c")}, 3)
    assert order == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    res = Rounds({"bridge": [2.0, 9.0, 3.0], "hand": [1.0, 1.0, 1.0]})
    assert res.ratio("bridge", "hand") == 3.0  # not median(bridge) / median(hand) by accident
    res = Rounds({"bridge": [2.0, 4.0, 30.0], "hand": [1.0, 4.0, 10.0]})
    assert res.ratio("bridge", "hand") == 2.0
    assert res.median("bridge") / res.median("hand") == 1.0


def _child(codec: str) -> list[str]:
    path = CHILDREN / f"go-{codec}"
    if not path.exists():
        pytest.fail(f"{path} is not built: run `make children`")
    return [str(path)]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("tagged", [False, True])
def test_hand_loop_round_trips_every_size(codec: str, tagged: bool) -> None:
    hand = HandLoop(_child(codec), codec, tagged=tagged)
    try:
        for size in (0, 100, 64 << 10, 1 << 20):
            for i in range(3):
                msg = sample(codec, size, i)
                assert hand.call(msg) == msg
    finally:
        hand.close()


@pytest.mark.parametrize("codec", CODECS)
def test_hand_pipeline_returns_every_answer_in_order(codec: str) -> None:
    pipe = HandPipeline(_child(codec), codec)
    try:
        msgs = [sample(codec, 100, i) for i in range(5000)]
        assert pipe.run(msgs) == msgs
        assert pipe.run(msgs[:7]) == msgs[:7]  # the same child serves the next batch
    finally:
        pipe.close()


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=300
    )


def test_a_quick_section_reports_tables_and_exits_0() -> None:
    done = _bench("--quick", "bridge")
    assert done.returncode == 0, done.stderr
    assert "| lenprefix | 1 MiB  | pinned (CPU" in done.stdout
    assert "| lenprefix | 1 MiB  | unpinned" in done.stdout
    assert "Section bridge failed" not in done.stdout


def test_an_unknown_section_is_a_usage_error_naming_the_sections() -> None:
    done = _bench("bridges")
    assert done.returncode == 2
    assert "unknown section(s) bridges" in done.stderr
    assert "bridge" in done.stderr
