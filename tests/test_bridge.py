"""Bridge behaviour against well-behaved children: lifetime, calls, stats, config, cleanup."""

from __future__ import annotations

import gc
import inspect
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import stdiobridge as sb

from childprogs import faulty
from helpers import running, wait_gone

TESTS = Path(__file__).resolve().parent


def test_lazy_start_pid_alive_and_context_manager() -> None:
    br = sb.Bridge(["cat"])
    assert br.pid is None and not br.alive
    with br:
        assert br.alive and br.pid is not None
        pid = br.pid
        assert br.call("hi") == "hi"
    assert br.pid is None and not br.alive
    assert wait_gone(pid)


def test_first_call_starts_the_child() -> None:
    with sb.Bridge("cat", codec="jsonl") as br:
        assert br.call({"a": [1, 2]}) == {"a": [1, 2]}


def test_every_codec_through_cat() -> None:
    for codec, msg in [("lines", "x y"), ("jsonl", [1, None]), ("lenprefix", b"\x00\n"), ("msgpack", {"b": b"x"})]:
        with sb.Bridge(["cat"], codec=codec) as br:
            assert br.call(msg) == msg
            assert br.call_many([msg] * 3) == [msg] * 3


def test_call_many_keeps_order_and_pipelines_large_batches() -> None:
    with sb.Bridge(["cat"], codec="lenprefix", max_pending=16) as br:
        msgs = [os.urandom(i % 3000) for i in range(5000)]
        assert br.call_many(msgs) == msgs
        assert br.call_many([]) == []
        big = [os.urandom(3 << 20) for _ in range(4)]  # large frames both ways at once
        assert br.call_many(big) == big


def test_call_many_failure_carries_the_results_so_far() -> None:
    with sb.Bridge(faulty("crash-before-reply"), timeout=10) as br:
        with pytest.raises(sb.ChildExited, match="after 2 of 4 responses") as info:
            br.call_many(["a", "b", "c!", "d"])
        assert list(info.value.results) == ["a", "b"]


def test_encode_error_sends_nothing() -> None:
    with sb.Bridge(["cat"], codec="lines") as br:
        assert br.call("ok") == "ok"
        with pytest.raises(sb.EncodeError):
            br.call("two\nlines")
        with pytest.raises(sb.EncodeError):
            br.call_many(["fine", "not\nfine"])
        sent = br.stats.bytes_sent
        with pytest.raises(sb.EncodeError, match="position 3"):  # beyond the first slices encoded and joined
            br.call_many(["fine"] * 1500 + ["not\nfine"] + ["also\nnot"])
        assert br.stats.bytes_sent == sent
        assert br.call("still") == "still"
        assert br.stats.restarts == 0


def test_stats_count_calls_and_bytes() -> None:
    with sb.Bridge(["cat"]) as br:
        br.call("abc")
        br.call_many(["d", "e"])
        stats = br.stats
        assert (stats.calls, stats.spawns, stats.restarts, stats.failures) == (3, 1, 0, 0)
        assert stats.bytes_sent == stats.bytes_received == 8
        assert stats + stats == sb.BridgeStats(calls=6, spawns=2, bytes_sent=16, bytes_received=16)


def test_close_is_idempotent_and_later_calls_raise_bridge_closed() -> None:
    br = sb.Bridge(["cat"])
    br.call("x")
    br.close()
    br.close()
    with pytest.raises(sb.BridgeClosed):
        br.call("y")
    with pytest.raises(sb.BridgeClosed):
        br.start()


def test_max_calls_recycles_the_child() -> None:
    with sb.Bridge(["cat"], max_calls=3) as br:
        pids = set()
        for i in range(9):
            assert br.call(str(i)) == str(i)
            pids.add(br.pid)
        assert len(pids - {None}) == 3  # each retired right after its third request, in the background
        assert br.stats.restarts == 0 and br.stats.spawns == 3  # planned recycles are not restarts


def test_env_cwd_and_replace_env(tmp_path: Path) -> None:
    show = [
        sys.executable,
        "-c",
        "import os,sys\nfor l in sys.stdin: print(os.environ.get(l.strip(), '-') + ' ' + os.getcwd(), flush=True)",
    ]
    with sb.Bridge(show, env={"GREETING": "hi"}, cwd=tmp_path) as br:
        assert br.call("GREETING") == f"hi {tmp_path}"
        assert br.call("PATH") != f"- {tmp_path}"  # merged over the host's environment
    with sb.Bridge(show, env={"GREETING": "hi"}, replace_env=True) as br:
        assert br.call("PATH").startswith("- ")


def test_stderr_modes(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    talk = [
        sys.executable,
        "-c",
        "import sys\nfor l in sys.stdin:\n print('note: '+l.strip(), file=sys.stderr, flush=True); print(l, end='', flush=True)",
    ]
    seen: list[str] = []
    with sb.Bridge(talk, stderr=seen.append) as br:
        br.call("one")
    assert seen == ["note: one"]
    with caplog.at_level("INFO", logger="stdiobridge.child"), sb.Bridge(talk) as br:
        br.call("two")
        pid = br.pid
    assert f"[child {pid}] note: two" in caplog.text
    with sb.Bridge(talk, stderr="inherit") as br:
        br.call("three")
    assert "note: three" in capfd.readouterr().err
    with pytest.raises(sb.ConfigError, match="option 'stderr' must be"):
        sb.Bridge(["cat"], stderr="loud").start()  # type: ignore[arg-type]


def test_bad_options_raise_config_errors_naming_them() -> None:
    with pytest.raises(
        sb.ConfigError, match=r"option 'timeout' must be a number of seconds > 0 \(or None for no limit\); got -1"
    ):
        sb.Bridge(["cat"], timeout=-1)
    with pytest.raises(sb.ConfigError, match="option 'max_calls' must be an integer >= 1"):
        sb.Bridge(["cat"], max_calls=0)
    with pytest.raises(sb.ConfigError, match="unknown codec"):
        sb.Bridge(["cat"], codec="nope")


def test_from_config_file_and_mapping(tmp_path: Path) -> None:
    (tmp_path / "stdiobridge.toml").write_text('command = ["cat"]\ncodec = "jsonl"\ntimeout = 3\n')
    with sb.Bridge.from_config(tmp_path / "stdiobridge.toml") as br:
        assert br.call([1]) == [1] and br.timeout == 3
    with sb.Bridge.from_config({"command": "cat", "codec": {"name": "lenprefix", "width": 2}}) as br:
        assert br.call(b"ab") == b"ab"


def test_settings_cover_every_bridge_option() -> None:
    params = set(inspect.signature(sb.Bridge).parameters) - {"command", "unknown"}
    fields = set(sb.load_config({"command": "cat"}, env={}).bridge_options())
    assert params == fields


def test_forgotten_bridge_is_closed_with_a_resource_warning() -> None:
    br = sb.Bridge(["cat"])
    br.call("x")
    pid = br.pid
    assert pid is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del br
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
    assert wait_gone(pid)


def _start_host(mode: str, *args: str, new_session: bool = False) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    host = subprocess.Popen(
        [sys.executable, str(TESTS / "childprogs" / "host.py"), mode, *args],
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=new_session,
    )
    assert host.stdout is not None
    line = host.stdout.readline()
    assert line, "the host did not start its bridge"
    return host, int(line)


@pytest.mark.parametrize("mode", ["plain", "thread"])
def test_child_dies_with_a_sigkilled_host(mode: str) -> None:
    host, child = _start_host(mode)
    try:
        time.sleep(0.2)
        assert running(child)  # a "thread" host: the spawning thread has exited, the child lives on
        host.kill()
        host.wait(5)
        assert wait_gone(child, 5)
    finally:
        host.kill()


def test_killing_the_hosts_process_group_leaves_nothing(tmp_path: Path) -> None:
    """What AWS's Lambda emulator does on a timeout: SIGKILL the runtime's process group."""
    pidfile = tmp_path / "grandchild.pid"
    host, child = _start_host("plain", str(pidfile), new_session=True)
    grandchild = int(pidfile.read_text())
    try:
        assert running(child) and running(grandchild)
        os.killpg(host.pid, signal.SIGKILL)
        host.wait(5)
        assert wait_gone(child, 5) and wait_gone(grandchild, 5)
    finally:
        host.kill()
