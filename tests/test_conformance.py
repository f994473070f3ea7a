"""The conformance kit: every reference child passes it, and each broken child is caught clearly.

Running the kit against the Go and Racket children of every codec is the
cross-language proof that the three implementations agree on the wire.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stdiobridge.conformance import CheckResult, format_report, run_checks

from childprogs import faulty

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "build" / "children"
CODECS = ("lines", "jsonl", "lenprefix", "msgpack")


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
    assert not echo.passed and "flushing stdout" in echo.detail


def test_a_child_printing_a_log_line_on_stdout_is_caught() -> None:
    results = by_name(run_checks(faulty("garbage"), "jsonl", examples=5, timeout=5))
    echo = results["echo: generated messages"]
    assert not echo.passed
    assert "INFO handling request" in echo.detail and "stdout" in echo.detail
    assert not results["stdout: frames only"].passed


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
