"""The installed plugin, seen through stdiobridge: discovery by name, options, sources, specs."""

from __future__ import annotations

import pickle

import pytest
from stdiobridge_lsp import LspCodec

import stdiobridge as sb
from stdiobridge.cli import main as cli_main
from stdiobridge.codecs import ENTRY_POINT_GROUP, codec_sources


def test_the_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points  # noqa: PLC0415

    (ep,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "lsp"]
    assert ep.value == "stdiobridge_lsp:LspCodec"
    assert ep.load() is LspCodec


def test_found_by_name_and_listed() -> None:
    assert "lsp" in sb.available_codecs()
    assert isinstance(sb.get_codec("lsp"), LspCodec)
    assert codec_sources()["lsp"] == "plugin stdiobridge-lsp-codec (stdiobridge_lsp:LspCodec)"


def test_the_codecs_command_lists_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["codecs"]) == 0
    assert "plugin stdiobridge-lsp-codec (stdiobridge_lsp:LspCodec)" in capsys.readouterr().out


def test_options_by_keyword_and_by_table() -> None:
    codec = sb.get_codec("lsp", max_frame=1024, content_type="application/json")
    assert isinstance(codec, LspCodec)
    assert (codec.max_frame, codec.content_type) == (1024, "application/json")
    table = sb.get_codec({"name": "lsp", "max_frame": 2048})
    assert isinstance(table, LspCodec)
    assert (table.max_frame, table.content_type) == (2048, None)


def test_option_errors_are_config_errors_naming_the_option() -> None:
    with pytest.raises(
        sb.ConfigError, match="codec 'lsp' has no option 'width'; its options are: content_type, max_frame"
    ):
        sb.get_codec("lsp", width=2)
    with pytest.raises(sb.ConfigError, match="codec 'lsp': option 'max_frame' must be >= 1"):
        sb.get_codec("lsp", max_frame=0)
    with pytest.raises(sb.ConfigError, match="option 'max_frame' must be int"):
        sb.get_codec("lsp", max_frame="64MiB")
    with pytest.raises(sb.ConfigError, match="option 'content_type' must be str or NoneType"):
        sb.get_codec("lsp", content_type=1)
    for bad in ("", " text/json", "a\r\nX-Injected: 1", "tëxt"):
        with pytest.raises(sb.ConfigError, match="option 'content_type' must be non-empty printable ASCII"):
            sb.get_codec("lsp", content_type=bad)


def test_options_round_trip_through_a_pickled_bridge_spec() -> None:
    codec = sb.get_codec("lsp", max_frame=4096, content_type="application/vscode-jsonrpc; charset=utf-8")
    spec = pickle.loads(pickle.dumps(sb.BridgeSpec.of(["true"], codec=codec)))
    assert spec.codec == codec and type(spec.codec) is type(codec)  # the exact codec, options and all
    rebuilt = sb.get_codec(spec.codec)
    assert rebuilt.encode([1]) == codec.encode([1])
