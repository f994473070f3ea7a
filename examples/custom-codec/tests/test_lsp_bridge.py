"""End to end: ``stdiobridge.Bridge(..., codec="lsp")`` driving a real LSP-framed child process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from lsp_helpers import ECHO_CHILD, json_values, same

import stdiobridge as sb


@pytest.fixture(scope="module")
def bridge() -> Any:
    with sb.Bridge(ECHO_CHILD, codec="lsp", timeout=10, stderr="inherit") as br:
        yield br


def test_call_and_call_many(bridge: sb.Bridge) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"rootUri": None}}
    assert bridge.call(request) == request
    batch = [{"jsonrpc": "2.0", "id": i, "method": "textDocument/hover", "params": {"é": "€" * i}} for i in range(200)]
    assert bridge.call_many(batch) == batch


@settings(max_examples=50, deadline=None)
@given(msg=json_values)
def test_echo_of_generated_messages(bridge: sb.Bridge, msg: Any) -> None:
    assert same(bridge.call(msg), msg)


def test_large_messages_both_ways(bridge: sb.Bridge) -> None:
    for size in (70_000, 1 << 20, 8 << 20):
        msg = {"blob": 'xé"\\' * (size // 5), "n": list(range(100))}
        assert bridge.call(msg) == msg


def test_a_response_trickling_in_byte_by_byte(bridge: sb.Bridge) -> None:
    request = {"method": "$/misbehave", "params": {"how": "trickle"}, "pad": "ü" * 100}
    assert bridge.call(request) == request


@pytest.mark.parametrize(
    ("how", "match"),
    [
        ("log", "bare LF instead of CRLF: b'INFO lsp_echo_child"),
        ("bad-length", "Content-Length is not a byte count: b'Content-Length: 12abc'"),
        ("no-length", "without a Content-Length header"),
        ("not-json", "body that is not JSON"),
    ],
)
def test_a_malformed_response_is_a_decode_error_and_the_next_call_gets_a_new_child(how: str, match: str) -> None:
    with sb.Bridge(ECHO_CHILD, codec="lsp", timeout=10) as br:
        assert br.call({"id": 1}) == {"id": 1}
        first = br.pid
        with pytest.raises(sb.DecodeError, match=match) as info:
            br.call({"method": "$/misbehave", "params": {"how": how}})
        assert info.value.excerpt
        # The answer before the fault is never handed out again (the python-lsp-jsonrpc bug):
        assert br.call({"id": 2}) == {"id": 2}
        assert br.pid != first
        assert br.stats.restarts == 1


def test_frame_too_large_through_the_bridge() -> None:
    with sb.Bridge(ECHO_CHILD, codec={"name": "lsp", "max_frame": 1000}, timeout=10) as br:
        with pytest.raises(sb.EncodeError, match="exceeds max_frame=1000"):
            br.call("x" * 1000)
        assert br.call("x" * 998) == "x" * 998


def test_configured_in_stdiobridge_toml(tmp_path: Path) -> None:
    config = tmp_path / "stdiobridge.toml"
    command = ", ".join(f'"{part}"' for part in ECHO_CHILD)
    config.write_text(
        f"command = [{command}]\n"
        'codec = { name = "lsp", content_type = "application/vscode-jsonrpc; charset=utf-8" }\n'
        "timeout = 10\n"
    )
    with sb.Bridge.from_config(config) as br:
        assert br.codec.name == "lsp" and br.codec.options()["content_type"].startswith("application/")
        assert br.call({"id": 7, "result": [1, 2, 3]}) == {"id": 7, "result": [1, 2, 3]}
    plain = tmp_path / "plain.toml"
    plain.write_text(f'command = [{command}]\ncodec = "lsp"\n')
    with sb.Bridge.from_config(plain) as br:
        assert br.call(["plain"]) == ["plain"]


def test_the_child_exits_cleanly_on_eof() -> None:
    br = sb.Bridge(ECHO_CHILD, codec="lsp", timeout=10).start()
    assert br.call(1) == 1
    br.close()
    assert br.stats.restarts == 0
