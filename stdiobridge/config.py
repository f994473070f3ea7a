"""Settings from ``stdiobridge.toml``, ``[tool.stdiobridge]`` in ``pyproject.toml``, a mapping, and
``STDIOBRIDGE_*`` environment overrides, validated into one ``Settings`` object."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .codecs import available_codecs, get_codec
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["Settings", "load_config", "ENV_PREFIX", "STDERR_MODES"]

ENV_PREFIX = "STDIOBRIDGE_"
STDERR_MODES = ("log", "inherit", "discard")
_FILE_NAME = "stdiobridge.toml"


@dataclass(frozen=True)
class Settings:
    """Validated bridge settings; ``bridge_options()`` gives ``Bridge`` keyword arguments."""

    command: list[str]
    codec: str | dict[str, Any] = "lines"
    timeout: float | None = 30.0
    startup_timeout: float | None = None
    env: dict[str, str] | None = None
    replace_env: bool = False
    cwd: str | None = None
    stderr: str = "log"
    restart: bool = True
    max_restarts: int = 5
    restart_window: float = 60.0
    max_calls: int | None = None
    close_timeout: float = 2.0
    terminate_timeout: float = 2.0
    max_pending: int = 1024
    lambda_options: dict[str, Any] = field(default_factory=dict)  # the ``[lambda]`` table
    source: str = field(default="<defaults>", compare=False)

    def bridge_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Bridge``/``AsyncBridge`` (everything but ``command`` and ``[lambda]``)."""
        skip = ("command", "source", "lambda_options")
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


# key -> (accepted types, description of what is allowed)
_NUM = (int, float)
_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "command": ((str, list), "a command line string or a list of strings"),
    "codec": ((str, dict), f"a codec name ({', '.join(available_codecs())}) or a table with 'name'"),
    "timeout": ((*_NUM, bool), "seconds (a number > 0), or false for no timeout"),
    "startup_timeout": ((*_NUM, bool), "seconds (a number > 0), or false for no timeout"),
    "env": ((dict,), "a table of string values"),
    "replace_env": ((bool,), "true or false"),
    "cwd": ((str,), "a directory path"),
    "stderr": ((str,), " or ".join(map(repr, STDERR_MODES))),
    "restart": ((bool,), "true or false"),
    "max_restarts": ((int,), "an integer >= 0"),
    "restart_window": (_NUM, "seconds (a number > 0)"),
    "max_calls": ((int, bool), "an integer >= 1, or false for no limit"),
    "close_timeout": (_NUM, "seconds (a number >= 0)"),
    "terminate_timeout": (_NUM, "seconds (a number >= 0)"),
    "max_pending": ((int,), "an integer >= 1"),
    "lambda": ((dict,), "a table of the AWS Lambda handler's options: response, margin, warmup"),
}

# The [lambda] table: options of stdiobridge.aws_lambda's handler.
_LAMBDA_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    "response": ((str,), "'json' or 'text'"),
    "margin": (_NUM, "seconds kept free before the invocation's deadline (a number >= 0)"),
    "warmup": ((dict, list, str, int, float, bool), "an event sent once during init"),
}


def _fail(key: str, source: str, allowed: str, value: object) -> ConfigError:
    return ConfigError(f"{source}: setting {key!r} must be {allowed}; got {value!r}")


def _validate(
    raw: Mapping[str, Any], source: str, base_dir: Path | None, *, command_from_file: bool = True
) -> Settings:
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r}; allowed: {', '.join(_SCHEMA)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kinds, allowed = _SCHEMA[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise _fail(key, source, allowed, value)
        values[key] = value
    if "command" not in values:
        raise ConfigError(
            f"{source}: setting 'command' is missing: set it in {_FILE_NAME} "
            f'(command = ["./my-program", "--flag"]) or in {ENV_PREFIX}COMMAND'
        )
    command = values["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    if not command or not all(isinstance(part, str) for part in command):
        raise _fail("command", source, _SCHEMA["command"][1], values["command"])
    if command_from_file and base_dir is not None and "/" in command[0] and not os.path.isabs(command[0]):
        command = [str(base_dir / command[0]), *command[1:]]
    values["command"] = list(command)
    for key in ("timeout", "startup_timeout"):
        if values.get(key) is False:
            values[key] = None
        elif key in values and (values[key] is True or values[key] <= 0):
            raise _fail(key, source, _SCHEMA[key][1], values[key])
    if values.get("max_calls") is False:
        values["max_calls"] = None
    elif "max_calls" in values and (values["max_calls"] is True or values["max_calls"] < 1):
        raise _fail("max_calls", source, _SCHEMA["max_calls"][1], values["max_calls"])
    if values.get("max_pending", 1) < 1:
        raise _fail("max_pending", source, _SCHEMA["max_pending"][1], values["max_pending"])
    if values.get("max_restarts", 0) < 0:
        raise _fail("max_restarts", source, _SCHEMA["max_restarts"][1], values["max_restarts"])
    if values.get("restart_window", 1) <= 0:
        raise _fail("restart_window", source, _SCHEMA["restart_window"][1], values["restart_window"])
    for key in ("close_timeout", "terminate_timeout"):
        if values.get(key, 0) < 0:
            raise _fail(key, source, _SCHEMA[key][1], values[key])
    if values.get("stderr", "log") not in STDERR_MODES:
        raise _fail("stderr", source, _SCHEMA["stderr"][1], values["stderr"])
    if "lambda" in values:
        values["lambda_options"] = _validate_lambda(values.pop("lambda"), source)
    env = values.get("env")
    if env is not None and not all(isinstance(v, str) for v in env.values()):
        raise _fail("env", source, _SCHEMA["env"][1], env)
    if "cwd" in values and base_dir is not None and not os.path.isabs(values["cwd"]):
        values["cwd"] = str(base_dir / values["cwd"])
    if "codec" in values:
        try:
            get_codec(values["codec"])  # build once so that a bad codec fails here, not at first call
        except ConfigError as exc:
            raise ConfigError(f"{source}: setting 'codec': {exc}") from None
    return Settings(source=source, **values)


def _validate_lambda(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    unknown = sorted(set(table) - set(_LAMBDA_SCHEMA))
    if unknown:
        raise ConfigError(f"{source}: unknown setting 'lambda.{unknown[0]}'; allowed: {', '.join(_LAMBDA_SCHEMA)}")
    for key, value in table.items():
        kinds, allowed = _LAMBDA_SCHEMA[key]
        bad_type = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        if bad_type or (key == "response" and value not in ("json", "text")) or (key == "margin" and value < 0):
            raise _fail(f"lambda.{key}", source, allowed, value)
    return dict(table)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("stdiobridge")
        if table is None:
            raise ConfigError(f"{path}: no [tool.stdiobridge] table")
        return dict(table)
    return data


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if f"{ENV_PREFIX}COMMAND" in env:
        out["command"] = shlex.split(env[f"{ENV_PREFIX}COMMAND"])
    if f"{ENV_PREFIX}CODEC" in env:
        text = env[f"{ENV_PREFIX}CODEC"].strip()
        if text.startswith("{"):
            try:
                out["codec"] = tomllib.loads(f"codec = {text}")["codec"]
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"{ENV_PREFIX}CODEC: not a name nor a TOML inline table ({exc}); "
                    'e.g. lenprefix or {name = "lenprefix", width = 2}'
                ) from None
        else:
            out["codec"] = text
    if f"{ENV_PREFIX}TIMEOUT" in env:
        text = env[f"{ENV_PREFIX}TIMEOUT"].strip()
        try:
            out["timeout"] = False if text.lower() in ("none", "false", "0") else float(text)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}TIMEOUT must be seconds (e.g. 2.5) or 'none'; got {text!r}") from None
    return out


def _find_default(cwd: Path) -> Path | None:
    candidate = cwd / _FILE_NAME
    if candidate.is_file():
        return candidate
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        try:
            with pyproject.open("rb") as fh:
                if "stdiobridge" in tomllib.load(fh).get("tool", {}):
                    return pyproject
        except (OSError, tomllib.TOMLDecodeError):
            return None
    return None


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read and validate settings.

    ``source`` is a path to a TOML file (``pyproject.toml`` means its
    ``[tool.stdiobridge]`` table), a mapping of settings, or ``None``: then the
    file named by ``STDIOBRIDGE_CONFIG``, else ``./stdiobridge.toml``, else
    ``./pyproject.toml`` if it has the table, else nothing. ``STDIOBRIDGE_COMMAND``
    (split like a shell), ``STDIOBRIDGE_CODEC`` and ``STDIOBRIDGE_TIMEOUT`` from
    ``env`` (default ``os.environ``) then override. A relative command path
    containing ``/`` and a relative ``cwd`` are taken from the config file's folder.
    """
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    base_dir: Path | None = None
    where = "<environment>"
    if isinstance(source, Mapping):
        raw = dict(source)
        where = "<mapping>"
    else:
        path: Path | None
        if source is not None:
            path = Path(source)
        elif env.get(f"{ENV_PREFIX}CONFIG"):
            path = Path(env[f"{ENV_PREFIX}CONFIG"])
        else:
            path = _find_default(Path.cwd())
        if path is not None:
            raw = _read_file(path)
            base_dir = path.resolve().parent
            where = str(path)
    overrides = _env_overrides(env)
    if overrides:
        where = f"{where} + environment" if raw else "<environment>"
    return _validate({**raw, **overrides}, where, base_dir, command_from_file="command" not in overrides)
