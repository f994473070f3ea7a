"""The fault matrix: each fault is a real child program misbehaving in one way.

Every test bounds its own time (small timeouts, pytest-timeout as a backstop).
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import stdiobridge as sb
from stdiobridge.codecs.lenprefix import LenPrefixDecoder

from childprogs import bigframe, faulty
from helpers import open_fds, running, state, wait_gone, zombies_of

MakeBridge = Callable[..., Any]


def test_crash_before_reply_reports_status_and_stderr_then_recovers(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("crash-before-reply"), timeout=10) as br:
        assert br.call("warm") == "warm"
        first = br.pid
        with pytest.raises(sb.ChildExited) as info:
            br.call("boom!")
        err = info.value
        assert err.returncode == 3
        assert "panic: cannot handle" in err.stderr_tail and "panic" in str(err)
        assert "exited with status 3 before answering" in str(err)
        assert br.call("again") == "again" and br.pid != first
        assert br.stats.restarts == 1 and br.stats.failures == 1


def test_crash_mid_frame_keeps_the_partial_bytes(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("crash-mid-frame"), timeout=10) as br:
        with pytest.raises(sb.ChildExited) as info:
            br.call("0123456789!")
        assert info.value.returncode == 4
        assert info.value.partial.endswith(b" 012345" if br.tagged else b"012345")
        assert "segfault in handler" in info.value.stderr_tail
        assert br.call("fine") == "fine"


def test_an_answer_in_two_pieces_with_a_pause_between_is_read_whole(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("half-late", "0.2"), timeout=10) as br:
        assert br.call("warm") == "warm"
        pid, calls = br.pid, br.stats.calls
        assert br.call("0123456789!") == "0123456789!"  # the first half waits in place for the second
        assert br.pid == pid and br.call("next") == "next"
        assert br.stats.calls == calls + 2 and br.stats.failures == 0


def test_the_rest_of_an_answer_that_never_comes_times_out_at_the_deadline(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("half-hang", "0.4"), timeout=0.5, startup_timeout=30) as br:
        assert br.call("warm") == "warm"
        pid = br.pid
        start = time.monotonic()
        with pytest.raises(sb.CallTimeout) as info:
            br.call("0123456789!")
        took = time.monotonic() - start
        assert 0.5 <= took < 0.8  # the wait for the rest (from 0.4 s on) ends at the call's deadline, not later
        assert info.value.received >= len("01234")
        if not br.tagged:  # (tagged, the child is kept: this one reads no more requests)
            assert br.call("fresh") == "fresh" and br.pid != pid


BIG = b"!" + bytes(range(256)) * 1200  # a frame's rest after the first read is big enough to be read into place


@pytest.fixture
def lent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes reported to ``LenPrefixDecoder.buffer_updated``: reads that went straight into a frame."""
    sizes: list[int] = []
    real = LenPrefixDecoder.buffer_updated

    def spy(self: Any, nbytes: int) -> list[Any]:
        sizes.append(nbytes)
        return real(self, nbytes)

    monkeypatch.setattr(LenPrefixDecoder, "buffer_updated", spy)
    return sizes


def test_a_big_answer_in_two_pieces_is_read_into_place_and_comes_back_whole(
    make_bridge: MakeBridge, lent: list[int]
) -> None:
    with make_bridge(bigframe("split", "0.2"), codec="lenprefix", timeout=10) as br:
        assert br.call(b"warm") == b"warm"
        pid, calls, received = br.pid, br.stats.calls, br.stats.bytes_received
        answer = br.call(BIG)
        assert answer == BIG and type(answer) is bytes
        assert lent and sum(lent) < len(BIG)  # the rest was read into place, after a first plain read
        frame = len(BIG) + 4 + (4 if br.tagged else 0)
        assert br.stats.bytes_received - received == frame and br.stats.calls == calls + 1
        assert br.pid == pid and br.call(b"next") == b"next" and br.stats.failures == 0


def test_a_crash_inside_a_big_answer_keeps_its_first_bytes(make_bridge: MakeBridge, lent: list[int]) -> None:
    with make_bridge(bigframe("crash-mid"), codec="lenprefix", timeout=10) as br:
        assert br.call(b"warm") == b"warm"
        with pytest.raises(sb.ChildExited) as info:
            br.call(BIG)
        assert info.value.returncode == 4 and "segfault in handler" in info.value.stderr_tail
        assert info.value.partial and BIG[:16] in info.value.partial
        assert br.call(b"fine") == b"fine"


def test_the_rest_of_a_big_answer_that_never_comes_times_out_at_the_deadline(
    make_bridge: MakeBridge, lent: list[int]
) -> None:
    with make_bridge(bigframe("hang-mid"), codec="lenprefix", timeout=0.5, startup_timeout=30) as br:
        assert br.call(b"warm") == b"warm"
        pid = br.pid
        start = time.monotonic()
        with pytest.raises(sb.CallTimeout) as info:
            br.call(BIG)
        assert 0.5 <= time.monotonic() - start < 1.0
        assert info.value.received >= len(BIG) // 2 and lent
        if not br.tagged:  # (tagged, the child is kept: this one reads no more requests)
            assert br.call(b"fresh") == b"fresh" and br.pid != pid


def test_hang_times_out_promptly_kills_the_child_and_next_call_gets_a_new_one(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("hang"), timeout=0.5, startup_timeout=30, max_pending=2) as br:
        assert br.call("x") == "x"
        pid = br.pid
        assert pid is not None
        start = time.monotonic()
        with pytest.raises(sb.CallTimeout) as info:
            br.call("stuck!")
        assert time.monotonic() - start < 1.0  # timeout + 0.5 s
        assert isinstance(info.value, TimeoutError)
        if br.tagged:  # the child is kept: its late answer would be dropped. This one never answers again,
            assert br.pid == pid and running(pid) and "kept" in str(info.value)
            with pytest.raises(sb.CallTimeout):  # so once max_pending ids are abandoned it is stopped
                br.call("again")
        assert not running(pid) and state(pid) != "Z"  # killed and reaped
        assert br.call("next") == "next" and br.pid != pid
        assert br.stats.timeouts == (2 if br.tagged else 1)


def test_timed_out_call_is_never_answered_to_the_next_caller(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("late", 0.5), timeout=5) as br:
        with pytest.raises(sb.CallTimeout):
            br.call("slow answer!", timeout=0.1)
        time.sleep(0.6)  # the late answer would have arrived by now
        assert br.call("mine") == "mine"
        assert [br.call(f"m{i}") for i in range(5)] == [f"m{i}" for i in range(5)]


def test_never_flushing_child_times_out_with_a_flush_hint(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("no-flush")) as br:
        with pytest.raises(sb.CallTimeout, match="flushing stdout") as info:
            br.call("hello", timeout=1.0)
        assert info.value.received == 0


def test_garbage_on_stdout_is_a_protocol_error_showing_the_bytes(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("garbage"), codec="jsonl", timeout=5) as br:
        with pytest.raises(sb.DecodeError) as info:
            br.call({"a": 1})
        assert info.value.excerpt == b"INFO handling request"
        assert "stdout" in str(info.value)
        assert br.pid is None  # recycled


def test_frame_over_max_frame_is_refused_with_bounded_memory(make_bridge: MakeBridge) -> None:
    limit = 1 << 20
    with make_bridge(faulty("huge-line", 64 << 20), codec={"name": "lines", "max_frame": limit}, timeout=20) as br:
        with pytest.raises(sb.FrameTooLarge) as info:
            br.call("give me a lot")
        assert info.value.limit == limit
        assert br.stats.bytes_received <= limit + (2 << 20)  # refused long before 64 MiB arrived


@pytest.mark.parametrize("mode", ["discard", "log"])
def test_stderr_flood_does_not_block_the_child(make_bridge: MakeBridge, mode: str) -> None:
    with make_bridge(faulty("stderr-flood", 50_000_000), stderr=mode, timeout=60) as br:
        assert [br.call(f"q{i}") for i in range(20)] == [f"q{i}" for i in range(20)]
        assert "still working" in br._child.proc.stderr_tail()
        assert len(br._child.proc.stderr_tail()) <= 16 * 1024 + 64


def test_32_mib_request_echoed_while_being_read(make_bridge: MakeBridge) -> None:
    payload = os.urandom(32 << 20)
    with make_bridge(["cat"], codec="lenprefix", timeout=60) as br:
        assert br.call(payload) == payload


def test_exit_at_startup_puts_the_message_in_the_error(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("exit-at-startup"), timeout=5) as br:
        with pytest.raises(sb.ChildExited, match=r"config file /etc/app\.conf is missing") as info:
            br.call("hello")
        assert info.value.returncode == 2


def test_command_not_found_and_not_executable(make_bridge: MakeBridge, tmp_path: Path) -> None:
    with pytest.raises(sb.SpawnError, match=r"cannot start 'no-such-program-xyz': not found on PATH"):
        make_bridge(["no-such-program-xyz"]).start()
    script = tmp_path / "child.sh"
    script.write_text("#!/bin/sh\ncat\n")
    with pytest.raises(sb.SpawnError, match=rf"{script} is not executable"):
        make_bridge([str(script)]).start()
    with pytest.raises(sb.SpawnError, match=rf"{tmp_path / 'missing'} does not exist"):
        make_bridge("./missing --flag", cwd=tmp_path).start()
    noshebang = tmp_path / "noshebang"
    noshebang.write_bytes(b"\x00\x01garbage")
    noshebang.chmod(0o755)
    with pytest.raises(sb.SpawnError, match="Exec format error"):
        make_bridge([str(noshebang)]).start()


def test_child_ignoring_sigterm_is_killed_within_the_grace_times(make_bridge: MakeBridge) -> None:
    br = make_bridge(faulty("ignore-sigterm"), close_timeout=0.3, terminate_timeout=0.3)
    assert br.call("x") == "x"
    pid = br.pid
    assert pid is not None
    start = time.monotonic()
    br.close()
    assert time.monotonic() - start < 1.5
    assert state(pid) is None


def test_grandchildren_do_not_survive_close(make_bridge: MakeBridge, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    br = make_bridge(faulty("grandchild", pidfile))
    assert br.call("x") == "x"
    grandchild = int(pidfile.read_text())
    assert running(grandchild)
    br.close()
    assert wait_gone(grandchild, 3.0)


def test_grandchildren_do_not_survive_a_recycle(make_bridge: MakeBridge, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    with make_bridge(faulty("grandchild", pidfile), max_calls=1) as br:
        assert br.call("x") == "x"
        grandchild = int(pidfile.read_text())
        assert br.call("y") == "y"  # the first child was retired before this call
        assert wait_gone(grandchild, 3.0)


def test_eight_threads_five_hundred_calls_each_no_cross_talk(make_bridge: MakeBridge) -> None:
    errors: list[str] = []
    with make_bridge(["cat"], timeout=20) as br:

        def worker(t: int) -> None:
            for i in range(500):
                msg = f"thread {t} call {i}"
                got = br.call(msg)
                if got != msg:
                    errors.append(f"{msg!r} got {got!r}")

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert not errors
        assert br.stats.calls == 4000


def test_killed_while_idle_is_respawned_transparently(make_bridge: MakeBridge) -> None:
    with make_bridge(["cat"], timeout=5) as br:
        assert br.call("a") == "a"
        pid = br.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        assert br.call("b") == "b"
        assert br.pid != pid and br.stats.restarts == 1 and br.stats.failures == 0


def test_crash_on_every_call_hits_the_restart_limit_and_fails_fast(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("crash-every-call"), max_restarts=3, restart_window=60, timeout=10) as br:
        for _ in range(4):
            with pytest.raises(sb.ChildExited, match="exited with status 5"):
                br.call("x")
        spawns = br.stats.spawns
        start = time.monotonic()
        for _ in range(50):
            with pytest.raises(sb.ChildExited, match=r"restart limit reached: 3 restarts within 60 s"):
                br.call("x")
        assert time.monotonic() - start < 0.5  # fail fast, no spawning
        assert br.stats.spawns == spawns == 4


def test_restart_false_reports_the_child_is_gone(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("crash-before-reply"), restart=False, timeout=5) as br:
        with pytest.raises(sb.ChildExited):
            br.call("x!")
        with pytest.raises(sb.ChildExited, match="restart=False"):
            br.call("y")


def test_invalid_utf8_strict_and_replace(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("invalid-utf8"), timeout=5) as br, pytest.raises(sb.DecodeError, match="utf-8 at byte 3"):
        br.call("x")
    with make_bridge(faulty("invalid-utf8"), codec={"name": "lines", "errors": "replace"}, timeout=5) as br:
        assert br.call("x") == "caf\ufffd \ufffd"


def test_double_answer_is_caught_before_it_reaches_the_next_caller(make_bridge: MakeBridge) -> None:
    with make_bridge(faulty("double-answer"), timeout=5) as br:
        answers: list[str] = []
        pattern = r"already answered" if br.tagged else r"more responses than requests|no request asked for"
        with pytest.raises(sb.ProtocolError, match=pattern):
            for msg in ("x", "y", "z"):
                answers.append(br.call(msg))
        assert answers in ([], ["x"])  # the stale second "x" never answers "y"
        assert br.pid is None


def test_a_thousand_restarts_leak_no_fd_and_leave_no_zombie() -> None:
    with sb.Bridge(["cat"]) as warm:  # the host's one watchdog exists from the first child on
        warm.call("x")
    gc.collect()  # bridges of earlier tests let go of theirs
    fds = open_fds()
    with sb.Bridge(["head", "-n", "1"], timeout=5, max_restarts=10**6) as br:
        for i in range(1000):
            assert br.call(f"call {i}") == f"call {i}"  # each child answers once, then exits
        assert br.stats.spawns == 1000
    assert open_fds() == fds
    assert zombies_of(os.getpid()) == []
