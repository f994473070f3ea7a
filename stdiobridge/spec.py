"""``BridgeSpec``: every option of a bridge, validated once, frozen and picklable.

It is the one options model: ``Bridge``, ``AsyncBridge``, the pools, config files,
the Lambda handler and the command line all build from a spec, so an option means
the same everywhere and a bad one is a ``ConfigError`` naming it, at construction.
A bridge owns a live child and cannot cross a process boundary; its spec can:
ship it to a worker (multiprocessing, Ray, Dask) and call ``spec.bridge()`` there.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from .codecs import Codec, get_codec
from .errors import ConfigError

if TYPE_CHECKING:
    from .aio import AsyncBridge
    from .bridge import Bridge
    from .process import StderrMode

__all__ = ["NO_LIMIT", "OPTION_NAMES", "BridgeSpec", "build_spec", "check_call_timeout", "unknown_option"]

#: Seconds beyond which a timeout means "no limit" (about 31 years).
NO_LIMIT = 1e9
STDERR_MODES = ("log", "inherit", "discard")


def unknown_option(name: str, allowed: Sequence[str], what: str = "option") -> ConfigError:
    """``unknown option 'timout' (did you mean 'timeout'?); allowed: ...``."""
    import difflib  # noqa: PLC0415  (cold start: only a mistake needs it)

    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown {what} {name!r}{hint}; allowed: {', '.join(allowed)}")


def _seconds(name: str, value: object, *, none_ok: bool, zero_ok: bool = False) -> float | None:
    """A validated number of seconds; ``None`` (when allowed) for None, inf or anything beyond ``NO_LIMIT``."""
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        ok = False
    else:
        ok = value > 0 or (zero_ok and value == 0)
        if ok and value > NO_LIMIT:
            if none_ok:
                return None
            ok = False
    if not ok:
        what = "a number of seconds >= 0" if zero_ok else "a number of seconds > 0"
        extra = " (or None for no limit)" if none_ok else f" (at most {NO_LIMIT:g})"
        raise ConfigError(f"option {name!r} must be {what}{extra}; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _count(name: str, value: object, *, minimum: int, none_ok: bool = False) -> int | None:
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        extra = " or None" if none_ok else ""
        raise ConfigError(f"option {name!r} must be an integer >= {minimum}{extra}; got {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"option {name!r} must be True or False; got {value!r}")
    return value


def check_call_timeout(value: object) -> float | None:
    """A per-call ``timeout``, checked before anything is written: ``None`` means the bridge's default,
    ``inf`` means no limit; a negative, zero, NaN or non-number one is a ``ConfigError``."""
    if value is None:
        return None
    seconds = _seconds("timeout", value, none_ok=True)
    return math.inf if seconds is None else seconds


def _command(value: object) -> tuple[str, ...] | str:
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise ConfigError(f"option 'command': cannot split {value!r} like a shell would: {exc}") from None
        if not argv:
            raise ConfigError("option 'command' is empty: give the program to run, e.g. ['./my-child', '--flag']")
        return value
    if isinstance(value, (bytes, bytearray)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"option 'command' must be a non-empty list of strings or a string; got {value!r}")
    parts = []
    for part in value:
        if not isinstance(part, (str, os.PathLike)):
            raise ConfigError(f"option 'command' must hold strings (or paths); got {part!r} in {value!r}")
        parts.append(os.fspath(part))
    if not parts[0]:
        raise ConfigError("option 'command' starts with an empty program name")
    return tuple(str(p) for p in parts)


def _env(value: object) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"option 'env' must be a mapping of str to str; got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ConfigError(f"option 'env' must map str to str; got {key!r}: {item!r}")
        if "=" in key or "\0" in key or "\0" in item:
            raise ConfigError(f"option 'env': {key!r} cannot be an environment variable")
    return dict(value)


def _stderr(value: object) -> StderrMode:
    if callable(value) or value in STDERR_MODES:
        return value  # type: ignore[return-value]
    raise ConfigError(f"option 'stderr' must be 'log', 'inherit', 'discard' or a callable taking a line; got {value!r}")


def _cwd(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"option 'cwd' must be a directory path; got {value!r}")
    return os.fspath(value)


@dataclass(frozen=True)
class BridgeSpec:
    """Command, codec and every bridge option, validated (see ``Bridge`` for what each one does).

    Build it with ``BridgeSpec.of(command, codec=..., timeout=..., ...)`` (the
    arguments of ``Bridge``) or ``BridgeSpec.from_config(...)``. Two specs that
    mean the same bridge compare equal (``codec="lines"`` and ``LinesCodec()``).
    """

    command: tuple[str, ...] | str
    codec: Codec[Any] = field(default_factory=lambda: get_codec("lines"))
    timeout: float | None = 30.0
    startup_timeout: float | None = None
    env: Mapping[str, str] | None = field(default=None, hash=False)
    replace_env: bool = False
    cwd: str | None = None
    stderr: StderrMode = "log"
    restart: bool = True
    max_restarts: int = 5
    restart_window: float = 60.0
    max_calls: int | None = None
    close_timeout: float = 2.0
    terminate_timeout: float = 2.0
    max_pending: int = 1024
    tagged: bool = False

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "command": _command(self.command),
            "codec": _codec(self.codec),
            "timeout": _seconds("timeout", self.timeout, none_ok=True),
            "startup_timeout": _seconds("startup_timeout", self.startup_timeout, none_ok=True),
            "env": _env(self.env),
            "replace_env": _flag("replace_env", self.replace_env),
            "cwd": _cwd(self.cwd),
            "stderr": _stderr(self.stderr),
            "restart": _flag("restart", self.restart),
            "max_restarts": _count("max_restarts", self.max_restarts, minimum=0),
            "restart_window": _seconds("restart_window", self.restart_window, none_ok=False),
            "max_calls": _count("max_calls", self.max_calls, minimum=1, none_ok=True),
            "close_timeout": _seconds("close_timeout", self.close_timeout, none_ok=False, zero_ok=True),
            "terminate_timeout": _seconds("terminate_timeout", self.terminate_timeout, none_ok=False, zero_ok=True),
            "max_pending": _count("max_pending", self.max_pending, minimum=1),
            "tagged": _flag("tagged", self.tagged),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def of(cls, command: str | Sequence[str | os.PathLike[str]], **options: Any) -> BridgeSpec:
        """``BridgeSpec.of(cmd, codec=..., timeout=...)``: the same arguments as ``Bridge``."""
        for name in options:
            if name not in OPTION_NAMES:
                raise unknown_option(name, OPTION_NAMES)
        return cls(command, **options)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> BridgeSpec:
        """A spec from ``load_config(source)`` (see there)."""
        from .config import load_config  # noqa: PLC0415  (config builds specs: it imports this module)

        return load_config(source).spec

    @property
    def options(self) -> dict[str, Any]:
        """Every option but ``command`` and ``codec``, as keyword arguments."""
        return {name: getattr(self, name) for name in OPTION_NAMES if name != "codec"}

    @property
    def argv(self) -> str | list[str]:
        """The command as ``Bridge`` takes it."""
        return self.command if isinstance(self.command, str) else list(self.command)

    def replace(self, **changes: Any) -> BridgeSpec:
        """A copy with some options changed (validated again)."""
        for name in changes:
            if name not in OPTION_NAMES and name != "command":
                raise unknown_option(name, OPTION_NAMES)
        return replace(self, **changes)

    def bridge(self, **overrides: Any) -> Bridge:
        """A new ``Bridge`` from this spec (not started; it starts on first call or ``start()``)."""
        from .bridge import Bridge  # noqa: PLC0415  (the bridge imports this module)

        return Bridge(self.replace(**overrides) if overrides else self)

    def async_bridge(self, **overrides: Any) -> AsyncBridge:
        """A new ``AsyncBridge`` from this spec."""
        from .aio import AsyncBridge  # noqa: PLC0415

        return AsyncBridge(self.replace(**overrides) if overrides else self)


def _codec(value: object) -> Codec[Any]:
    if isinstance(value, Codec):
        return value
    if isinstance(value, (str, Mapping)):
        return get_codec(value)
    raise ConfigError(f"option 'codec' must be a codec name, a table with 'name', or a Codec; got {value!r}")


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(BridgeSpec) if f.name != "command")


def build_spec(command: object, options: Mapping[str, Any]) -> BridgeSpec:
    """``command`` may already be a ``BridgeSpec`` (then no options may be given)."""
    if isinstance(command, BridgeSpec):
        return command.replace(**options) if options else command
    return BridgeSpec.of(command, **options)  # type: ignore[arg-type]
