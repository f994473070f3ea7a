"""Hypothesis strategies for the messages of each built-in codec."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import strategies as st

INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)

line_text = st.text().filter(lambda s: "\n" not in s and not s.endswith("\r"))

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | FLOATS | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)

msgpack_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | INT64 | FLOATS | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=8) | INT64 | st.binary(max_size=4), inner, max_size=5)
    ),
    max_leaves=20,
)

# (codec name, options, message strategy)
CODEC_CASES: list[tuple[str, dict[str, Any], st.SearchStrategy[Any]]] = [
    ("lines", {}, line_text),
    (
        "lines",
        {"encoding": "latin-1"},
        line_text.map(lambda s: s.encode("latin-1", "replace").decode("latin-1")),
    ),
    ("lines", {"errors": "surrogateescape"}, line_text),
    ("jsonl", {}, json_values),
    ("lenprefix", {}, st.binary(max_size=300)),
    ("lenprefix", {"width": 1, "byteorder": "little"}, st.binary(max_size=255)),
    ("lenprefix", {"width": 2, "byteorder": "little"}, st.binary(max_size=300)),
    ("lenprefix", {"width": 8}, st.binary(max_size=300)),
    ("msgpack", {}, msgpack_values),
]


def case_id(case: tuple[str, dict[str, Any], Any]) -> str:
    name, opts, _ = case
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Cut ``data`` at arbitrary points (possibly inside prefixes and UTF-8 sequences)."""
    if not data:
        return [data]
    cuts = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=len(data) - 1), max_size=12)) if len(data) > 1 else set()
    )
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


IDS = st.integers(min_value=1, max_value=2**32 - 1)

# (codec name, options, strategy of (id, message) pairs) for every tagged codec
TAGGED_CASES: list[tuple[str, dict[str, Any], st.SearchStrategy[Any]]] = [
    (name, opts, st.tuples(IDS, messages))
    for name, opts, messages in CODEC_CASES
    if not (name == "lenprefix" and opts.get("width") == 1)
] + [("lenprefix", {"width": 1, "byteorder": "little"}, st.tuples(IDS, st.binary(max_size=251)))]


def _bad_line(s: str) -> bool:
    head, space, _ = s.partition(" ")
    return not (space and head.isascii() and head.isdigit() and head[0] != "0" and int(head) <= 2**32 - 1)


def _bad_json(value: Any) -> bool:
    return not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and 0 < value[0] <= 2**32 - 1)


#: For each codec, untagged messages that are not tagged frames (the codec's own encoder writes them).
NOT_TAGGED: dict[str, st.SearchStrategy[Any]] = {
    "lines": line_text.filter(_bad_line)
    | st.builds(
        lambda n, t: f"{n} {t}", st.sampled_from(["0", "00", "+1", "-1", "01", "4294967296", "1_0", "٣"]), line_text
    ),
    "jsonl": json_values.filter(_bad_json)
    | st.builds(lambda i, m: [i, m], st.sampled_from([0, -1, 2**32, 1.0, True, "1", None]), json_values),
    "lenprefix": st.binary(max_size=3) | st.binary(max_size=40).map(lambda b: b"\0\0\0\0" + b),
    "msgpack": msgpack_values.filter(_bad_json)
    | st.builds(
        lambda i, m: [i, m], st.sampled_from([0, -1, 2**32, 2**64 - 1, 1.0, True, "1", b"\1", None]), msgpack_values
    ),
}
