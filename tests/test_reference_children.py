"""The reference children (Go, Racket, Rust) as a child author copies them: conformance, typed services, tagged mode.

Every child is a real binary built by ``make children``; a missing one fails (never skips), since
``make test`` builds them all first. Tagged mode is checked by the conformance kit (``conform
--tagged``) and with raw frames over a pipe, which checks the exact bytes a tagged child writes back.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest

import stdiobridge as sb
from stdiobridge.conformance import format_report, run_checks

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "build" / "children"
VECTORS = ROOT / "protocols" / "vectors"

# Every reference echo child: (language, codec) -> file name in build/children.
ECHOES = {
    **{("go", c): f"go-{c}" for c in ("lines", "jsonl", "lenprefix", "msgpack")},
    **{("racket", c): f"racket-{c}" for c in ("lines", "jsonl", "lenprefix", "msgpack")},
    ("rust", "jsonl"): "rust-jsonl",
    ("rust", "msgpack"): "rust-msgpack",
    ("go-concurrent", "jsonl"): "go-concurrent",
}
TYPED = ("go-typed", "racket-typed")


def child(name: str) -> list[str]:
    """The command of a built child; fails the test when it was not built."""
    path = CHILDREN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make children` (make test does)")
    return [str(path)]


def lenprefix_args(language: str, options: dict[str, Any]) -> list[str]:
    """The child's flags for a lenprefix set's options (Go: -width, Racket: --width)."""
    dash = "-" if language == "go" else "--"
    return [f"{dash}width", str(options.get("width", 4)), f"{dash}byteorder", options.get("byteorder", "big")]


def exchange(command: list[str], data: bytes, *, tagged: bool) -> bytes:
    """Write ``data`` to a fresh child, close stdin, and return all it wrote; it must exit 0 quietly."""
    env = {**os.environ, "STDIOBRIDGE_TAGGED": "1" if tagged else "0"}
    done = subprocess.run(command, input=data, capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr, (done.returncode, done.stderr[-500:])
    return done.stdout


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
@pytest.mark.parametrize(("language", "codec"), sorted(ECHOES))
def test_every_reference_child_conforms(language: str, codec: str, tagged: bool) -> None:
    """The kit passes every reference child, tagged too (`conform --tagged`: ids, any order, golden vectors)."""
    command = child(ECHOES[language, codec])
    results = run_checks(command, codec, examples=40, timeout=20, tagged=tagged)
    report = format_report(command, f"{codec} (tagged)" if tagged else codec, results)
    assert results and all(r.passed for r in results), report
    assert len(results) == (12 if tagged else 9), report
    if tagged:
        vectors = next(r.detail for r in results if r.name == "tagged: golden vectors byte-exact")
        assert vectors.endswith("tagged golden vectors answered byte for byte"), vectors


def _vector_sets(path: Path, codec: str) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = json.loads(path.read_text())["sets"]
    return [s for s in sets if s.get("codec", codec) == codec and "max_frame" not in s["options"]]


@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
@pytest.mark.parametrize(("language", "codec"), sorted(ECHOES))
def test_valid_vectors_come_back_byte_for_byte(language: str, codec: str, tagged: bool) -> None:
    """Every both-ways valid vector, sent in one stream, is answered with exactly the same bytes."""
    path = VECTORS / ("tagged.json" if tagged else f"{codec}.json")
    sets = _vector_sets(path, codec)
    assert sets, f"no vector set for {codec} in {path.name}"
    for vector_set in sets:
        frames = [bytes.fromhex(v["hex"]) for v in vector_set["valid"] if v.get("direction", "both") == "both"]
        args = lenprefix_args(language, vector_set["options"]) if codec == "lenprefix" else []
        data = b"".join(frames)
        got = exchange(child(ECHOES[language, codec]) + args, data, tagged=tagged)
        if tagged and language == "go-concurrent":  # answers in any order: compare them as a set
            assert sorted(got.splitlines()) == sorted(data.splitlines())
        elif got != data:
            mismatch = next(f for f, g in zip(frames, _split_like(frames, got), strict=False) if f != g)
            pytest.fail(f"{language}-{codec} {vector_set['options']}: sent {mismatch.hex()}, answer differs")


def _split_like(frames: list[bytes], got: bytes) -> list[bytes]:
    """``got`` cut into pieces of the frames' lengths (to name the first frame that differs)."""
    pieces, at = [], 0
    for f in frames:
        pieces.append(got[at : at + len(f)])
        at += len(f)
    return [*pieces, got[at:]]


JSON_CHILDREN = sorted(lang for lang, codec in ECHOES if codec == "jsonl")
MSGPACK_CHILDREN = sorted(lang for lang, codec in ECHOES if codec == "msgpack")


@pytest.mark.parametrize("language", JSON_CHILDREN)
def test_jsonl_children_keep_what_the_guide_says_must_survive(language: str) -> None:
    """Key order, exact floats that stay floats (1.0, -0.0), 64-bit integers and 254 levels of nesting."""
    floats = [1.0, -0.0, 0.1, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 2.5e-8, 123456.789]
    message = {"z": 1, "a": {"y": None, "b": [True]}, "m": 2, "floats": floats, "ints": [-(2**63), 2**64 - 1, 0]}
    deep: Any = "bottom"
    for _ in range(253):
        deep = [deep]
    with sb.Bridge(child(ECHOES[language, "jsonl"]), codec="jsonl", timeout=20) as bridge:
        got = bridge.call(message)
        assert got == message and list(got) == list(message) and list(got["a"]) == ["y", "b"]
        assert all(type(f) is float for f in got["floats"])
        assert math.copysign(1.0, got["floats"][1]) == -1.0
        assert _depth(bridge.call(deep)) == (253, "bottom")


@pytest.mark.parametrize("language", MSGPACK_CHILDREN)
def test_msgpack_children_keep_types_exts_and_depth(language: str) -> None:
    """str and bin apart, float64, ext types (timestamp -1) unchanged, map order, and 1024 levels."""
    message = {
        "s": "é",
        "b": b"\x00\xff",
        "f": 0.1,
        "n": [-(2**63), 2**64 - 1],
        "t": msgpack.Timestamp(1_700_000_000, 5),
        "x": msgpack.ExtType(5, b"\x01\x02\x03"),
        7: None,
    }
    deep: Any = 0
    for _ in range(1023):
        deep = [deep]
    with sb.Bridge(child(ECHOES[language, "msgpack"]), codec="msgpack", timeout=20) as bridge:
        got = bridge.call(message)
        assert got == message and list(got) == list(message)
        assert _depth(bridge.call(deep)) == (1023, 0)


def _depth(value: Any) -> tuple[int, Any]:
    """How many single-element lists wrap ``value``, and what is inside (without recursion)."""
    levels = 0
    while isinstance(value, list) and len(value) == 1:
        value, levels = value[0], levels + 1
    return levels, value


@pytest.mark.parametrize("name", TYPED)
def test_typed_examples_serve_add_and_upper(name: str) -> None:
    """The "Writing a child" example: typed requests, typed answers, a per-request error that is not fatal."""
    with sb.Bridge(child(name), codec="jsonl", timeout=20) as bridge:
        pid = bridge.pid
        assert bridge.call({"op": "add", "a": 2, "b": 40}) == {"result": 42}
        assert bridge.call({"op": "add", "a": -5, "b": 5}) == {"result": 0}
        assert bridge.call({"op": "upper", "text": "héllo"}) == {"result": "HÉLLO"}
        answer = bridge.call({"op": "divide"})
        assert set(answer) == {"error"} and "divide" in answer["error"]
        assert "error" in bridge.call({"op": "add", "a": "two", "b": 3})
        assert bridge.call({"op": "upper", "text": ""}) == {"result": ""}
        assert bridge.pid == pid  # the errors were answers, not crashes


@pytest.mark.parametrize("name", TYPED)
def test_typed_examples_in_tagged_mode(name: str) -> None:
    requests = [(9, {"op": "add", "a": 1, "b": 2}), (4_000_000_000, {"op": "upper", "text": "x"}), (3, {"op": "?"})]
    data = b"".join(json.dumps([i, r], separators=(",", ":")).encode() + b"\n" for i, r in requests)
    answers = [json.loads(line) for line in exchange(child(name), data, tagged=True).splitlines()]
    assert [a[0] for a in answers] == [9, 4_000_000_000, 3]
    assert answers[0][1] == {"result": 3} and answers[1][1] == {"result": "X"} and "error" in answers[2][1]


def test_go_concurrent_answers_out_of_order_with_the_ids_echoed() -> None:
    """Requests sleeping 0.6 s down to 0 s, sent at once: the answers come back by id, not in order."""
    count = 7
    ids = [4_294_967_295 - 7919 * i for i in range(count)]  # the host's ids look random
    sent = [(ids[i], {"sleep_ms": 100 * (count - 1 - i), "n": i, "pad": "é" * i}) for i in range(count)]
    data = b"".join(json.dumps([i, m], separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for i, m in sent)
    lines = exchange(child("go-concurrent"), data, tagged=True).splitlines(keepends=True)
    answers = [json.loads(line) for line in lines]
    assert sorted(a[0] for a in answers) == sorted(ids)
    assert {a[0]: a[1] for a in answers} == dict(sent)
    assert [a[0] for a in answers] != ids, "answers came back in request order"
    assert set(lines) == set(data.splitlines(keepends=True))  # each answer is its request's exact bytes
