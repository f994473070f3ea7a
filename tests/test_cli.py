"""The ``stdiobridge`` command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GO = ROOT / "build" / "children"


def cli(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stdiobridge.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_codecs_lists_names_and_sources() -> None:
    out = cli("codecs")
    assert out.returncode == 0
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines())
    assert lines["jsonl"] == "built-in" and lines["msgpack"] == "built-in"
    assert lines["rot13-lines"].startswith("plugin stdiobridge-sample-codec")


def test_run_jsonl_from_stdin() -> None:
    out = cli("run", "--codec", "jsonl", "--", str(GO / "go-jsonl"), stdin='{"a": 1}\n[1, "two"]\n')
    assert out.returncode == 0, out.stderr
    assert [json.loads(x) for x in out.stdout.splitlines()] == [{"a": 1}, [1, "two"]]


def test_run_lines_from_a_file_and_from_config(tmp_path: Path) -> None:
    messages = tmp_path / "in.txt"
    messages.write_text("hello\nwörld\n")
    out = cli("run", "--codec", "lines", "--input", str(messages), "--", "cat")
    assert out.stdout == "hello\nwörld\n"
    cfg = tmp_path / "stdiobridge.toml"
    cfg.write_text(f'command = ["{GO / "go-lenprefix"}"]\ncodec = "lenprefix"\n')
    out = cli("run", "--config", str(cfg), stdin="raw bytes\n")
    assert out.returncode == 0 and out.stdout == "raw bytes\n"


def test_bench_prints_a_table_with_the_ratio() -> None:
    out = cli("bench", "--codec", "lines", "--count", "300", "--spawn-count", "5", "--", str(GO / "go-lines"))
    assert out.returncode == 0, out.stderr
    assert "spawn per call" in out.stdout and "persistent Bridge.call" in out.stdout
    assert "faster per call" in out.stdout


def test_bad_input_gives_one_clear_line_and_no_traceback() -> None:
    cases = [
        (("run", "--codec", "jsonl", "--", "cat"), "not json\n", "input line 1 is not JSON"),
        (("run", "--codec", "nope", "--", "cat"), "", "unknown codec 'nope'"),
        (("run", "--codec", "lines", "--", "/no/such/child"), "x\n", "/no/such/child does not exist"),
        (("run", "--codec", "lines"), "x\n", "setting 'command' is missing"),
        (("conform", "--codec", "lines"), "", "give the child's command after `--`"),
    ]
    for args, stdin, message in cases:
        out = cli(*args, stdin=stdin)
        assert out.returncode != 0, args
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_help_everywhere() -> None:
    for args in ((), ("run",), ("bench",), ("conform",), ("codecs",)):
        out = cli(*args, "--help")
        assert out.returncode == 0 and "usage: stdiobridge" in out.stdout


# --- issue 12: a newcomer's first hour ----------------------------------------------------------

FAULTY = [sys.executable, str(ROOT / "tests" / "childprogs" / "faulty.py")]
ODD = [sys.executable, str(ROOT / "tests" / "conform_children.py")]


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (no traceback)."""
    assert out.returncode == 1, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("stdiobridge ")]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_run_streams_each_answer_before_the_next_line_is_written() -> None:
    """Interactive use: an answer is printed while stdin is still open, not when a batch of 256 fills."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stdiobridge", "run", "--codec", "lines", "--", str(GO / "go-lines")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for word in (b"first", b"second"):
            proc.stdin.write(word + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, f"no answer to {word!r} while stdin stays open"
            assert proc.stdout.readline() == word + b"\n"
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_run_keeps_the_answers_received_before_the_child_died_and_counts_across_batches() -> None:
    lines = [f"m{i}" for i in range(1, 301)]
    lines[249] = "boom!"  # crash-before-reply dies at the first line with a "!"
    out = cli(
        "run", "--codec", "lines", "--batch", "100", "--", *FAULTY, "crash-before-reply", stdin="\n".join(lines) + "\n"
    )
    assert out.stdout.splitlines() == lines[:249]
    error = one_error_line(out)
    assert "ChildExited" in error and "exited with status 3" in error
    assert "249 answer(s) printed; input line 250 and after were not answered" in error
    assert "of 100 responses" not in error and "of 300" not in error  # no per-batch count
    assert "panic: cannot handle" in out.stderr  # the child's own stderr is inherited


def test_run_names_the_invalid_input_line_after_answering_the_lines_before_it() -> None:
    out = cli("run", "--codec", "jsonl", "--", str(GO / "go-jsonl"), stdin='{"a": 1}\n[2]\nnot json\n{"b": 3}\n')
    assert [json.loads(x) for x in out.stdout.splitlines()] == [{"a": 1}, [2]]
    assert "input line 3 is not JSON" in one_error_line(out)


def test_run_prints_what_json_and_utf8_cannot_hold_without_crashing() -> None:
    out = cli("run", "--codec", '{name="lines", errors="surrogateescape"}', "--", *FAULTY, "invalid-utf8", stdin="x\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "caf\\xe9 \\xff\n"
    raw = subprocess.run(
        [sys.executable, "-m", "stdiobridge", "run", "--codec", "lenprefix", "--", str(GO / "go-lenprefix")],
        input=b"caf\xe9\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert raw.returncode == 0 and raw.stdout == b"caf\\xe9\n", raw.stderr
    out = cli("run", "--codec", "msgpack", "--", *ODD, "msgpack-odd", stdin='{"x": 1}\n')
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["1"] == "one" and shown["null"] == "\\xff\x00"
    assert shown["ext"] == "ExtType(code=5, data=b'ab')" and shown["t"].startswith("Timestamp(seconds=1")


def test_a_child_reading_another_width_is_not_only_told_to_flush() -> None:
    out = cli("run", "--codec", "lenprefix", "--timeout", "1", "--", *ODD, "lenprefix", "8", stdin="hello\n")
    error = one_error_line(out)
    assert "CallTimeout" in error and "may read another framing" in error and "width=4" in error


def test_timeout_inf_means_no_limit_and_a_bad_timeout_is_a_usage_error() -> None:
    for spelling in ("inf", "none"):
        out = cli("run", "--codec", "lines", "--timeout", spelling, "--", str(GO / "go-lines"), stdin="hello\n")
        assert out.returncode == 0 and out.stdout == "hello\n", out.stderr
    out = cli("run", "--codec", "lines", "--timeout", "-1", "--", str(GO / "go-lines"), stdin="hello\n")
    assert out.returncode == 2 and "seconds must be > 0" in out.stderr and "Traceback" not in out.stderr


def test_subcommand_help_shows_where_the_command_goes() -> None:
    for sub in ("run", "bench", "conform"):
        out = cli(sub, "--help")
        assert out.returncode == 0
        assert "-- COMMAND [ARG ...]" in out.stdout.splitlines()[0], out.stdout
        assert "config file's folder" in " ".join(out.stdout.split())


def _plugin_path(tmp_path: Path, name: str, source: str, entry: str) -> dict[str, str]:
    """A real installed distribution (a dist-info with an entry point) on PYTHONPATH, for one subprocess."""
    (tmp_path / f"{name}.py").write_text(source)
    info = tmp_path / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[stdiobridge.codecs]\n{entry}\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


NETSTRING = """
from stdiobridge.codecs import Codec, Decoder
from stdiobridge.errors import EncodeError

class NetDecoder(Decoder):
    def __init__(self):
        self.buf = b""
    def feed(self, data):
        self.buf += data
        out = []
        while b":" in self.buf:
            size, rest = self.buf.split(b":", 1)
            if len(rest) < int(size) + 1:
                break
            out.append(rest[: int(size)])
            self.buf = rest[int(size) + 1 :]
        return out
    @property
    def buffered(self):
        return len(self.buf)

class Netstring(Codec):
    name = "netstring"
    def encode(self, message):
        if not isinstance(message, bytes):
            raise EncodeError(f"netstring sends bytes, got {type(message).__name__}")
        return b"%d:%s," % (len(message), message)
    def decoder(self):
        return NetDecoder()
"""


def test_a_bytes_plugin_without_kind_is_named_not_the_child(tmp_path: Path) -> None:
    env = _plugin_path(tmp_path, "netstring_plugin", NETSTRING, "netstring = netstring_plugin:Netstring")
    child = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"]
    for args in (("run", "--codec", "netstring", "--", *child), ("conform", "--codec", "netstring", "--", *child)):
        out = subprocess.run(
            [sys.executable, "-m", "stdiobridge", *args],
            input="hello\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        error = one_error_line(out)
        assert "does not set Codec.kind" in error and "'bytes'" in error, error
        assert "conform" not in args or "checks passed" not in out.stdout  # the child was not run, nor blamed


def test_codecs_marks_a_broken_plugin_and_one_that_shadows_a_built_in(tmp_path: Path) -> None:
    env = _plugin_path(tmp_path, "shadow_plugin", "X = 1\n", "jsonl = shadow_plugin:X")
    out = subprocess.run(
        [sys.executable, "-m", "stdiobridge", "codecs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rows = dict(line.split(None, 1) for line in out.stdout.splitlines())
    assert rows["jsonl"].startswith(
        "built-in; plugin shadow_plugin (shadow_plugin:X) uses this name too and is ignored"
    )
    assert "BROKEN: failed to load" in rows["broken-plugin"]
    assert "BROKEN: is not a stdiobridge.Codec subclass" in rows["not-a-codec"]
    assert "BROKEN" not in rows["rot13-lines"]


def test_a_log_line_on_lenprefix_shows_the_text_and_where_logs_belong() -> None:
    """Not only `FrameTooLarge ... 1229868367 bytes`: the excerpt, and that logs belong on stderr."""
    error = one_error_line(cli("run", "--codec", "lenprefix", "--", *ODD, "lenprefix-log", stdin="hello\n"))
    assert "FrameTooLarge" in error and "b'INFO handling a request" in error
    assert "Logs belong on stderr" in error


TAGGED_CHILD = [sys.executable, str(ROOT / "tests" / "childprogs" / "tagged_faulty.py")]


def test_run_tagged_from_the_flag_or_the_config_and_no_tagged_overrides(tmp_path: Path) -> None:
    """The child answers with its STDIOBRIDGE_TAGGED, as a tagged frame only when tagged: both must agree."""
    out = cli("run", "--tagged", "--codec", "lines", "--", *TAGGED_CHILD, "env", stdin="a\nb\n")
    assert out.returncode == 0 and out.stdout == "1\n1\n", out.stderr
    out = cli("run", "--codec", "lines", "--", *TAGGED_CHILD, "env", stdin="a\n")
    assert out.returncode == 0 and out.stdout == "0\n", out.stderr
    cfg = tmp_path / "stdiobridge.toml"
    cfg.write_text(f'command = {json.dumps([*TAGGED_CHILD, "env", "jsonl"])}\ncodec = "jsonl"\ntagged = true\n')
    out = cli("run", "--config", str(cfg), stdin='{"x": 1}\n')
    assert out.returncode == 0 and out.stdout == '"1"\n', out.stderr
    out = cli("run", "--config", str(cfg), "--no-tagged", stdin='{"x": 1}\n')
    assert out.returncode == 0 and out.stdout == '"0"\n', out.stderr


def test_run_tagged_names_a_child_that_drops_the_ids() -> None:
    out = cli("run", "--tagged", "--codec", "jsonl", "--", *TAGGED_CHILD, "drop-id", "jsonl", stdin='{"a": 1}\n')
    assert out.returncode == 1 and out.stdout == ""
    assert "DecodeError" in out.stderr and "not a tagged frame" in out.stderr and "Traceback" not in out.stderr


def test_bench_tagged_times_tagged_calls_and_tagged_spawns() -> None:
    """Persistent and spawn-per-call runs both speak tagged frames (a drop-id child fails the persistent part)."""
    args = ("bench", "--tagged", "--count", "200", "--spawn-count", "3", "--codec", "msgpack")
    out = cli(*args, "--", str(GO / "go-msgpack"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "tagged" and "faster per call" in out.stdout
    spawned = cli(
        "bench", "--tagged", "--codec", "lines", "--count", "5", "--spawn-count", "2", "--", *TAGGED_CHILD, "env"
    )
    assert spawned.returncode == 0, spawned.stderr  # untagged spawns would answer "0" without an id: not decodable
    bad = cli("bench", "--tagged", "--codec", "lines", "--count", "5", "--", *TAGGED_CHILD, "drop-id")
    assert bad.returncode == 1 and "not a tagged frame" in bad.stderr, bad.stdout + bad.stderr
