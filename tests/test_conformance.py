"""The conformance kit: every reference child passes it, and each broken child is caught clearly.

Running the kit against the Go and Racket children of every codec is the
cross-language proof that the three implementations agree on the wire.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stdiobridge import Codec, ConfigError, get_codec
from stdiobridge.codecs import LenPrefixCodec
from stdiobridge.conformance import CheckResult, difference, format_report, run_checks, tagged_vector_sets

from childprogs import faulty

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "build" / "children"
CODECS = ("lines", "jsonl", "lenprefix", "msgpack")
ODD = [sys.executable, str(ROOT / "tests" / "conform_children.py")]


def reference(language: str, codec: str) -> list[str]:
    path = CHILDREN / f"{language}-{codec}"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make children` (make test does)")
    return [str(path)]


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


@pytest.mark.parametrize("language", ["go", "racket"])
@pytest.mark.parametrize("codec", CODECS)
def test_reference_children_conform(language: str, codec: str) -> None:
    command = reference(language, codec)
    results = run_checks(command, codec, examples=60, timeout=20)
    report = format_report(command, codec, results)
    assert all(r.passed for r in results), report
    assert "summary: 9 of 9 checks passed" in report


def test_a_child_that_does_not_flush_is_caught() -> None:
    results = by_name(run_checks(faulty("no-flush"), "lines", examples=5, timeout=1))
    echo = results["echo: generated messages"]
    assert not echo.passed and "likely no flush" in echo.detail
    assert "likely no flush" in results["framing: bulk writes"].detail


@pytest.mark.parametrize("codec", ["lines", "jsonl"])
def test_a_child_printing_a_log_line_on_stdout_is_caught_and_every_check_runs(codec: str) -> None:
    """The kit must not crash on the mistake it exists to find (it once ended in a ValueError, no summary)."""
    results = run_checks(faulty("garbage"), codec, examples=5, timeout=5)
    assert len(results) == 9
    named = by_name(results)
    for name in ("echo: generated messages", "stdout: frames only"):
        assert not named[name].passed
        assert "likely a log line on stdout: b'INFO handling request'" in named[name].detail, named[name].detail
    assert "does NOT conform" in format_report(faulty("garbage"), codec, results)


def test_a_jsonl_mismatch_shows_the_first_differing_path_and_both_values() -> None:
    echo = by_name(run_checks([*ODD, "jsonl-int-floats"], "jsonl", examples=50, timeout=10))["echo: generated messages"]
    assert not echo.passed
    assert re.search(r"at \$\S*: sent -?\d+\.0 \(float\), got -?\d+ \(int\)", echo.detail), echo.detail


def test_difference_names_the_path_types_and_key_order() -> None:
    assert (
        difference({"a": [1, {"b": 1.0}]}, {"a": [1, {"b": 1}]}) == "at $['a'][1]['b']: sent 1.0 (float), got 1 (int)"
    )
    assert (
        difference({"a": 1, "b": 2}, {"b": 2, "a": 1})
        == "at $: same keys in another order: sent ['a', 'b'], got ['b', 'a']"
    )
    assert difference([1, 2], [1]) == "at $: sent 2 items, got 1"
    assert difference(b"x", "x") == "at $: sent b'x' (bytes), got 'x' (str)"
    assert difference({"k": [None, True]}, {"k": [None, True]}) is None


@pytest.mark.parametrize(
    "codec",
    [
        {"name": "lenprefix", "width": 1},
        {"name": "lenprefix", "width": 2},
        {"name": "lenprefix", "width": 2, "max_frame": 1000},
    ],
)
def test_a_correct_child_with_small_frames_is_not_blamed(codec: dict[str, object]) -> None:
    """The kit sizes its own messages to the codec's limits (width, max_frame) instead of failing to encode them."""
    child = [*ODD, "lenprefix", str(codec["width"])]
    results = run_checks(child, codec, examples=30, timeout=20)
    assert all(r.passed for r in results), format_report(child, str(codec), results)
    assert "the largest the codec's options allow" in by_name(results)["echo: large messages"].detail


def test_a_child_reading_another_width_is_told_so_within_the_timeout() -> None:
    """Not the flush hint: the answers parse with width=2. And --timeout bounds the large check (no 30 s floor)."""
    results = by_name(run_checks([*ODD, "lenprefix", "2"], "lenprefix", examples=5, timeout=1))
    large = results["echo: large messages"]
    assert not large.passed
    assert "likely a codec mismatch: the answers parse as lenprefix width=2 byteorder=big" in large.detail
    assert "flush" not in large.detail.split(" -- ")[-1]
    assert large.seconds < 15


def test_an_unhashable_msgpack_key_is_not_called_a_log_line() -> None:
    echo = by_name(run_checks([*ODD, "msgpack-array-key"], "msgpack", examples=5, timeout=5))[
        "echo: generated messages"
    ]
    assert not echo.passed
    assert "likely a map keyed by an array or a map" in echo.detail and "this is not a log line" in echo.detail


def test_a_child_that_dies_shows_its_stderr_everywhere() -> None:
    results = run_checks([*ODD, "msgpack-crash"], "msgpack", examples=5, timeout=5)
    for result in results[1:]:
        assert not result.passed and "panic: unsupported message type" in result.detail, result
        assert "exited with status 3 at its first request" in result.detail


def test_a_codec_without_a_usable_kind_is_named_and_the_child_not_run() -> None:
    class NoKind(LenPrefixCodec):
        """A bytes codec that forgot ``kind`` (a ClassVar shadowing the parent's, as a plugin without it has)."""

        name = "nokind"
        kind = Codec.kind

    class OddKind(LenPrefixCodec):
        name = "oddkind"
        kind = "frames"

    with pytest.raises(ConfigError, match=r"codec 'nokind' declares kind 'json' but cannot encode such a message"):
        run_checks(["/no/such/child"], NoKind())
    with pytest.raises(ConfigError, match=r"codec 'oddkind' has kind 'frames'"):
        run_checks(["/no/such/child"], OddKind())


def test_a_child_dropping_a_request_is_caught() -> None:
    results = by_name(run_checks(faulty("drop", 500), "lines", examples=5, timeout=2))
    pipelining = results["pipelining: order kept"]
    assert not pipelining.passed
    assert "were answered" in pipelining.detail and "drop" in pipelining.detail


def test_a_child_ignoring_sigterm_and_eof_is_caught() -> None:
    results = by_name(run_checks(faulty("ignore-sigterm"), "lines", examples=5, timeout=5))
    assert not results["lifetime: exit on SIGTERM"].passed
    assert not results["lifetime: exit 0 on stdin EOF"].passed
    assert results["echo: generated messages"].passed


def test_cli_exit_status_and_report() -> None:
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "stdiobridge.cli",
            "conform",
            "--codec",
            "lenprefix",
            "--examples",
            "10",
            "--",
            *reference("go", "lenprefix"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "summary: 9 of 9 checks passed" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "stdiobridge.cli",
            "conform",
            "--codec",
            "lines",
            "--examples",
            "3",
            "--timeout",
            "1",
            "--",
            *faulty("no-flush"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "does NOT conform" in bad.stdout


def test_a_plugin_codec_is_checked_through_its_kind() -> None:
    """The LSP example plugin (installed by make test) declares JSON messages; the kit knows no more."""
    child = [sys.executable, str(ROOT / "examples" / "custom-codec" / "tests" / "lsp_echo_child.py")]
    results = run_checks(child, "lsp", examples=20, timeout=20)
    assert all(r.passed for r in results), format_report(child, "lsp", results)


def conform_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stdiobridge", "conform", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def test_cli_prints_the_seed_and_replays_it() -> None:
    child = [*ODD, "jsonl-int-floats"]
    first = conform_cli("--codec", "jsonl", "--examples", "40", "--timeout", "5", "--", *child)
    assert first.returncode == 1, first.stdout + first.stderr
    seed = re.search(r"\(seed (\d+), 40 generated messages\)", first.stdout.splitlines()[0])
    assert seed, first.stdout
    assert f"replay this run with --seed {seed[1]}" in first.stdout
    failures = [line for line in first.stdout.splitlines() if "FAIL  echo: generated" in line]
    again = conform_cli("--codec", "jsonl", "--examples", "40", "--timeout", "5", "--seed", seed[1], "--", *child)
    replayed = [line for line in again.stdout.splitlines() if "FAIL  echo: generated" in line]
    strip = re.compile(r"\(\d+\.\d\d s\)$")
    assert [strip.sub("", f) for f in failures] == [strip.sub("", f) for f in replayed]


def test_cli_reads_the_command_and_codec_from_config_and_accepts_timeout_inf(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "echo").symlink_to(reference("go", "msgpack")[0])
    (tmp_path / "stdiobridge.toml").write_text('command = ["./bin/echo"]\ncodec = "msgpack"\n')
    out = conform_cli("--config", str(tmp_path / "stdiobridge.toml"), "--examples", "10", "--timeout", "inf")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "codec msgpack" in out.stdout and "summary: 9 of 9 checks passed" in out.stdout
    for line in out.stdout.splitlines():  # one duration per line, not "(0.3 s) (0.31 s)"
        assert len(re.findall(r"\(\d+(\.\d+)? s\)", line)) <= 1, line


# --- tagged mode: `conform --tagged` -------------------------------------------------------

TAGGED_FAULTY = [sys.executable, str(ROOT / "tests" / "childprogs" / "tagged_faulty.py")]
TAGGED_CHECKS = ("tagged: ids copied, one answer each", "tagged: answers in any order")


@pytest.mark.parametrize("codec", ["lines", "jsonl"])
@pytest.mark.parametrize(
    ("mode", "mistake", "named"),
    [
        ("wrong-id", "answered with id 2, which was never sent (ids waiting: 1)", "likely it invents or changes ids"),
        ("drop-id", "not a tagged frame", "likely the child drops the ids"),
        ("twice", "the child answered id 1 twice", "likely it writes two answers for one request"),
    ],
)
def test_a_tagged_child_with_an_id_mistake_is_named(codec: str, mode: str, mistake: str, named: str) -> None:
    """Each id mistake fails the ids check with its own name, and every other failure carries the same diagnosis."""
    results = by_name(run_checks([*TAGGED_FAULTY, mode, codec], codec, examples=5, timeout=5, tagged=True))
    ids = results["tagged: ids copied, one answer each"]
    assert not ids.passed and mistake in ids.detail and named in ids.detail, ids.detail
    for name in ("echo: generated messages", "tagged: answers in any order", "pipelining: paired by id"):
        assert not results[name].passed and named in results[name].detail, results[name].detail
    assert results["startup: stdout silent until asked"].passed


def test_the_same_faulty_child_untagged_is_a_plain_echo_that_conforms() -> None:
    """The kit tells the child its mode: STDIOBRIDGE_TAGGED=0 makes the faulty child a plain echo, and it passes."""
    results = run_checks([*TAGGED_FAULTY, "twice", "jsonl"], "jsonl", examples=5, timeout=5)
    assert all(r.passed for r in results), format_report(TAGGED_FAULTY, "jsonl", results)
    assert not any(r.name.startswith("tagged:") for r in results)


def test_answers_out_of_order_are_accepted_and_counted() -> None:
    """A child answering each batch of requests last first conforms; the any-order check saw the reordering."""
    command = [*TAGGED_FAULTY, "reverse", "jsonl"]
    results = run_checks(command, "jsonl", examples=10, timeout=10, tagged=True)
    assert all(r.passed for r in results), format_report(command, "jsonl (tagged)", results)
    order = by_name(results)["tagged: answers in any order"].detail
    moved = re.search(r"\((\d+) out of order\)", order)
    assert moved and int(moved[1]) > 0, order


def test_tagged_vector_sets_follow_the_codec_options() -> None:
    """The vector check picks the sets of the codec's framing options; none for options without vectors."""
    assert tagged_vector_sets(get_codec("lenprefix")) == [
        s for s in _tagged_sets() if s["codec"] == "lenprefix" and s["options"] == {}
    ]
    little = tagged_vector_sets(get_codec({"name": "lenprefix", "width": 2, "byteorder": "little"}))
    assert little and [s["options"] for s in little] == [{"width": 2, "byteorder": "little"}]
    assert tagged_vector_sets(get_codec({"name": "lenprefix", "width": 8})) == []
    assert tagged_vector_sets(get_codec({"name": "jsonl", "max_frame": 1000})) == tagged_vector_sets(get_codec("jsonl"))
    assert tagged_vector_sets(get_codec("jsonl"), ROOT / "no-such.json") is None


def test_a_codec_that_cannot_be_tagged_is_refused_before_any_child_runs() -> None:
    class Frames(Codec[bytes]):
        name = "frames"
        kind = "frames"

        def encode(self, message: bytes) -> bytes:
            return message

        def decoder(self) -> Any:
            raise NotImplementedError

    with pytest.raises(ConfigError, match=r"tagged mode needs kind"):
        run_checks(["/no/such/child"], Frames(), tagged=True)


def _tagged_sets() -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = json.loads((ROOT / "protocols" / "vectors" / "tagged.json").read_text())["sets"]
    return sets


def test_cli_conform_tagged_from_the_flag_and_from_config(tmp_path: Path) -> None:
    """`--tagged` and `tagged = true` in --config both run the tagged checks; --no-tagged overrides the config."""
    out = conform_cli("--tagged", "--codec", "lines", "--examples", "5", "--", *TAGGED_FAULTY, "drop-id")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "codec lines (tagged)" in out.stdout and "likely the child drops the ids" in out.stdout
    (tmp_path / "stdiobridge.toml").write_text(
        f'command = {json.dumps([*TAGGED_FAULTY, "echo", "jsonl"])}\ncodec = "jsonl"\ntagged = true\n'
    )
    out = conform_cli("--config", str(tmp_path / "stdiobridge.toml"), "--examples", "5")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "summary: 12 of 12 checks passed; the child conforms to the jsonl (tagged) contract" in out.stdout
    out = conform_cli("--config", str(tmp_path / "stdiobridge.toml"), "--examples", "5", "--no-tagged")
    assert out.returncode == 0 and "summary: 9 of 9 checks passed" in out.stdout, out.stdout + out.stderr
