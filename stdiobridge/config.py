"""Settings from ``stdiobridge.toml``, ``[tool.stdiobridge]`` in ``pyproject.toml``, a mapping, and
``STDIOBRIDGE_*`` environment overrides, validated into one ``Settings`` object."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codecs import available_codecs
from .errors import ConfigError
from .spec import OPTION_NAMES, BridgeSpec, unknown_option

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
    """Validated settings: ``spec`` is the ``BridgeSpec`` they describe, ``lambda_options`` the ``[lambda]``
    table; ``codec`` is the codec as configured (a name or a table). Every bridge option reads through:
    ``settings.timeout`` is ``settings.spec.timeout``."""

    spec: BridgeSpec
    codec: str | dict[str, Any] = "lines"
    lambda_options: dict[str, Any] = field(default_factory=dict)  # the ``[lambda]`` table
    source: str = field(default="<defaults>", compare=False)

    @property
    def command(self) -> list[str]:
        return list(self.spec.command) if not isinstance(self.spec.command, str) else shlex.split(self.spec.command)

    def __getattr__(self, name: str) -> Any:
        if name in OPTION_NAMES:
            return getattr(self.spec, name)
        raise AttributeError(name)

    def bridge_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Bridge``/``AsyncBridge`` (everything but ``command`` and ``[lambda]``)."""
        return {**self.spec.options, "codec": self.codec}


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
    "tagged": ((bool,), "true or false (request ids on the wire: the child must copy them onto its answers)"),
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
    """Check the types a TOML file can get wrong, convert (``false`` = no limit, paths), then build the spec."""
    for key in raw:
        if key not in _SCHEMA:
            err = unknown_option(key, list(_SCHEMA), what="setting")
            raise ConfigError(f"{source}: {err}") from None
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
    command = values.pop("command")
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"{source}: setting 'command' cannot be split like a shell would: {exc}") from None
    if not command or not all(isinstance(part, str) for part in command):
        raise _fail("command", source, _SCHEMA["command"][1], command)
    if command_from_file and base_dir is not None and "/" in command[0] and not os.path.isabs(command[0]):
        command = [str(base_dir / command[0]), *command[1:]]
    for key in ("timeout", "startup_timeout", "max_calls"):
        if values.get(key) is False:
            values[key] = None  # false: no limit
        elif values.get(key) is True:
            raise _fail(key, source, _SCHEMA[key][1], True)
    lambda_options = _validate_lambda(values.pop("lambda"), source) if "lambda" in values else {}
    if "cwd" in values and base_dir is not None and not os.path.isabs(values["cwd"]):
        values["cwd"] = str(base_dir / values["cwd"])
    codec = values.get("codec", "lines")
    try:
        spec = BridgeSpec.of(command, **values)
    except ConfigError as exc:
        text = str(exc).replace(" (or None for no limit)", " (or false for no limit)")
        if text.startswith("option "):
            text = "setting " + text[len("option ") :]
        elif text.startswith("codec ") or text.startswith("unknown codec"):
            text = f"setting 'codec': {text}"
        raise ConfigError(f"{source}: {text}") from None
    return Settings(spec=spec, codec=codec, lambda_options=lambda_options, source=source)


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


def _read_file(path: Path, named_by: str = "") -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r}{named_by} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML (UTF-8): {exc}") from None
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
        try:
            out["command"] = shlex.split(env[f"{ENV_PREFIX}COMMAND"])
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}COMMAND cannot be split like a shell would: {exc}") from None
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
    if f"{ENV_PREFIX}TAGGED" in env:
        text = env[f"{ENV_PREFIX}TAGGED"].strip().lower()
        if text not in _BOOLEANS:
            raise ConfigError(f"{ENV_PREFIX}TAGGED must be 1 or 0 (true/false); got {text!r}")
        out["tagged"] = _BOOLEANS[text]
    return out


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


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
    (split like a shell), ``STDIOBRIDGE_CODEC``, ``STDIOBRIDGE_TIMEOUT`` and ``STDIOBRIDGE_TAGGED`` from
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
        named_by = ""
        if source is not None:
            path = Path(source)
        elif env.get(f"{ENV_PREFIX}CONFIG"):
            path = Path(env[f"{ENV_PREFIX}CONFIG"])
            named_by = f" (named by {ENV_PREFIX}CONFIG)"
        else:
            path = _find_default(Path.cwd())
        if path is not None:
            raw = _read_file(path, named_by)
            base_dir = path.resolve().parent
            where = str(path)
    overrides = _env_overrides(env)
    if overrides:
        where = f"{where} + environment" if raw else "<environment>"
    return _validate({**raw, **overrides}, where, base_dir, command_from_file="command" not in overrides)
