"""Loading the shared golden vectors of ``protocols/vectors`` into plain Python values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

VECTORS = Path(__file__).resolve().parent.parent / "protocols" / "vectors"
CODECS = ("lines", "jsonl", "lenprefix", "msgpack")


def from_typed(value: Any) -> Any:
    """Turn the typed JSON form of a msgpack message into the Python value msgpack gives."""
    if isinstance(value, list):
        return [from_typed(v) for v in value]
    if isinstance(value, dict):
        ((tag, inner),) = value.items()
        if tag in ("float64", "float32"):
            return float(inner)
        if tag == "bin":
            return bytes.fromhex(inner)
        if tag == "map":
            return {from_typed(k): from_typed(v) for k, v in inner}
        raise ValueError(f"unknown tag {tag!r}")
    return value


def same(a: Any, b: Any) -> bool:
    """Equality that also tells str from bytes, int from float and checks key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def message(codec: str, case: dict[str, Any], key: str = "message") -> Any:
    if codec == "lenprefix":
        return bytes.fromhex(case[f"{key}_hex"])
    if codec == "msgpack":
        return from_typed(case[key])
    return case[key]


def messages(codec: str, case: dict[str, Any], key: str) -> list[Any]:
    if codec == "lenprefix":
        return [bytes.fromhex(h) for h in case[f"{key}_hex"]]
    if codec == "msgpack":
        return [from_typed(m) for m in case[key]]
    return list(case[key])


@dataclass
class Case:
    codec: str
    options: dict[str, Any]
    kind: str  # valid | streams | invalid | unencodable (tagged: valid | decodes | invalid | unencodable)
    data: dict[str, Any]

    prefix: ClassVar[str] = ""

    @property
    def id(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options.items()) or "defaults"
        return f"{self.prefix}{self.codec}[{opts}]-{self.kind}-{self.data['name']}"


def cases(kind: str) -> list[Case]:
    out: list[Case] = []
    for codec in CODECS:
        spec = json.loads((VECTORS / f"{codec}.json").read_text(encoding="utf-8"))
        assert spec["codec"] == codec
        for vset in spec["sets"]:
            out.extend(Case(codec, vset["options"], kind, c) for c in vset[kind])
    return out


@dataclass
class TaggedCase(Case):
    prefix: ClassVar[str] = "tagged-"

    @property
    def pair(self) -> tuple[int, Any]:
        return self.data["id"], message(self.codec, self.data)


def tagged_cases(kind: str) -> list[TaggedCase]:
    spec = json.loads((VECTORS / "tagged.json").read_text(encoding="utf-8"))
    assert spec["env"] == "STDIOBRIDGE_TAGGED"
    return [TaggedCase(s["codec"], s["options"], kind, c) for s in spec["sets"] for c in s.get(kind, [])]
