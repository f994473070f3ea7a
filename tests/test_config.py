"""Loading settings from TOML files, pyproject, mappings and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

import stdiobridge as sb


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_stdiobridge_toml_with_codec_table(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "stdiobridge.toml",
        """
command = ["./bin/app", "--fast"]
timeout = 2.5
codec = { name = "lenprefix", width = 2 }
[env]
MODE = "prod"
""",
    )
    s = sb.load_config(cfg, env={})
    assert s.command == [str(tmp_path / "bin/app"), "--fast"]  # relative to the file's folder
    assert s.codec == {"name": "lenprefix", "width": 2}
    assert s.timeout == 2.5 and s.env == {"MODE": "prod"}
    assert s.bridge_options()["codec"] == {"name": "lenprefix", "width": 2}
    assert "command" not in s.bridge_options()


def test_pyproject_tool_table(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.stdiobridge]\ncommand = "racket app.rkt"\ncodec = "jsonl"\n')
    s = sb.load_config(tmp_path / "pyproject.toml", env={})
    assert s.command == ["racket", "app.rkt"] and s.codec == "jsonl"


def test_default_file_is_found_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "pyproject.toml", '[tool.stdiobridge]\ncommand = ["cat"]\n')
    monkeypatch.chdir(tmp_path)
    assert sb.load_config(env={}).command == ["cat"]
    write(tmp_path / "stdiobridge.toml", 'command = ["tac"]\n')
    assert sb.load_config(env={}).command == ["tac"]


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = write(tmp_path / "x.toml", 'command = ["cat"]\ntimeout = 5\n')
    env = {
        "STDIOBRIDGE_CONFIG": str(cfg),
        "STDIOBRIDGE_COMMAND": "./app 'two words'",
        "STDIOBRIDGE_CODEC": '{name = "lenprefix", width = 8}',
        "STDIOBRIDGE_TIMEOUT": "0.5",
    }
    s = sb.load_config(env=env)
    assert s.command == ["./app", "two words"]  # from the environment: not rebased on the file
    assert s.codec == {"name": "lenprefix", "width": 8} and s.timeout == 0.5
    assert sb.load_config(env={"STDIOBRIDGE_COMMAND": "cat", "STDIOBRIDGE_TIMEOUT": "none"}).timeout is None


def test_lambda_table(tmp_path: Path) -> None:
    cfg = write(tmp_path / "stdiobridge.toml", 'command = ["./app"]\n[lambda]\nresponse = "json"\nmargin = 0.2\n')
    s = sb.load_config(cfg, env={})
    assert s.lambda_options == {"response": "json", "margin": 0.2}
    assert "lambda_options" not in s.bridge_options()


def test_mapping_source() -> None:
    s = sb.load_config({"command": ["cat"], "codec": "msgpack", "max_calls": 10}, env={})
    assert s.codec == "msgpack" and s.max_calls == 10 and s.source == "<mapping>"


@pytest.mark.parametrize(
    ("settings", "pattern"),
    [
        (
            {"command": ["cat"], "timout": 3},
            r"unknown setting 'timout' \(did you mean 'timeout'\?\); allowed: command, codec, timeout",
        ),
        ({"command": ["cat"], "timeout": "3"}, r"setting 'timeout' must be seconds .* got '3'"),
        ({"command": ["cat"], "timeout": -1}, r"setting 'timeout' must be a number of seconds > 0 \(or false"),
        ({"command": ["cat"], "timeout": float("nan")}, r"setting 'timeout' must be a number of seconds"),
        ({"command": ["cat"], "close_timeout": float("inf")}, r"setting 'close_timeout' must be a number of seconds"),
        ({"command": ["cat"], "tagged": "yes"}, r"setting 'tagged' must be true or false"),
        ({"command": ["cat"], "max_restarts": True}, r"'max_restarts' must be an integer"),
        ({"command": ["cat"], "stderr": "loud"}, r"setting 'stderr' must be 'log', 'inherit', 'discard'"),
        ({"command": ["cat"], "codec": "yaml"}, r"setting 'codec': unknown codec 'yaml'; available:"),
        (
            {"command": ["cat"], "codec": {"name": "lines", "width": 2}},
            r"codec 'lines' has no option 'width'",
        ),
        ({"command": [], "codec": "lines"}, r"'command' must be a command line"),
        ({"command": ["cat", 3]}, r"'command' must be"),
        ({"codec": "lines"}, r"setting 'command' is missing"),
        ({"command": ["cat"], "env": {"A": 1}}, r"setting 'env' must map str to str; got 'A': 1"),
        ({"command": ["cat"], "lambda": {"respond": "json"}}, r"unknown setting 'lambda.respond'; allowed: response"),
        ({"command": ["cat"], "lambda": {"response": "xml"}}, r"'lambda.response' must be 'json' or 'text'"),
        ({"command": ["cat"], "lambda": {"margin": -1}}, r"'lambda.margin' must be seconds"),
    ],
)
def test_bad_settings_name_key_source_and_allowed(settings: dict[str, object], pattern: str) -> None:
    with pytest.raises(sb.ConfigError, match=pattern) as info:
        sb.load_config(settings, env={})
    assert str(info.value).startswith("<mapping>")


def test_errors_name_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "stdiobridge.toml", 'command = ["cat"]\nretries = 3\n')
    with pytest.raises(sb.ConfigError, match=f"{cfg}: unknown setting 'retries'"):
        sb.load_config(cfg, env={})
    bad = write(tmp_path / "bad.toml", "command = [\n")
    with pytest.raises(sb.ConfigError, match="not valid TOML"):
        sb.load_config(bad, env={})
    with pytest.raises(sb.ConfigError, match="does not exist"):
        sb.load_config(tmp_path / "missing.toml", env={})
    write(tmp_path / "pyproject.toml", "[project]\nname='x'\n")
    with pytest.raises(sb.ConfigError, match=r"no \[tool.stdiobridge\] table"):
        sb.load_config(tmp_path / "pyproject.toml", env={})


def test_bad_environment_values() -> None:
    with pytest.raises(sb.ConfigError, match="STDIOBRIDGE_TIMEOUT must be seconds"):
        sb.load_config(env={"STDIOBRIDGE_COMMAND": "cat", "STDIOBRIDGE_TIMEOUT": "soon"})
    with pytest.raises(sb.ConfigError, match="STDIOBRIDGE_CODEC: not a name nor a TOML inline table"):
        sb.load_config(env={"STDIOBRIDGE_COMMAND": "cat", "STDIOBRIDGE_CODEC": "{name = "})
    with pytest.raises(sb.ConfigError, match="missing"):
        sb.load_config(env={})
