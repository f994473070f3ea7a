"""Test helpers: message strategies, arbitrary chunkings, strict equality, hand-built frames."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

#: The LSP echo child, run with the current interpreter.
ECHO_CHILD = [sys.executable, str(Path(__file__).resolve().parent / "lsp_echo_child.py")]

#: Every JSON value orjson round-trips exactly (no NaN or infinities: JSON has none).
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)

#: (options, description) of the codec configurations the properties run against.
CODEC_OPTIONS: list[dict[str, Any]] = [
    {},
    {"content_type": "application/vscode-jsonrpc; charset=utf-8"},
    {"max_frame": 1 << 20},
]


def options_id(options: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in options.items()) or "defaults"


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Cut ``data`` at arbitrary points (inside header names, CRLFs, digits and UTF-8 sequences)."""
    if len(data) < 2:
        return [data]
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=len(data) - 1), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def same(a: Any, b: Any) -> bool:
    """Equality that also tells int from float and bool from int, and checks key order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def frame(body: bytes, *headers: bytes) -> bytes:
    """A frame with exactly these header lines (CRLF added) and this body."""
    return b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
