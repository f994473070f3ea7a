"""The ``stdiobridge`` command line, run as a real subprocess."""

from __future__ import annotations

import json
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
        (("run", "--codec", "jsonl", "--", "cat"), "not json\n", "input line is not JSON"),
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
