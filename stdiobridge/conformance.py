"""The conformance kit: drive any child program and report, check by check, whether it keeps
the child contract (protocols/README.md) for a codec.

The kit assumes an **echo** child: every request must come back as its response
(decoded and re-encoded is fine). Messages are generated with hypothesis (the
``conform`` extra); the checks also cover large messages, requests written a byte
at a time and in bulk, pipelining, a clean stdout, exit 0 on stdin EOF, and
exit on SIGTERM. With ``tagged=True`` (the child gets ``STDIOBRIDGE_TAGGED=1``)
every check speaks tagged frames, answers are paired by id in any order, and three
more checks name a child that drops ids, invents ids or answers twice, and compare
its answers to the tagged golden vectors byte for byte.
"""

from __future__ import annotations

import math
import os
import random
import select
import signal
import string
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .bridge import Bridge
from .codecs import Codec, get_codec
from .codecs.base import MAX_ID
from .codecs.registry import KINDS, CodecSpec
from .errors import BridgeError, CallTimeout, ConfigError, EncodeError, ProtocolError
from .front import TAGGED_ENV
from .process import ChildProcess, describe_exit

__all__ = [
    "LARGE_SIZES",
    "TAGGED_VECTORS",
    "CheckResult",
    "difference",
    "format_line",
    "format_report",
    "message_strategy",
    "new_seed",
    "run_checks",
]

LARGE_SIZES = (1 << 20, 4 << 20)
_QUIET = 0.3  # seconds of silence expected where the child must not write
_NO_LIMIT = 86400.0  # what --timeout inf means here: a day
_STDIO_BLOCK = 4096  # the buffer of C stdio (and others) on a piped stdout
#: The tagged golden vectors: protocols/vectors/tagged.json, which the package links to and the wheel holds.
TAGGED_VECTORS = Path(__file__).resolve().parent / "vectors" / "tagged.json"
#: Ids that break a child storing them in a too-small or signed integer, or printing them oddly.
_EDGE_IDS = (1, MAX_ID, 1 << 31, (1 << 31) - 1, 1 << 16, 255, 256, 10, 9, 1 << 24)


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, a line of detail, and how long it took."""

    name: str
    passed: bool
    detail: str
    seconds: float


def new_seed() -> int:
    """A fresh seed for the generated messages (printed, so that ``--seed`` replays the run)."""
    return random.SystemRandom().randrange(1 << 32)


def message_strategy(codec: Codec[Any], *, max_bytes: int = 2000) -> Any:
    """Hypothesis strategy of messages for a codec, by its ``kind`` (empty, unicode, nested values).

    msgpack gets its own, richer values (bytes, integer keys); other codecs of
    kind ``json`` (jsonl, plugins) get JSON values. ``max_bytes`` bounds a bytes message.
    """
    try:
        from hypothesis import strategies as st  # noqa: PLC0415  (optional: the conform extra)
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("the conformance kit needs hypothesis: pip install 'stdiobridge-py[conform]'") from None
    check_kind(codec)
    text = st.text(max_size=200)
    ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    floats = st.floats(allow_nan=False, allow_infinity=False)
    scalars: Any = st.none() | st.booleans() | ints | floats | text
    if codec.kind == "text":
        return text.filter(lambda s: "\n" not in s and not s.endswith("\r"))
    if codec.kind == "bytes":
        return st.binary(max_size=max(0, min(2000, max_bytes)))
    if codec.name != "msgpack":
        return st.recursive(
            scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(text, inner, max_size=6), max_leaves=30
        )
    leaves = scalars | st.binary(max_size=200)
    keys: Any = text | ints
    return st.recursive(
        leaves, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(keys, inner, max_size=6), max_leaves=30
    )


def check_kind(codec: Codec[Any]) -> None:
    """Refuse a codec whose ``kind`` the kit cannot generate messages for, naming the codec (not the child)."""
    if codec.kind not in KINDS:
        raise ConfigError(
            f"the conformance kit generates messages of kind {', '.join(KINDS)}; codec {codec.name!r} has kind "
            f"{codec.kind!r} (set Codec.kind in the plugin)"
        )
    probe = {"json": {"probe": [1, "two"]}, "text": "probe", "bytes": b"probe"}[codec.kind]
    try:
        codec.encode(probe)
    except EncodeError as exc:
        declared = any("kind" in vars(cls) for cls in type(codec).__mro__ if cls is not Codec)
        what = (
            f"declares kind {codec.kind!r}" if declared else f"does not set Codec.kind (so {codec.kind!r} was assumed)"
        )
        raise ConfigError(
            f"codec {codec.name!r} {what} but cannot encode such a message ({exc}): "
            "set kind = 'json', 'text' or 'bytes' to what its messages are; the child was not run"
        ) from None


def _large(codec: Codec[Any], size: int) -> Any:
    """A message of about ``size`` bytes that stresses framing, not the codec's content."""
    if codec.kind == "text":
        return ("0123456789abcdé€" * (size // 18 + 1))[: size // 2]
    if codec.kind == "bytes":
        return (bytes(range(256)) * (size // 256 + 1))[:size]
    if codec.name == "msgpack":
        return {"blob": (bytes(range(256)) * (size // 256 + 1))[:size], "s": "é" * min(1000, size // 4)}
    return {"blob": 'x\u00e9"\\' * (size // 8), "n": list(range(min(100, size // 8)))}


def _fits(codec: Codec[Any], message: Any, tagged: bool = False) -> bool:
    """Whether ``codec`` can frame ``message`` (with the largest request id, when tagged)."""
    try:
        if tagged:
            codec.tagged().encode((MAX_ID, message))
        else:
            codec.encode(message)
    except EncodeError:
        return False
    return True


def largest_size(codec: Codec[Any], ceiling: int = LARGE_SIZES[-1], *, tagged: bool = False) -> int:
    """The largest ``_large`` size up to ``ceiling`` that the codec can encode (its width or ``max_frame``); -1: none."""
    if _fits(codec, _large(codec, ceiling), tagged):
        return ceiling
    low, high = -1, ceiling  # fits(low) (or low == -1), not fits(high)
    while high - low > max(1, high // 64):
        mid = (low + high) // 2 if low >= 0 else high // 2
        if mid <= low or mid == 0:
            mid = 0
            if not _fits(codec, _large(codec, 0), tagged):
                return -1
            low = 0
            continue
        if _fits(codec, _large(codec, mid), tagged):
            low = mid
        else:
            high = mid
    return low


def _kind_name(value: Any) -> str:
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def difference(sent: Any, got: Any, path: str = "$") -> str | None:
    """Where an echo differs from what was sent: the first differing path and both values; ``None`` if equal.

    Equality is strict about types (1.0 is not 1, str is not bytes) and about map
    key order, since the contract is an exact echo.
    """
    if isinstance(sent, float) and isinstance(got, float) and math.isnan(sent) and math.isnan(got):
        return None
    if isinstance(sent, (list, tuple)) and isinstance(got, (list, tuple)):
        for i, (a, b) in enumerate(zip(sent, got, strict=False)):
            found = difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(sent) != len(got):
            return f"at {path}: sent {len(sent)} items, got {len(got)}"
        return None
    if isinstance(sent, dict) and isinstance(got, dict):
        for key in sent:
            if key not in got:
                return f"at {path}: key {key!r} is missing from the answer"
        for key in got:
            if key not in sent:
                return f"at {path}: the answer has key {key!r}, which was not sent"
        for key, value in sent.items():
            found = difference(value, got[key], f"{path}[{key!r}]")
            if found:
                return found
        if list(sent) != list(got):
            return f"at {path}: same keys in another order: sent {_short(list(sent))}, got {_short(list(got))}"
        return None
    if type(sent) is type(got) and sent == got:
        return None
    return f"at {path}: sent {_short(sent)} ({_kind_name(sent)}), got {_short(got)} ({_kind_name(got)})"


def _same(sent: Any, got: Any) -> bool:
    return difference(sent, got) is None


def _printable(data: bytes) -> bool:
    """Whether ``data`` starts like a line of text (a log line), not like binary frames."""
    head = data[:120]
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    shown = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return shown >= 0.9 * len(text) and any(ch in string.ascii_letters for ch in text)


def _dropped_ids(data: bytes, codec: Codec[Any], sent: Sequence[Any]) -> str:
    """In tagged mode: the hint for answer bytes that are untagged frames echoing ``sent`` ('' when they are not)."""
    try:
        frames = codec.decoder().feed(data)
    except ProtocolError:
        return ""
    if not any(_same(message, frame) for frame in frames[:5] for message in sent):
        return ""
    form = {"json": "[id, message]", "text": "'<id> <text>'", "bytes": "the 4-byte id, then the message"}
    return (
        f"likely the child drops the ids: its answers are plain {codec.name} frames of the requests' messages; "
        f"when STDIOBRIDGE_TAGGED=1 in its environment it must answer {form.get(codec.kind, 'tagged frames')} "
        "with the request's id"
    )


def explain_bytes(data: bytes, codec: Codec[Any], expected: Sequence[Any], *, tagged: bool = False) -> str:
    """The likely mistake behind answer bytes ``data`` that are not the echo of ``expected`` (of tagged frames)."""
    if not data:
        return ""
    first_line = data.split(b"\n", 1)[0][:80]
    if codec.name == "lenprefix":
        from .codecs.lenprefix import LenPrefixCodec  # noqa: PLC0415

        ours = codec.options()
        for width in (1, 2, 4, 8):
            for order in ("big", "little"):
                if (width, order) == (ours.get("width"), ours.get("byteorder")):
                    continue
                other = LenPrefixCodec(width=width, byteorder=order)
                try:
                    dec = (other.tagged() if tagged else other).decoder()
                    frames = dec.feed(data)
                except ProtocolError:
                    continue
                if frames and dec.buffered == 0:
                    return (
                        f"likely a codec mismatch: the answers parse as lenprefix width={width} byteorder={order}, "
                        f"while the kit speaks width={ours.get('width')} byteorder={ours.get('byteorder')}: "
                        "give --codec the child's options (or fix the child's)"
                    )
    if _printable(data) and not (codec.kind == "text" and expected and first_line == codec.encode(expected[0])[:-1]):
        return f"likely a log line on stdout: {first_line!r}; stdout must carry frames only, logs go to stderr"
    return (
        f"likely a codec mismatch: the answer bytes {data[:40]!r} are not {codec.name} frames echoing the "
        f"requests; does the child speak {codec.name} with these options ({codec.options()})?"
    )


class _Raw:
    """A child driven at the byte level, for the checks a Bridge deliberately hides.

    Tagged (``STDIOBRIDGE_TAGGED=1`` in the child's environment): ``frame`` gives
    each request an unused random id and ``answers`` pairs the answers by id, naming
    an id that was never sent, one answered twice, or an answer that lost its id.
    """

    def __init__(self, command: Sequence[str] | str, codec: Codec[Any], tagged: bool = False, seed: int = 0) -> None:
        self.proc = ChildProcess(command, env={TAGGED_ENV: "1" if tagged else "0"}, stderr="discard")
        self.codec = codec
        self.tagged = tagged
        self.wire: Codec[Any] = codec.tagged() if tagged else codec
        self.decoder = self.wire.decoder()
        self.received = bytearray()
        self.poller = select.poll()
        self.poller.register(self.proc.stdout_fd, select.POLLIN)
        self.rng = random.Random(seed)
        self.waiting: dict[int, int] = {}  # tagged: id -> index of its request
        self.answered: set[int] = set()
        self.order: list[int] = []  # tagged: request indexes in the order their answers came
        self.sent = 0
        self.messages: list[Any] = []  # tagged: what was sent, to recognise an answer that lost its id

    def frame(self, message: Any, ident: int | None = None) -> bytes:
        """The request frame of ``message`` (tagged: with ``ident`` or a fresh unused random id)."""
        if not self.tagged:
            self.sent += 1
            return self.codec.encode(message)
        while ident is None or ident in self.waiting:
            ident = self.rng.randint(1, MAX_ID)
        self.waiting[ident] = self.sent
        self.messages.append(message)
        self.answered.discard(ident)
        self.sent += 1
        return bytes(self.wire.encode((ident, message)))

    def answers(self, count: int, deadline: float) -> list[Any]:
        """The messages of the next ``count`` answers, in the order of their requests (tagged: paired by id)."""
        if not self.tagged:
            return self.read(count, deadline)
        got: dict[int, Any] = {}
        for ident, message in self.read(count, deadline):
            index = self.pair(ident)
            got[index] = message
            self.order.append(index)
        return [got[i] for i in sorted(got)]

    def pair(self, ident: int) -> int:
        """The request index of an answer's id; ``AssertionError`` naming the mistake when no request waits for it."""
        if ident in self.waiting:
            self.answered.add(ident)
            return self.waiting.pop(ident)
        if ident in self.answered:
            raise AssertionError(
                f"the child answered id {ident} twice: likely it writes two answers for one request "
                "(exactly one answer per request)"
            )
        waiting = sorted(self.waiting)[:3]
        raise AssertionError(
            f"the child answered with id {ident}, which was never sent (ids waiting: "
            f"{', '.join(map(str, waiting)) or 'none'}): likely it invents or changes ids; copy each request's id "
            f"exactly onto its answer (ids go up to {MAX_ID}: does the child's integer type hold them?)"
        )

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.proc.stdin_fd, view) :]
            except BlockingIOError:
                select.select([], [self.proc.stdin_fd], [], max(0.0, deadline - time.monotonic()))
                if time.monotonic() > deadline:
                    raise TimeoutError("the child stopped reading its stdin") from None

    def tail(self) -> str:
        """The child's last stderr lines, for the end of a failure's detail ('' when silent)."""
        lines = self.proc.stderr_tail(0.2).strip().splitlines()[-3:]
        return f" [child's stderr: {' | '.join(lines)}]" if lines else ""

    def read(self, count: int, deadline: float) -> list[Any]:
        """Exactly the next ``count`` messages (fewer: ``TimeoutError``/``EOFError``; a decode error as is)."""
        out: list[Any] = []
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.poller.poll(min(remaining, _NO_LIMIT) * 1000):
                got = f"{len(out)} of {count} responses arrived before the deadline"
                raise TimeoutError(
                    got + (f", then {self.decoder.buffered} bytes of one more" if self.decoder.buffered else "")
                )
            data = os.read(self.proc.stdout_fd, 1 << 16)
            if not data:
                self.proc.wait_exit(0.5)  # stdout closed: an exit is usually a moment away
                code = self.proc.returncode
                raise EOFError(
                    f"stdout closed after {len(out)} of {count} responses"
                    + (f"; the child {describe_exit(code)}" if code is not None else "")
                    + self.tail()
                )
            self.received += data
            try:
                out.extend(self.decoder.feed(data))
            except ProtocolError as exc:
                if self.tagged and (hint := _dropped_ids(bytes(self.received), self.codec, self.messages)):
                    raise AssertionError(f"{_one_line(exc)} -- {hint}") from None
                raise
        return out

    def explain(self, expected: Sequence[Any]) -> str:
        """The likely mistake behind the bytes received so far, which are not the answers to ``expected``."""
        data = bytes(self.received)
        if self.tagged:
            return _dropped_ids(data, self.codec, self.messages) or explain_bytes(data, self.codec, [], tagged=True)
        return explain_bytes(data, self.codec, expected)

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


def _hint_for(exc: BaseException) -> str:
    """A likely mistake read from the error itself ('' when the error does not tell)."""
    if isinstance(exc, ProtocolError) and "unhashable" in str(exc):
        return (
            "likely a map keyed by an array or a map (a tuple key echoed as an array?): valid msgpack, but "
            "Python cannot hold it as a dict key, so the host cannot read it back; this is not a log line"
        )
    return ""


def _drain(raw: _Raw, quiet: float) -> None:
    """Read the child's stdout into ``raw.received`` until it is quiet for ``quiet`` seconds or closed."""
    while raw.poller.poll(quiet * 1000):
        try:
            data = os.read(raw.proc.stdout_fd, 1 << 16)
        except BlockingIOError:
            continue
        if not data:
            return
        raw.received += data


def diagnose(
    command: Sequence[str] | str, codec: Codec[Any], timeout: float, largest: int = 0, *, tagged: bool = False
) -> str:
    """Send one small request, then a larger one, and find the likely mistake ('' if both come back right).

    A child that answers only once stdin is closed (and it exits, flushing its
    buffers) is the classic missing flush; answer bytes that are text are a log
    line; bytes that parse with other codec options are a mismatch; a child that
    exits at once is failing on its own (its stderr says why).
    """
    sizes = [-1] + ([min(largest, 100_000)] if largest > 0 else [])
    raw: _Raw | None = None
    try:
        for size in sizes:
            message = _tagged(codec, 1) if size < 0 else _large(codec, size)
            raw = _Raw(command, codec, tagged)
            deadline = time.monotonic() + min(timeout, 2.0)
            raw.write(raw.frame(message), deadline)
            try:
                got = raw.answers(1, deadline)
            except AssertionError as exc:  # tagged: an id dropped, invented or answered twice
                return str(exc).rpartition(" -- ")[2]
            except TimeoutError:
                got = []
            except EOFError:
                raw.proc.wait_exit(min(timeout, 2.0))
                code = raw.proc.returncode
                return f"the child {describe_exit(code)} at its first request: a fatal error of its own{raw.tail()}"
            except ProtocolError as exc:
                _drain(raw, 0.3)
                return _hint_for(exc) or raw.explain([message])
            if got and _same(message, got[0]):
                raw.close()
                continue
            if raw.received:
                _drain(raw, 0.3)
                return raw.explain([message])
            raw.proc.close_stdin()
            raw.proc.wait_exit(min(timeout, 5.0))
            _drain(raw, 0.1)
            data = bytes(raw.received)
            if not data:
                return (
                    "the child answered nothing, not even at exit: does it read whole frames of "
                    f"{codec.name} {codec.options()}? (with other framing it waits for the rest of a frame)"
                    + raw.tail()
                )
            try:
                answers = raw.wire.decoder().feed(data)
            except ProtocolError:
                answers = []
            if tagged:
                answers = [a[1] for a in answers]
            if answers and _same(message, answers[0]):
                return (
                    "likely no flush: the answer came only when stdin was closed and the child exited; "
                    "flush stdout after each answer (stdio buffers a piped stdout in 4 KiB blocks)"
                )
            return raw.explain([message])
        return ""
    except (OSError, BridgeError) as exc:
        return f"(the diagnosis itself failed: {type(exc).__name__}: {exc})"
    finally:
        if raw is not None:
            raw.close()


def run_checks(
    command: Sequence[str] | str,
    codec: CodecSpec,
    *,
    examples: int = 100,
    timeout: float | None = 10.0,
    seed: int | None = 0,
    progress: Callable[[CheckResult], None] | None = None,
    tagged: bool = False,
) -> list[CheckResult]:
    """Run every check against ``command`` speaking ``codec``; ``progress`` sees each result as it lands.

    ``timeout`` bounds every wait of every check (``None``: no limit); ``seed``
    seeds the generated messages (``None``: a fresh one, shown in the echo check's detail).
    ``tagged``: every check in tagged mode, plus the checks of ids (echoed, any
    order, golden vectors). A failure's detail ends with the likely mistake,
    found by one diagnostic exchange.
    """
    built = get_codec(codec)
    if tagged:
        built.tagged()  # a codec that cannot be tagged: its ConfigError now, before any child runs
    limit = _NO_LIMIT if timeout is None or math.isinf(timeout) else float(timeout)
    seed = new_seed() if seed is None else seed
    largest = largest_size(built, tagged=tagged)
    strategy = message_strategy(built, max_bytes=max(0, largest))
    results: list[CheckResult] = []
    diagnosis: str | None = None
    for name, fn in _checks(
        command, built, strategy=strategy, examples=examples, timeout=limit, seed=seed, largest=largest, tagged=tagged
    ):
        start = time.monotonic()
        try:
            detail = fn()
            result = CheckResult(name, True, detail, time.monotonic() - start)
        except (AssertionError, BridgeError, TimeoutError, EOFError, OSError) as exc:
            notes = getattr(exc, "__notes__", [])
            detail = f"{type(exc).__name__}: {_one_line(exc)}" + "".join(f" {n}" for n in notes if "Falsifying" in n)
            hint = _hint_for(exc)
            if not hint and "likely" not in detail:
                if diagnosis is None:
                    diagnosis = diagnose(command, built, limit, largest, tagged=tagged)
                hint = diagnosis
            if hint:
                detail += f" -- {hint}"
            result = CheckResult(name, False, detail.strip(), time.monotonic() - start)
        except Exception as exc:  # a bug of the kit, not of the child: report it, never crash
            detail = f"the kit itself failed ({type(exc).__name__}: {_one_line(exc)}); please report it"
            result = CheckResult(name, False, detail, time.monotonic() - start)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (the child's stderr tail kept, joined with ' | ')."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines)


def _checks(
    command: Sequence[str] | str,
    codec: Codec[Any],
    *,
    strategy: Any,
    examples: int,
    timeout: float,
    seed: int,
    largest: int,
    tagged: bool = False,
) -> Iterator[tuple[str, Callable[[], str]]]:

    def bridge() -> Bridge:
        return Bridge(command, codec=codec, timeout=timeout, stderr="discard", restart=False, tagged=tagged)

    def raw_child() -> _Raw:
        return _Raw(command, codec, tagged, seed)

    def quiet_start() -> str:
        raw = raw_child()
        try:
            extra = raw.silent_for(_QUIET)
            assert not extra, (
                f"the child wrote {extra[:80]!r} to stdout before any request: a banner or log line? "
                "stdout must carry frames only (logs go to stderr)"
            )
            code = raw.proc.returncode
            assert code is None, f"the child {describe_exit(code)} right after starting{raw.tail()}"
            return "no output before the first request"
        finally:
            raw.close()

    def echo_generated() -> str:
        from hypothesis import HealthCheck, Phase, assume, given, settings  # noqa: PLC0415  (optional extra)
        from hypothesis import seed as seeded  # noqa: PLC0415

        with bridge() as br:
            sent = 0
            first_failure: list[BaseException] = []

            @seeded(seed)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(message=strategy)
            def echo(message: Any) -> None:
                nonlocal sent
                if first_failure:  # hypothesis replays the failing example: report the first failure
                    raise first_failure[0]
                assume(_fits(codec, message, tagged))  # within the codec's own limits (width, max_frame)
                try:
                    got = br.call(message)
                    diff = difference(message, got)
                    assert diff is None, f"generated message {sent + 1} came back different {diff}"
                except (AssertionError, BridgeError) as exc:
                    first_failure.append(exc)
                    raise
                sent += 1

            try:
                echo()
            except Exception as exc:
                failure = first_failure[0] if first_failure else exc
                failure.args = (f"{_one_line(failure)} (seed {seed}: replay with --seed {seed})",)
                raise failure from None
            nested = ", nested" if codec.kind == "json" else ""
            return (
                f"{sent} generated messages echoed exactly (empty, unicode{nested}; seed {seed}; "
                "another seed or more --examples may find more)"
            )

    def echo_large() -> str:
        if largest < 0:
            return f"skipped: the codec's limits ({codec.options()}) leave no room for a large message"
        sizes = sorted({min(size, largest) for size in LARGE_SIZES})
        with bridge() as br:
            for size in sizes:
                message = _large(codec, size)
                got = br.call(message)
                diff = difference(message, got)
                assert diff is None, f"a message of {_size_name(size)} came back different {diff}"
        note = "" if largest >= LARGE_SIZES[-1] else f" (the largest the codec's options allow: {codec.options()})"
        return "messages of " + " and ".join(map(_size_name, sizes)) + " echoed" + note

    def byte_by_byte() -> str:
        raw = raw_child()
        try:
            messages = [_large(codec, min(256, max(0, largest)))]
            if codec.kind != "text":
                messages.append(_large(codec, 0))
            else:
                messages.append("")
            frame = b"".join(raw.frame(m) for m in messages)
            deadline = time.monotonic() + timeout
            for i in range(len(frame)):
                raw.write(frame[i : i + 1], deadline)
            got = raw.answers(len(messages), deadline)
            diffs = [d for d in map(difference, messages, got) if d]
            assert not diffs, f"requests written one byte at a time came back different {diffs[0]}"
            return f"{len(frame)} bytes written one at a time, {len(messages)} answers"
        finally:
            raw.close()

    def bulk() -> str:
        raw = raw_child()
        try:
            messages = [_large(codec, min(64, max(0, largest))) for _ in range(50)]
            deadline = time.monotonic() + timeout
            raw.write(b"".join(raw.frame(m) for m in messages), deadline)
            got = raw.answers(len(messages), deadline)
            diffs = [d for d in map(difference, messages, got) if d]
            assert not diffs, f"requests written in one write came back different {diffs[0]}"
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
                done = min(len(exc.results), count)
                answered = sum(len(codec.encode(m)) for m in exc.results[:count] if m is not None)
                why = ""
                if isinstance(exc, CallTimeout) and answered and answered % _STDIO_BLOCK == 0:
                    why = (
                        f" -- likely no flush: the {answered} bytes answered are whole {_STDIO_BLOCK // 1024} KiB "
                        "blocks, stdio's buffer; flush stdout after each answer"
                    )
                elif isinstance(exc, CallTimeout) and done:
                    why = " -- the child answered some requests, then went silent: does it drop requests?"
                raise AssertionError(
                    f"only {done} of {count} pipelined requests were answered ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}){why}"
                ) from None
            for i, (m, g) in enumerate(zip(messages, got, strict=True)):
                diff = difference(m, g)
                assert diff is None, f"pipelined response {i} is not the echo of request {i} {diff}: out of order?"
            how = "paired by id" if tagged else "came back in order"
            return f"{count} requests pipelined ({br.max_pending} in flight at most) {how}"

    def clean_stdout() -> str:
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            messages = [_tagged(codec, i) for i in range(20)]
            for i, m in enumerate(messages):
                raw.write(raw.frame(m), deadline)
                got = raw.answers(1, deadline)
                if len(got) != 1 or not _same(m, got[0]):
                    hint = raw.explain(messages[: i + 1])
                    shown = ", ".join(_short(g) for g in got)
                    raise AssertionError(f"request {i + 1} got {len(got)} frame(s) back ({shown}) -- {hint}")
            assert raw.decoder.buffered == 0, "bytes beyond the last response frame arrived on stdout"
            extra = raw.silent_for(_QUIET)
            assert not extra, f"unrequested bytes on stdout after the answers: {extra[:80]!r}"
            return "exactly one frame per request, nothing else on stdout"
        finally:
            raw.close()

    def eof_exit() -> str:
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            raw.write(raw.frame(_tagged(codec, 1)), deadline)
            raw.answers(1, deadline)
            raw.proc.close_stdin()
            start = time.monotonic()
            grace = min(timeout, 5.0)
            if not raw.proc.wait_exit(grace):
                raise AssertionError(f"the child did not exit within {grace:g} s of EOF on stdin")
            code = raw.proc.returncode
            assert code == 0, f"after EOF on stdin the child {describe_exit(code)}; expected exit status 0{raw.tail()}"
            return f"exit 0 {time.monotonic() - start:.2f} s after stdin EOF"
        finally:
            raw.close()

    def sigterm_exit() -> str:
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            raw.write(raw.frame(_tagged(codec, 1)), deadline)
            raw.answers(1, deadline)
            start = time.monotonic()
            os.kill(raw.proc.pid, signal.SIGTERM)
            grace = min(timeout, 2.0)
            if not raw.proc.wait_exit(grace):
                raise AssertionError(f"the child was still running {grace:g} s after SIGTERM")
            return f"{describe_exit(raw.proc.returncode)} {time.monotonic() - start:.2f} s after SIGTERM"
        finally:
            raw.close()

    def ids_echoed() -> str:
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            ids = [*_EDGE_IDS, *(raw.rng.randint(1, MAX_ID) for _ in range(10))]
            for i, ident in enumerate(ids):
                message = _tagged(codec, i)
                raw.write(raw.frame(message, ident), deadline)
                got = raw.answers(1, deadline)
                diff = difference(message, got[0])
                assert diff is None, f"the answer to id {ident} is not the echo of its request {diff}"
            extra = raw.silent_for(_QUIET)
            if extra:
                raw.received += extra
                try:
                    late = raw.decoder.feed(extra)
                except ProtocolError as exc:
                    raise AssertionError(f"unrequested bytes on stdout after the answers: {_one_line(exc)}") from None
                for ident, _message in late:
                    raw.pair(ident)  # names an id answered twice, or one never sent
                raise AssertionError(f"unrequested bytes on stdout after the answers: {extra[:80]!r}")
            return f"{len(ids)} ids copied exactly, one answer each (1, {MAX_ID}, 2^31 and random ids)"
        finally:
            raw.close()

    def any_order() -> str:
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            messages = [_tagged(codec, i) for i in range(64)]
            raw.write(b"".join(raw.frame(m) for m in messages), deadline)
            got = raw.answers(len(messages), deadline)
            diffs = [f"request {i}: {d}" for i, d in enumerate(map(difference, messages, got)) if d]
            assert not diffs, f"answers paired by id are not the echoes of their requests {diffs[0]}"
            moved = sum(b < a for a, b in zip(raw.order, raw.order[1:], strict=False))
            return f"{len(messages)} requests in flight at once, each answer paired by its id ({moved} out of order)"
        finally:
            raw.close()

    def vectors() -> str:
        sets = tagged_vector_sets(codec)
        if sets is None:
            return f"skipped: {TAGGED_VECTORS} is missing (a broken install?)"
        frames = [(v["name"], bytes.fromhex(v["hex"])) for s in sets for v in s["valid"]]
        if not frames:
            return f"skipped: no tagged golden vectors for codec {codec.name} {codec.options()}"
        raw = raw_child()
        try:
            deadline = time.monotonic() + timeout
            for name, frame in frames:  # one at a time: several vectors share an id
                mark = len(raw.received)
                raw.write(frame, deadline)
                raw.read(1, deadline)
                got = bytes(raw.received[mark:])
                assert got == frame, (
                    f"tagged vector {name!r}: sent {frame[:60].hex()}, got {got[:60].hex()}"
                    f"{' (shown cut)' if max(len(got), len(frame)) > 60 else ''}: a tagged echo must write back "
                    "exactly the bytes it read"
                )
            return f"{len(frames)} tagged golden vectors answered byte for byte"
        finally:
            raw.close()

    yield "startup: stdout silent until asked", quiet_start
    yield "echo: generated messages", echo_generated
    yield "echo: large messages", echo_large
    if tagged:
        yield "tagged: ids copied, one answer each", ids_echoed
        yield "tagged: answers in any order", any_order
        yield "tagged: golden vectors byte-exact", vectors
    yield "framing: byte-by-byte writes", byte_by_byte
    yield "framing: bulk writes", bulk
    yield ("pipelining: paired by id" if tagged else "pipelining: order kept"), pipelined
    yield "stdout: frames only", clean_stdout
    yield "lifetime: exit 0 on stdin EOF", eof_exit
    yield "lifetime: exit on SIGTERM", sigterm_exit


def tagged_vector_sets(codec: Codec[Any], path: Path = TAGGED_VECTORS) -> list[dict[str, Any]] | None:
    """The sets of the tagged golden vectors for ``codec`` and its options (``max_frame`` aside); ``None``: no file."""
    try:
        sets: list[dict[str, Any]] = orjson.loads(path.read_bytes())["sets"]
    except OSError:
        return None

    def framing(c: Codec[Any]) -> dict[str, Any]:
        return {k: v for k, v in c.options().items() if k != "max_frame"}

    ours = framing(codec)
    found = []
    for vector_set in sets:
        if vector_set["codec"] != codec.name:
            continue
        try:
            theirs = get_codec({"name": vector_set["codec"], **vector_set["options"]})
        except ConfigError:
            continue
        if framing(theirs) == ours:
            found.append(vector_set)
    return found


def _size_name(size: int) -> str:
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    return f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} bytes"


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
