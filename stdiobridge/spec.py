"""``BridgeSpec``: a picklable recipe for a bridge, so that any process can build its own.

A bridge owns a live child and cannot cross a process boundary; its spec can. Ship
the spec to a worker (multiprocessing, Ray, Dask) and call ``spec.bridge()`` there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codecs import Codec, get_codec
from .config import load_config
from .errors import ConfigError

if TYPE_CHECKING:
    from .bridge import Bridge

__all__ = ["BridgeSpec"]


@dataclass(frozen=True)
class BridgeSpec:
    """Command, codec and bridge options: everything needed to start an equivalent bridge.

    ``codec`` is kept as a name or a ``{"name": ..., **options}`` table (a built
    ``Codec`` is turned into its table), so the spec pickles without the codec
    class being importable in the receiving process before ``bridge()`` is called.
    """

    command: tuple[str, ...] | str
    codec: str | Mapping[str, Any] = "lines"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        command = self.command
        if not isinstance(command, str):
            object.__setattr__(self, "command", tuple(os.fspath(part) for part in command))
        if isinstance(self.codec, Codec):
            object.__setattr__(self, "codec", {"name": self.codec.name, **self.codec.options()})
        if callable(self.options.get("stderr")):
            raise ConfigError("a BridgeSpec cannot carry a stderr callable (it must pickle); use 'log' or 'discard'")
        get_codec(self.codec)  # fail here, in the sending process, on a bad codec
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def of(
        cls, command: str | Sequence[str], *, codec: str | Mapping[str, Any] | Codec[Any] = "lines", **options: Any
    ) -> BridgeSpec:
        """``BridgeSpec.of(cmd, codec=..., timeout=...)``: the same arguments as ``Bridge``."""
        return cls(command if isinstance(command, str) else tuple(command), codec, options)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> BridgeSpec:
        """A spec from ``load_config(source)`` (see there)."""
        settings = load_config(source)
        options = settings.bridge_options()
        codec = options.pop("codec")
        return cls(tuple(settings.command), codec, options)

    def bridge(self, **overrides: Any) -> Bridge:
        """A new ``Bridge`` from this spec (not started; it starts on first call or ``start()``)."""
        from .bridge import Bridge  # noqa: PLC0415  (bridge imports config, which this module must not cycle on)

        return Bridge(self._argv(), codec=self.codec, **{**self.options, **overrides})

    def _argv(self) -> str | list[str]:
        return self.command if isinstance(self.command, str) else list(self.command)
