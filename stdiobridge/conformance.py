"""The conformance kit: drive any child program and report, check by check, whether it keeps
the child contract (protocols/README.md) for a codec.

The kit assumes an **echo** child: every request must come back as its response
(decoded and re-encoded is fine). Messages are generated with hypothesis (the
``conform`` extra); the checks also cover large messages, requests written a byte
at a time and in bulk, pipelining, a clean stdout, exit 0 on stdin EOF, and
exit on SIGTERM.
"""

from __future__ import annotations

import math
import os
import select
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .bridge import Bridge
from .codecs import Codec, get_codec
from .codecs.registry import CodecSpec
from .errors import BridgeError, ConfigError
from .process import ChildProcess, describe_exit

__all__ = ["LARGE_SIZES", "CheckResult", "format_line", "format_report", "message_strategy", "run_checks"]

LARGE_SIZES = (1 << 20, 4 << 20)
_QUIET = 0.3  # seconds of silence expected where the child must not write


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, a line of detail, and how long it took."""

    name: str
    passed: bool
    detail: str
    seconds: float


def message_strategy(codec: Codec[Any]) -> Any:
    """Hypothesis strategy of messages for a codec, by its ``kind`` (empty, unicode, nested values).

    msgpack gets its own, richer values (bytes, integer keys); other codecs of
    kind ``json`` (jsonl, plugins) get JSON values.
    """
    try:
        from hypothesis import strategies as st  # noqa: PLC0415  (optional: the conform extra)
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the conformance kit needs hypothesis: pip install 'stdiobridge[conform]'") from None
    text = st.text(max_size=200)
    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    floats = st.floats(allow_nan=False, allow_infinity=False)
    scalars: Any = st.none() | st.booleans() | ints | floats | text
    if codec.kind == "text":
        return text.filter(lambda s: "\n" not in s and not s.endswith("\r"))
    if codec.kind == "bytes":
        return st.binary(max_size=2000)
    if codec.kind == "json" and codec.name != "msgpack":
        return st.recursive(
            scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(text, inner, max_size=6), max_leaves=30
        )
    if codec.name == "msgpack":
        leaves = scalars | st.binary(max_size=200)
        keys: Any = text | ints
        return st.recursive(
            leaves, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(keys, inner, max_size=6), max_leaves=30
        )
    raise ConfigError(
        f"the conformance kit generates messages of kind json, text or bytes; codec {codec.name!r} is {codec.kind!r}"
    )


def _large(codec: Codec[Any], size: int) -> Any:
    """A message of about ``size`` bytes that stresses framing, not the codec's content."""
    if codec.kind == "text":
        return ("0123456789abcdé€" * (size // 18 + 1))[: size // 2]
    if codec.kind == "bytes":
        return bytes(range(256)) * (size // 256)
    if codec.name == "msgpack":
        return {"blob": bytes(range(256)) * (size // 256), "s": "é" * 1000}
    return {"blob": 'x\u00e9"\\' * (size // 8), "n": list(range(100))}


def _same(sent: Any, got: Any) -> bool:
    """Echo equality that tolerates re-encoding (float/int of equal value, map key order)."""
    if isinstance(sent, float) and isinstance(got, (int, float)):
        return sent == got or (math.isnan(sent) and isinstance(got, float) and math.isnan(got))
    if isinstance(sent, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(sent) == len(got) and all(map(_same, sent, got))
    if isinstance(sent, dict):
        return isinstance(got, dict) and sent.keys() == got.keys() and all(_same(v, got[k]) for k, v in sent.items())
    return type(sent) is type(got) and bool(sent == got)


def _excerpt(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class _Raw:
    """A child driven at the byte level, for the checks a Bridge deliberately hides."""

    def __init__(self, command: Sequence[str] | str, codec: Codec[Any]) -> None:
        self.proc = ChildProcess(command, stderr="discard")
        self.codec = codec
        self.decoder = codec.decoder()
        self.poller = select.poll()
        self.poller.register(self.proc.stdout_fd, select.POLLIN)

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.proc.stdin_fd, view) :]
            except BlockingIOError:
                select.select([], [self.proc.stdin_fd], [], max(0.0, deadline - time.monotonic()))
                if time.monotonic() > deadline:
                    raise TimeoutError("the child stopped reading its stdin") from None

    def read(self, count: int, deadline: float) -> list[Any]:
        out: list[Any] = []
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.poller.poll(remaining * 1000):
                raise TimeoutError(f"{len(out)} of {count} responses arrived before the deadline")
            data = os.read(self.proc.stdout_fd, 1 << 16)
            if not data:
                raise EOFError(f"stdout closed after {len(out)} of {count} responses")
            out.extend(self.decoder.feed(data))
        return out

    def silent_for(self, seconds: float) -> bytes:
        """Bytes the child wrote on stdout within ``seconds`` (``b''`` when silent)."""
        if self.poller.poll(seconds * 1000):
            try:
                return os.read(self.proc.stdout_fd, 1 << 16) or b""
            except BlockingIOError:
                return b""
        return b""

    def close(self) -> None:
        self.proc.kill()


def run_checks(
    command: Sequence[str] | str,
    codec: CodecSpec,
    *,
    examples: int = 100,
    timeout: float = 10.0,
    seed: int | None = 0,
    progress: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check against ``command`` speaking ``codec``; ``progress`` sees each result as it lands."""
    built = get_codec(codec)
    strategy = message_strategy(built)
    results: list[CheckResult] = []
    for check in _checks(command, built, strategy=strategy, examples=examples, timeout=timeout, seed=seed):
        start = time.monotonic()
        name, fn = check
        try:
            detail = fn()
            result = CheckResult(name, True, detail, time.monotonic() - start)
        except (AssertionError, BridgeError, TimeoutError, EOFError, OSError) as exc:
            notes = getattr(exc, "__notes__", [])
            detail = f"{type(exc).__name__}: {exc}" + "".join(f" {n}" for n in notes if "Falsifying" in n)
            result = CheckResult(name, False, detail.strip(), time.monotonic() - start)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _checks(
    command: Sequence[str] | str, codec: Codec[Any], *, strategy: Any, examples: int, timeout: float, seed: int | None
) -> Iterator[tuple[str, Callable[[], str]]]:

    def bridge() -> Bridge:
        return Bridge(command, codec=codec, timeout=timeout, stderr="discard", restart=False)

    def quiet_start() -> str:
        raw = _Raw(command, codec)
        try:
            extra = raw.silent_for(_QUIET)
            assert not extra, (
                f"the child wrote {extra[:80]!r} to stdout before any request: a banner or log line? "
                "stdout must carry frames only (logs go to stderr)"
            )
            code = raw.proc.returncode
            assert code is None, f"the child {describe_exit(code)} right after starting"
            return f"no output before the first request ({_QUIET:g} s)"
        finally:
            raw.close()

    def echo_generated() -> str:
        from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415  (optional extra)

        with bridge() as br:
            sent = 0
            first_failure: list[BaseException] = []

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=seed is not None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(message=strategy)
            def echo(message: Any) -> None:
                nonlocal sent
                if first_failure:  # hypothesis replays the failing example: report the first failure
                    raise first_failure[0]
                try:
                    got = br.call(message)
                    assert _same(message, got), f"sent {_excerpt(message)}, got back {_excerpt(got)}"
                except (AssertionError, BridgeError) as exc:
                    first_failure.append(exc)
                    raise
                sent += 1

            try:
                echo()
            except Exception:
                if first_failure:
                    raise first_failure[0] from None
                raise
            return (
                f"{sent} generated messages echoed exactly (empty, unicode{', nested' if codec.kind == 'json' else ''})"
            )

    def echo_large() -> str:
        with bridge() as br:
            for size in LARGE_SIZES:
                message = _large(codec, size)
                got = br.call(message, timeout=max(timeout, 30.0))
                assert _same(message, got), f"a message of ~{size >> 20} MiB came back different"
            return "messages of " + " and ".join(f"{s >> 20} MiB" for s in LARGE_SIZES) + " echoed"

    def byte_by_byte() -> str:
        raw = _Raw(command, codec)
        try:
            messages = [_large(codec, 256), _large(codec, 0) if codec.kind != "text" else ""]
            frame = b"".join(codec.encode(m) for m in messages)
            deadline = time.monotonic() + timeout
            for i in range(len(frame)):
                raw.write(frame[i : i + 1], deadline)
            got = raw.read(len(messages), deadline)
            assert all(map(_same, messages, got)), "requests written one byte at a time came back different"
            return f"{len(frame)} bytes written one at a time, {len(messages)} answers"
        finally:
            raw.close()

    def bulk() -> str:
        raw = _Raw(command, codec)
        try:
            messages = [_large(codec, 64) for _ in range(50)]
            deadline = time.monotonic() + timeout
            raw.write(b"".join(codec.encode(m) for m in messages), deadline)
            got = raw.read(len(messages), deadline)
            assert all(map(_same, messages, got)), "requests written in one write came back different"
            return f"{len(messages)} requests in one write, {len(got)} answers"
        finally:
            raw.close()

    def pipelined() -> str:
        count = 2000
        messages = [_tagged(codec, i) for i in range(count)]
        with bridge() as br:
            try:
                got = br.call_many(messages)
            except BridgeError as exc:
                done = len(exc.results)
                raise AssertionError(
                    f"only {done} of {count} pipelined requests were answered ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}); does the child drop or merge requests?"
                ) from None
            for i, (m, g) in enumerate(zip(messages, got, strict=True)):
                assert _same(m, g), f"pipelined response {i} is {_excerpt(g)}, expected {_excerpt(m)}: out of order?"
            return f"{count} requests pipelined ({br.max_pending} in flight at most) came back in order"

    def clean_stdout() -> str:
        raw = _Raw(command, codec)
        try:
            deadline = time.monotonic() + timeout
            messages = [_tagged(codec, i) for i in range(20)]
            for m in messages:
                raw.write(codec.encode(m), deadline)
                (got,) = raw.read(1, deadline)
                assert _same(m, got), f"sent {_excerpt(m)}, got back {_excerpt(got)}"
            assert raw.decoder.buffered == 0, "bytes beyond the last response frame arrived on stdout"
            extra = raw.silent_for(_QUIET)
            assert not extra, f"unrequested bytes on stdout after the answers: {extra[:80]!r}"
            return "exactly one frame per request, nothing else on stdout"
        finally:
            raw.close()

    def eof_exit() -> str:
        raw = _Raw(command, codec)
        try:
            deadline = time.monotonic() + timeout
            raw.write(codec.encode(_tagged(codec, 1)), deadline)
            raw.read(1, deadline)
            raw.proc.close_stdin()
            start = time.monotonic()
            try:
                code = raw.proc.proc.wait(5.0)
            except Exception:
                raise AssertionError("the child did not exit within 5 s of EOF on stdin") from None
            assert code == 0, f"after EOF on stdin the child {describe_exit(code)}; expected exit status 0"
            return f"exit 0 {time.monotonic() - start:.2f} s after stdin EOF"
        finally:
            raw.close()

    def sigterm_exit() -> str:
        raw = _Raw(command, codec)
        try:
            deadline = time.monotonic() + timeout
            raw.write(codec.encode(_tagged(codec, 1)), deadline)
            raw.read(1, deadline)
            start = time.monotonic()
            os.kill(raw.proc.pid, signal.SIGTERM)
            try:
                code = raw.proc.proc.wait(2.0)
            except Exception:
                raise AssertionError("the child was still running 2 s after SIGTERM") from None
            return f"{describe_exit(code)} {time.monotonic() - start:.2f} s after SIGTERM"
        finally:
            raw.close()

    yield "startup: stdout silent until asked", quiet_start
    yield "echo: generated messages", echo_generated
    yield "echo: large messages", echo_large
    yield "framing: byte-by-byte writes", byte_by_byte
    yield "framing: bulk writes", bulk
    yield "pipelining: order kept", pipelined
    yield "stdout: frames only", clean_stdout
    yield "lifetime: exit 0 on stdin EOF", eof_exit
    yield "lifetime: exit on SIGTERM", sigterm_exit


def _tagged(codec: Codec[Any], i: int) -> Any:
    """A small distinct message, so that order and loss are visible."""
    if codec.kind == "text":
        return f"request {i} ✓"
    if codec.kind == "bytes":
        return f"request {i}".encode() + bytes([i % 256])
    if codec.name == "msgpack":
        return {"i": i, "b": i.to_bytes(4, "big"), "s": f"request {i}"}
    return {"i": i, "s": f"request {i}", "l": [i, None, True]}


def format_report(command: Sequence[str] | str, codec: str, results: Sequence[CheckResult]) -> str:
    """Human-readable report: a header, a line per check, and a summary line."""
    return "\n".join([report_header(command, codec), *map(format_line, results), report_summary(codec, results)])


def report_header(command: Sequence[str] | str, codec: str) -> str:
    shown = command if isinstance(command, str) else " ".join(command)
    return f"stdiobridge conform: codec {codec}, child {shown}"


def report_summary(codec: str, results: Sequence[CheckResult]) -> str:
    passed = sum(r.passed for r in results)
    verdict = "conforms" if passed == len(results) else "does NOT conform"
    return f"summary: {passed} of {len(results)} checks passed; the child {verdict} to the {codec} contract"


def format_line(result: CheckResult) -> str:
    """One check as a report line."""
    mark = "PASS" if result.passed else "FAIL"
    return f"  {mark}  {result.name:<38} {result.detail} ({result.seconds:.2f} s)"
