"""The Lambda face: unit tests of its mappings, then end to end under AWS's real emulator and awslambdaric.

The emulator (tools/rie.py) is AWS's own Runtime Interface Emulator, fetched
from the aws-sam-cli wheel on PyPI; the runtime is ``python -m awslambdaric``.
Nothing here is faked except the context object of the in-process mapping tests.
If the emulator cannot be fetched the tests fail loudly: they are never skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import stdiobridge as sb
from stdiobridge.aws_lambda import (
    NO_WARMUP,
    LambdaHandler,
    context_fields,
    default_request,
    default_response,
    handler_options_from_environment,
    make_handler,
    settings_from_environment,
)

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
CHILDREN = REPO / "build" / "children"
EXAMPLE = REPO / "examples" / "lambda-racket"
FAULT_CHILD = [sys.executable, str(TESTS / "lambda_fault_child.py")]
CODECS = ["lines", "jsonl", "lenprefix", "msgpack"]

sys.path.insert(0, str(REPO / "tools"))
import rie  # noqa: E402  (tools/ is not a package: it is never shipped)

from helpers import children_of  # noqa: E402


class FakeContext:
    """Stands in for awslambdaric's LambdaContext in the in-process mapping tests (same attributes)."""

    aws_request_id = "req-1"
    function_name = "fn"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    memory_limit_in_mb = "256"
    log_group_name = "/aws/lambda/fn"
    log_stream_name = "2026/11/27/[$LATEST]abc"

    def __init__(self, remaining_ms: int) -> None:
        self.deadline = time.time_ns() // 1_000_000 + remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline - time.time_ns() // 1_000_000)


def child(name: str) -> str:
    """A reference child from ``make children``; a missing one fails the test (CI builds them)."""
    path = CHILDREN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make children`")
    return str(path)


def gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` is not running (gone, or a zombie nobody reaps), polling up to ``within`` s."""
    end = time.monotonic() + within
    while rie.running(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture(scope="session", autouse=True)
def emulator_binary() -> Path:
    """The emulator must be there: fetch it once, and fail (never skip) when that is impossible."""
    try:
        return rie.rie_binary()
    except rie.RieUnavailable as exc:
        pytest.fail(f"AWS's Lambda emulator is required by these tests and could not be fetched: {exc}")


@contextlib.contextmanager
def app(
    command: list[str],
    codec: str,
    *,
    margin: float = 0.5,
    response: str = "",
    function_timeout: int = 10,
    tagged: bool = False,
) -> Iterator[rie.Emulator]:
    """One emulated environment running tests/lambda_app.py (make_handler) in front of ``command``."""
    env = {
        "LAMBDA_TEST_COMMAND": json.dumps(command),
        "LAMBDA_TEST_CODEC": codec,
        "LAMBDA_TEST_MARGIN": str(margin),
        "LAMBDA_TEST_RESPONSE": response,
        "LAMBDA_TEST_TAGGED": "1" if tagged else "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with rie.emulator("lambda_app.handler", TESTS, env=env, function_timeout=function_timeout) as em:
        yield em


def ok(em: rie.Emulator, event: Any) -> dict[str, Any]:
    """Invoke and insist on a successful answer (the emulator's log is shown otherwise)."""
    status, body = em.invoke(event)
    assert status == 200 and isinstance(body, dict) and "errorType" not in body, (status, body, em.log_text()[-3000:])
    return body


# --- the mappings, in process ------------------------------------------------------------


def test_context_fields_are_the_useful_ones_with_an_absolute_deadline() -> None:
    """Every documented field is there, memory is an int, deadline_ms = now + remaining."""
    ctx = FakeContext(3000)
    before = time.time_ns() // 1_000_000
    fields = context_fields(ctx)
    assert fields is not None
    assert fields["aws_request_id"] == "req-1" and fields["function_name"] == "fn"
    assert fields["function_version"] == "$LATEST" and fields["invoked_function_arn"].endswith(":function:fn")
    assert fields["log_group_name"] == "/aws/lambda/fn" and fields["log_stream_name"].startswith("2026/")
    assert fields["memory_limit_in_mb"] == 256
    assert 2900 <= fields["remaining_time_in_millis"] <= 3000
    assert abs(fields["deadline_ms"] - ctx.deadline) <= 2 and fields["deadline_ms"] >= before
    assert context_fields(None) is None
    ctx_exact = FakeContext(1000)
    ctx_exact._epoch_deadline_time_in_ms = 1234567890123  # type: ignore[attr-defined]  # awslambdaric's own
    assert context_fields(ctx_exact)["deadline_ms"] == 1234567890123  # type: ignore[index]


@pytest.mark.parametrize("codec", CODECS)
def test_default_request_per_codec(codec: str) -> None:
    """JSON text on lines, JSON bytes on lenprefix, the map itself on jsonl and msgpack."""
    message = default_request(sb.get_codec(codec))({"text": "héllo\nworld"}, FakeContext(1000))
    if codec == "lines":
        assert isinstance(message, str) and "\n" not in message
    elif codec == "lenprefix":
        assert isinstance(message, bytes)
    else:
        assert isinstance(message, dict)
    decoded = orjson.loads(message) if isinstance(message, (str, bytes)) else message
    assert decoded["event"] == {"text": "héllo\nworld"}
    assert decoded["context"]["aws_request_id"] == "req-1"
    sb.get_codec(codec).encode(message)  # the codec accepts it


def test_default_response_modes() -> None:
    """Text on lines/lenprefix (json parses it), values as is on structured codecs, text mode always a str."""
    lines, lenprefix, jsonl = sb.get_codec("lines"), sb.get_codec("lenprefix"), sb.get_codec("msgpack")
    assert default_response(lines)('{"a": 1}') == '{"a": 1}'
    assert default_response(lenprefix)("é".encode()) == "é"
    assert default_response(jsonl)({"a": b"x"}) == {"a": b"x"}
    assert default_response(lines, "json")('{"a": [1, 2]}') == {"a": [1, 2]}
    assert default_response(lenprefix, "json")(b"[1]") == [1]
    assert default_response(jsonl, "json")({"already": "parsed"}) == {"already": "parsed"}
    assert default_response(jsonl, "text")({"a": 1}) == '{"a":1}'
    assert default_response(lenprefix, "text")(b"ok") == "ok"
    with pytest.raises(sb.DecodeError, match="not UTF-8 text"):
        default_response(lenprefix)(b"\xff\xfe")
    with pytest.raises(sb.DecodeError, match="not JSON") as info:
        default_response(lines, "json")("hello there")
    assert info.value.excerpt == b"hello there"
    with pytest.raises(sb.ConfigError, match="response must be"):
        default_response(lines, "xml")  # type: ignore[arg-type]


def test_call_timeout_is_remaining_time_minus_margin_capped_by_the_bridge() -> None:
    """The budget follows the context; the bridge's own timeout caps it; no context: the bridge's."""
    h = LambdaHandler(sb.Bridge(["cat"], timeout=None), margin=0.5)
    assert 2.4 <= h.call_timeout(FakeContext(3000)) <= 2.5  # type: ignore[operator]
    assert h.call_timeout(None) is None  # the bridge's own timeout / startup_timeout then apply
    capped = LambdaHandler(sb.Bridge(["cat"], timeout=1.0), margin=0.5)
    assert capped.call_timeout(FakeContext(30_000)) == 1.0
    starting = LambdaHandler(sb.Bridge(["cat"], timeout=1.0, startup_timeout=5.0), margin=0.5)
    assert starting.call_timeout(FakeContext(30_000)) == 5.0  # no child has answered yet
    with pytest.raises(sb.CallTimeout, match="not more than the margin"):
        h.call_timeout(FakeContext(400))
    for bad in (-1, "0.5", True):
        with pytest.raises(sb.ConfigError, match="margin"):
            LambdaHandler(sb.Bridge(["cat"]), margin=bad)  # type: ignore[arg-type]


@pytest.mark.timeout(20)
def test_below_the_margin_fails_fast_without_sending() -> None:
    """Too little time left: CallTimeout at once, nothing written, the same child answers the next call."""
    h = make_handler([child("go-jsonl")], codec="jsonl", margin=0.5)
    try:
        pid = h.pid
        started = time.monotonic()
        with pytest.raises(sb.CallTimeout, match="the request was not sent"):
            h({"x": 1}, FakeContext(300))
        assert time.monotonic() - started < 0.1
        assert h.bridge.stats.calls == 0 and h.bridge.stats.bytes_sent == 0
        assert h({"x": 2}, FakeContext(5000))["event"] == {"x": 2} and h.pid == pid
    finally:
        h.close()


@pytest.mark.timeout(20)
def test_make_handler_in_process_with_custom_mappings() -> None:
    """request=/response= callables replace the built-in mappings; no context works for local calls."""
    h = make_handler(
        [child("go-lines")],
        request=lambda event, context: event["text"],
        response=lambda message: {"upper": message.upper()},
    )
    try:
        assert h({"text": "hi there"}, FakeContext(5000)) == {"upper": "HI THERE"}
        assert h({"text": "local"}) == {"upper": "LOCAL"}
        assert h.bridge.stats.spawns == 1
    finally:
        h.close()


@pytest.mark.timeout(20)
def test_make_handler_from_config_with_overrides(tmp_path: Path) -> None:
    """command=None reads the config; codec= and bridge options override it; bad combinations are ConfigErrors."""
    h = make_handler(config={"command": [child("go-jsonl")], "codec": "jsonl", "timeout": 7})
    try:
        assert h.bridge.codec.name == "jsonl" and h.bridge.timeout == 7
        assert h({"a": 1}, FakeContext(5000))["event"] == {"a": 1}
    finally:
        h.close()
    (tmp_path / "stdiobridge.toml").write_text(f'command = ["{child("go-msgpack")}"]\ncodec = "jsonl"\n')
    h = make_handler(config=tmp_path / "stdiobridge.toml", codec="msgpack", timeout=3.0)
    try:
        assert h.bridge.codec.name == "msgpack" and h.bridge.timeout == 3.0
        assert h({"b": [1, 2]}, FakeContext(5000))["event"] == {"b": [1, 2]}
    finally:
        h.close()
    lambda_table = {"command": [child("go-lines")], "lambda": {"response": "json", "margin": 0.25}}
    h = make_handler(config=lambda_table)  # the [lambda] table of a config file, as a mapping here
    try:
        assert h.margin == 0.25
        assert h({"c": 3}, FakeContext(5000))["event"] == {"c": 3}  # the echoed JSON line, parsed
    finally:
        h.close()
    with pytest.raises(sb.ConfigError, match="not both"):
        make_handler(["cat"], config={"command": ["cat"]})
    with pytest.raises(sb.ConfigError, match="response must be"):
        make_handler(["cat"], response="xml")  # type: ignore[arg-type]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("how", ["argument", "config", "environment"])
def test_make_handler_honours_tagged_from_each_source(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tagged= / ``tagged = true`` / STDIOBRIDGE_TAGGED=1: the bridge is tagged and a held-back answer is dropped.

    The fault child holds the answer to ``hold`` until the next request: a tagged bridge keeps the child
    after the CallTimeout and drops that late answer; an untagged one would have to recycle.
    """
    if how == "argument":
        h = make_handler(FAULT_CHILD, codec="jsonl", tagged=True)
    elif how == "config":
        (tmp_path / "stdiobridge.toml").write_text(
            f'command = {json.dumps(FAULT_CHILD)}\ncodec = "jsonl"\ntagged = true\n'
        )
        h = make_handler(config=tmp_path / "stdiobridge.toml")
    else:
        monkeypatch.setenv("STDIOBRIDGE_COMMAND", shlex.join(FAULT_CHILD))
        monkeypatch.setenv("STDIOBRIDGE_CODEC", "jsonl")
        monkeypatch.setenv("STDIOBRIDGE_TAGGED", "1")
        h = make_handler()  # configured from the environment, as the ready-made handler is
    try:
        assert h.bridge.spec.tagged
        pid = h.pid
        assert h({"x": 1}, FakeContext(5000))["event"] == {"x": 1}
        with pytest.raises(sb.CallTimeout, match="was kept"):
            h({"fault": "hold"}, FakeContext(1500))
        assert h({"x": 2}, FakeContext(5000))["event"] == {"x": 2}
        assert h.pid == pid and h.bridge.stats.spawns == 1 and h.bridge.stats.late == 1
    finally:
        h.close()


@pytest.mark.timeout(20)
def test_warmup_runs_during_make_handler_and_its_failure_fails_init(tmp_path: Path) -> None:
    """warmup= sends one event at init (answer discarded); a child that cannot answer it fails the init."""
    h = make_handler(FAULT_CHILD, codec="jsonl", warmup={"warm": True})
    try:
        assert h.bridge.stats.calls == 1
        assert h({"x": 1}, FakeContext(5000))["event"] == {"x": 1} and h.bridge.stats.spawns == 1
    finally:
        h.close()
    with pytest.raises(sb.ChildExited, match="crashing as asked"):
        make_handler(FAULT_CHILD, codec="jsonl", warmup={"fault": "crash"})
    assert NO_WARMUP is not None


def test_settings_from_environment_resolve_against_the_task_root(tmp_path: Path) -> None:
    """STDIOBRIDGE_CONFIG and a relative STDIOBRIDGE_COMMAND are taken from LAMBDA_TASK_ROOT."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "bridge.toml").write_text('command = ["./bin/app", "--flag"]\ncodec = "jsonl"\n')
    env = {"LAMBDA_TASK_ROOT": str(tmp_path), "STDIOBRIDGE_CONFIG": "conf/bridge.toml"}
    settings = settings_from_environment(env)
    assert settings.command == [str(tmp_path / "conf" / "bin" / "app"), "--flag"] and settings.codec == "jsonl"
    env = {"LAMBDA_TASK_ROOT": str(tmp_path), "STDIOBRIDGE_COMMAND": "./app -v", "STDIOBRIDGE_CODEC": "msgpack"}
    settings = settings_from_environment(env)
    assert settings.command == [str(tmp_path / "app"), "-v"] and settings.codec == "msgpack"
    (tmp_path / "stdiobridge.toml").write_text('command = ["./x"]\ntimeout = 4\n')
    settings = settings_from_environment({"LAMBDA_TASK_ROOT": str(tmp_path)})
    assert settings.command == [str(tmp_path / "x")] and settings.timeout == 4
    with pytest.raises(sb.ConfigError, match="is not configured: set STDIOBRIDGE_CONFIG"):
        settings_from_environment({"LAMBDA_TASK_ROOT": str(tmp_path / "conf")})
    options = handler_options_from_environment(
        {"STDIOBRIDGE_LAMBDA_RESPONSE": "json", "STDIOBRIDGE_LAMBDA_MARGIN": "0.25", "STDIOBRIDGE_LAMBDA_WARMUP": "{}"}
    )
    assert options == {"response": "json", "margin": 0.25, "warmup": {}}
    with pytest.raises(sb.ConfigError, match="LAMBDA_MARGIN"):
        handler_options_from_environment({"STDIOBRIDGE_LAMBDA_MARGIN": "soon"})


@pytest.mark.parametrize(
    ("env_value", "toml_value"),
    [("JSON", '"JSON"'), ("json", '"json"'), ("text", '"text"'), ("xml", '"xml"'), ("-1", "-1"), ("0.5", "0.5")],
)
def test_lambda_options_agree_between_environment_and_toml(tmp_path: Path, env_value: str, toml_value: str) -> None:
    """One parser: a value is accepted from STDIOBRIDGE_LAMBDA_* exactly when the [lambda] table accepts it."""
    key = "margin" if env_value[-1].isdigit() else "response"
    config = tmp_path / "stdiobridge.toml"
    config.write_text(f'command = ["./app"]\n[lambda]\n{key} = {toml_value}\n')
    readers: list[Callable[[], dict[str, Any]]] = [
        lambda: sb.load_config(config, env={}).lambda_options,
        lambda: handler_options_from_environment({f"STDIOBRIDGE_LAMBDA_{key.upper()}": env_value}),
    ]
    outcomes: list[object] = []
    for read in readers:
        try:
            outcomes.append(read())
        except sb.ConfigError as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1], outcomes


_PROBE = """
import os, sys
import stdiobridge.aws_lambda as m
bridge = m.handler.bridge
print(bridge.pid if bridge else None, flush=True)
if bridge:
    print(os.readlink(f"/proc/{bridge.pid}/exe"), flush=True)
try:
    print(m.handler({"probe": 1}, None), flush=True)
except Exception as exc:
    print(type(exc).__name__, exc, flush=True)
"""


def _probe(env: dict[str, str]) -> list[str]:
    """Import stdiobridge.aws_lambda in a fresh interpreter with ``env``; what it printed, line by line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STDIOBRIDGE_") and k != "_HANDLER"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.timeout(60)
def test_module_handler_spawns_at_import_only_when_configured(tmp_path: Path) -> None:
    """Configured: the child runs right after import. Unconfigured: import works, a call is a ConfigError."""
    (tmp_path / "bin").mkdir()
    shutil.copy(child("go-jsonl"), tmp_path / "bin" / "echo")
    env = {"LAMBDA_TASK_ROOT": str(tmp_path), "STDIOBRIDGE_COMMAND": "./bin/echo", "STDIOBRIDGE_CODEC": "jsonl"}
    pid, exe, answer = _probe({**env, "_HANDLER": "stdiobridge.aws_lambda.handler"})
    assert pid.isdigit() and exe == str(tmp_path / "bin" / "echo")
    assert "'event': {'probe': 1}" in answer
    pid, _exe, _answer = _probe({**env, "_HANDLER": "stdiobridge/aws_lambda.handler"})
    assert pid.isdigit()
    none, error = _probe({"LAMBDA_TASK_ROOT": str(tmp_path / "bin"), "_HANDLER": "stdiobridge.aws_lambda.handler"})
    assert none == "None" and error.startswith("ConfigError the Lambda handler 'stdiobridge.aws_lambda.handler'")
    # Lambda's Handler names another module (which calls make_handler itself): no second child at import.
    none, _answer = _probe({**env, "_HANDLER": "app.handler"})
    assert none == "None"
    # Not under Lambda at all (a developer's test run with STDIOBRIDGE_* set): no child at import,
    # the handler configures itself on its first call.
    none, answer = _probe(env)
    assert none == "None" and "'event': {'probe': 1}" in answer


# --- under the emulator ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_init_spawns_once_and_200_warm_invocations_reuse_one_child() -> None:
    """The child spawned at init answers the first invocation and the next 199, in one runtime."""
    with app([child("racket-lines")], "lines", response="json") as em:
        first = ok(em, {"n": 0})
        assert first["pid"] == first["init_child"] and first["spawns"] == 1
        pids, runtimes, request_ids = set(), set(), set()
        for n in range(1, 200):
            body = ok(em, {"n": n})
            assert body["answer"]["event"] == {"n": n}
            pids.add(body["pid"])
            runtimes.add(body["runtime_pid"])
            request_ids.add(body["answer"]["context"]["aws_request_id"])
        assert pids == {first["pid"]} and runtimes == {first["runtime_pid"]} and len(request_ids) == 199
        assert ok(em, {"n": 200})["spawns"] == 1
        runtime_children = children_of(first["runtime_pid"])
        assert runtime_children == [first["pid"]]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("lang", ["go", "racket"])
@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_end_to_end(codec: str, lang: str) -> None:
    """Event and context round-trip through each reference echo child (lines: as text; lenprefix: parsed)."""
    response = "json" if codec == "lenprefix" else ""
    event = {"text": "héllo wörld ✓", "nested": {"list": [1, 2.5, None, True]}, "big": 2**53 + 1, "empty": ""}
    with app([child(f"{lang}-{codec}")], codec, response=response, function_timeout=10) as em:
        for _ in range(2):
            before = time.time_ns() // 1_000_000
            body = ok(em, event)
            answer = body["answer"]
            if codec == "lines":
                assert isinstance(answer, str)
                answer = json.loads(answer)
            assert answer["event"] == event
            ctx = answer["context"]
            assert re.fullmatch(r"[0-9a-f-]{36}", ctx["aws_request_id"])
            assert ctx["function_name"] == "stdiobridge-test" and ctx["function_version"] == "$LATEST"
            assert ctx["invoked_function_arn"].endswith(":function:stdiobridge-test")
            assert ctx["memory_limit_in_mb"] == 512
            assert ctx["log_group_name"] and ctx["log_stream_name"]
            assert 0 < ctx["remaining_time_in_millis"] <= 10_000
            assert before - 1000 < ctx["deadline_ms"] <= before + 10_000 + 1000
            assert body["spawns"] == 1


@pytest.mark.timeout(30)
def test_child_crash_fails_one_invocation_then_the_next_succeeds() -> None:
    """A crash mid-request: errorType ChildExited with the child's stderr; the next invocation gets a new child."""
    with app(FAULT_CHILD, "jsonl") as em:
        first = ok(em, {"x": 1})
        status, body = em.invoke({"fault": "crash"})
        assert status == 200 and body["errorType"] == "ChildExited", body
        assert "crashing as asked" in body["errorMessage"] and "exited with status 3" in body["errorMessage"]
        # the child's stderr also reached the function's log (logger stdiobridge.child, INFO, via awslambdaric)
        assert re.search(r"\[INFO\].*\[child \d+\] fault child \d+: crashing as asked", em.log_text())
        after = ok(em, {"x": 2})
        assert after["answer"]["event"] == {"x": 2}
        assert after["pid"] != first["pid"] and after["spawns"] == 2
        assert after["runtime_pid"] == first["runtime_pid"]  # the environment itself was not reset
        assert gone(first["pid"])


@pytest.mark.timeout(30)
def test_child_killed_between_invocations_is_replaced_before_the_request() -> None:
    """A child that died while idle (or frozen) is replaced transparently: the next invocation just works."""
    with app([child("go-jsonl")], "jsonl") as em:
        first = ok(em, {"x": 1})
        assert ok(em, {"_control": "kill-child"})["killed"] == first["pid"]
        after = ok(em, {"x": 2})
        assert after["answer"]["event"] == {"x": 2} and after["pid"] != first["pid"] and after["spawns"] == 2
        assert "while idle; starting a new one" in em.log_text()


@pytest.mark.timeout(30)
def test_hung_child_ends_as_call_timeout_before_the_function_timeout() -> None:
    """A child that never answers: a clean CallTimeout (HTTP 200) before Lambda's 2 s timeout; then a new child."""
    with app(FAULT_CHILD, "jsonl", margin=0.5, function_timeout=2) as em:
        first = ok(em, {"x": 1})
        started = time.monotonic()
        status, body = em.invoke({"fault": "hang"})
        elapsed = time.monotonic() - started
        assert status == 200 and isinstance(body, dict) and body["errorType"] == "CallTimeout", body
        assert 1.0 < elapsed < 2.0, elapsed  # ~1.5 s: the remaining time minus the margin
        assert "margin=0.5" in body["errorMessage"]
        assert gone(first["pid"])
        after = ok(em, {"x": 2})
        assert after["pid"] != first["pid"] and after["runtime_pid"] == first["runtime_pid"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
def test_a_timed_out_invocation_recycles_the_child_unless_tagged(tagged: bool) -> None:
    """The child holds one answer back until the next request arrives, then writes it just before the next answer.

    Untagged: the invocation's CallTimeout recycles the child (its held answer dies with it), so the next
    invocation is served by a new pid. Tagged: the id is abandoned and the child kept; the next invocation is
    served by the same pid, and the late answer that arrives first is dropped and counted, never returned.
    """
    with app(FAULT_CHILD, "jsonl", margin=0.5, function_timeout=2, tagged=tagged) as em:
        first = ok(em, {"x": 1})
        status, body = em.invoke({"fault": "hold"})
        assert status == 200 and isinstance(body, dict) and body["errorType"] == "CallTimeout", body
        after = ok(em, {"x": 2})
        assert after["answer"]["event"] == {"x": 2}
        assert after["runtime_pid"] == first["runtime_pid"]
        if tagged:
            assert "was kept" in body["errorMessage"], body
            assert after["pid"] == first["pid"] and after["spawns"] == 1 and after["late"] == 1, after
        else:
            assert after["pid"] != first["pid"] and after["spawns"] == 2 and after["late"] == 0, after
            assert gone(first["pid"])
        assert ok(em, {"x": 3})["answer"]["event"] == {"x": 3}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tagged", [False, True], ids=["untagged", "tagged"])
def test_racket_example_after_a_timeout_keeps_its_pid_only_when_tagged(tagged: bool) -> None:
    """The origin scenario: the Racket example (STDIOBRIDGE_TAGGED read by application.rkt) behind the handler.

    Its slow work (event.work_ms) outlives the invocation: tagged, the next invocation is served by the same
    pid, after the late answer is dropped; untagged, a Racket child is started again (and paid for).
    """
    command = ["racket", str(EXAMPLE / "application.rkt")]
    with app(command, "lines", response="json", margin=0.5, function_timeout=4, tagged=tagged) as em:
        first = ok(em, {"name": "Ada", "text": "to be or not to be"})
        assert first["answer"]["greeting"] == "Hello, Ada!" and first["answer"]["words"] == 6
        status, body = em.invoke({"name": "Slow", "work_ms": 4000})
        assert status == 200 and isinstance(body, dict) and body["errorType"] == "CallTimeout", body
        after = ok(em, {"name": "Bo"})
        assert after["answer"]["greeting"] == "Hello, Bo!", after
        if tagged:
            assert after["pid"] == first["pid"] and after["spawns"] == 1 and after["late"] == 1, after
        else:
            assert after["pid"] != first["pid"] and after["spawns"] == 2, after


@pytest.mark.timeout(30)
def test_tagged_hung_request_leaves_the_child_serving() -> None:
    """Tagged: a request the child never answers ends as CallTimeout; the same child answers what comes next."""
    with app(FAULT_CHILD, "jsonl", margin=0.5, function_timeout=2, tagged=True) as em:
        first = ok(em, {"x": 1})
        status, body = em.invoke({"fault": "hang"})
        assert status == 200 and isinstance(body, dict) and body["errorType"] == "CallTimeout", body
        for n in range(2, 5):
            after = ok(em, {"x": n})
            assert after["answer"]["event"] == {"x": n} and after["pid"] == first["pid"] and after["spawns"] == 1


@pytest.mark.timeout(30)
def test_emulator_timeout_leaves_no_process_behind(tmp_path: Path) -> None:
    """The emulator's own timeout SIGKILLs the runtime's group: runtime, child and grandchild all go."""
    pidfile = tmp_path / "pids.json"
    with app(FAULT_CHILD, "jsonl", margin=0.0, function_timeout=1) as em:
        first = ok(em, {"x": 1})
        status, body = em.invoke({"_control": "unbounded", "fault": "grandchild", "pidfile": str(pidfile)})
        assert status == 200 and "timed out" in str(body), body
        pids = json.loads(pidfile.read_text())
        assert pids["child"] == first["pid"]
        for pid in (first["runtime_pid"], pids["child"], pids["grandchild"]):
            assert gone(pid), f"pid {pid} survived the emulator's timeout kill"
        again = ok(em, {"x": 2})  # the next invocation re-initialises the environment
        assert again["runtime_pid"] != first["runtime_pid"] and again["spawns"] == 1


@pytest.mark.timeout(40)
@pytest.mark.parametrize("how", ["toml", "env"])
def test_environment_configured_handler(tmp_path: Path, how: str) -> None:
    """Handler stdiobridge.aws_lambda.handler, configured by STDIOBRIDGE_CONFIG (TOML) or _COMMAND + _CODEC."""
    (tmp_path / "bin").mkdir()
    codec = "jsonl" if how == "toml" else "msgpack"
    shutil.copy(child(f"go-{codec}"), tmp_path / "bin" / "echo")
    if how == "toml":
        (tmp_path / "conf").mkdir()
        (tmp_path / "conf" / "fn.toml").write_text('command = ["../bin/echo"]\ncodec = "jsonl"\ntimeout = 5\n')
        env = {"STDIOBRIDGE_CONFIG": "conf/fn.toml"}
    else:
        env = {"STDIOBRIDGE_COMMAND": "./bin/echo", "STDIOBRIDGE_CODEC": "msgpack"}
    with rie.emulator("stdiobridge.aws_lambda.handler", tmp_path, env=env, function_timeout=5) as em:
        children = set()
        for n in range(5):
            body = ok(em, {"n": n})
            assert body["event"] == {"n": n} and body["context"]["function_name"] == "stdiobridge-test"
            runtime = em.runtime_pid()
            assert runtime is not None
            children |= set(children_of(runtime))
        assert len(children) == 1
        (only,) = children
        assert os.readlink(f"/proc/{only}/exe") == str(tmp_path / "bin" / "echo")


def _extract(bundle: Path, root: Path) -> None:
    """Unzip as Lambda does: permission bits from the archive are kept (zipfile alone drops them)."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, root))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


@pytest.mark.timeout(300)
def test_bundle_is_self_contained(tmp_path: Path) -> None:
    """`make bundle`, unzipped into an empty folder, runs under a bare Python with only awslambdaric added."""
    version = "3.12"
    python = rie.find_python(version)
    if python is None:  # build the bundle for the Python we have instead (the recipe is the same)
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        python = Path(getattr(sys, "_base_executable", sys.executable))
    bundle = tmp_path / "bundle.zip"
    make = subprocess.run(
        [
            "make",
            "-C",
            str(EXAMPLE),
            "bundle",
            f"PYTHON={sys.executable}",
            f"PYTHON_VERSION={version}",
            f"BUNDLE={bundle}",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert make.returncode == 0, make.stdout[-3000:] + make.stderr[-3000:]
    task = tmp_path / "task"
    _extract(bundle, task)
    assert (task / "stdiobridge" / "aws_lambda.py").is_file() and (task / "stdiobridge.toml").is_file()
    # Lambda's task root is read-only: bytecode for the runtime's Python ships in the bundle, valid as unzipped.
    tag = f"cpython-{version.replace('.', '')}"
    for module in ("__init__", "aws_lambda", "bridge", "config"):
        pyc = task / "stdiobridge" / "__pycache__" / f"{module}.{tag}.pyc"
        assert pyc.is_file(), pyc
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01, "not an unchecked-hash .pyc"
    assert list((task / "msgpack" / "__pycache__").glob(f"*.{tag}.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    ric = rie.runtime_client(version)
    bare = {"PYTHONPATH": str(ric), "PYTHONNOUSERSITE": "1", "PATH": os.environ.get("PATH", "")}
    # The bare interpreter has no stdiobridge, orjson or msgpack of its own: only the bundle can provide them.
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import awslambdaric, stdiobridge"],
        env=bare,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert probe.returncode != 0 and "No module named 'stdiobridge'" in probe.stderr, probe.stderr
    env = {
        **bare,
        "STDIOBRIDGE_CONFIG": "stdiobridge.toml",
        "STDIOBRIDGE_LAMBDA_RESPONSE": "json",
        "STDIOBRIDGE_LAMBDA_WARMUP": '{"name": "init"}',
    }
    with rie.emulator(
        "stdiobridge.aws_lambda.handler", task, env=env, python=venv / "bin" / "python", function_timeout=10
    ) as em:
        body = ok(em, {"name": "Ada", "text": "To be, or not to be: that is the question."})
        assert body["greeting"] == "Hello, Ada!" and body["words"] == 10 and body["distinct"] == 8
        assert body["top"] == [["to", 2], ["be", 2], ["or", 1]]
        assert re.fullmatch(r"[0-9a-f-]{36}", body["request_id"]) and 0 < body["remaining_ms"] <= 10_000
        assert ok(em, {"text": "a b a"})["top"] == [["a", 2], ["b", 1]]
        runtime = em.runtime_pid()
        assert runtime is not None
        with open(f"/proc/{runtime}/maps") as fh:
            mapped = {line.split()[-1] for line in fh if "/" in line}
        native = {p for p in mapped if re.search(r"/(orjson|_cmsgpack)[^/]*\.so$", p)}
        assert native and all(p.startswith(str(task)) for p in native), native
        assert not any(p.startswith(str(REPO / ".venv")) for p in mapped)
        kids = children_of(runtime)
        assert len(kids) == 1 and os.readlink(f"/proc/{kids[0]}/exe").startswith(str(task / "app"))
        os.kill(kids[0], signal.SIGKILL)  # and a dead Racket child is replaced from the bundle too
        assert gone(kids[0])
        assert ok(em, {"name": "again"})["greeting"] == "Hello, again!"
