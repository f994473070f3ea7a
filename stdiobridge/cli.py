"""The ``stdiobridge`` command: codecs · run · bench · conform.

Bad input gives one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import select
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, BinaryIO

import orjson

from . import __version__
from .bridge import Bridge
from .codecs import Codec, codec_sources, get_codec
from .config import load_config
from .conformance import check_kind
from .errors import BridgeError, CallTimeout, ConfigError, EncodeError
from .front import TAGGED_ENV

__all__ = ["main"]

EXIT_USAGE = 2
EXIT_FAILED = 1


def _split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Options before ``--``, the child's command after it."""
    if "--" in argv:
        i = list(argv).index("--")
        return list(argv[:i]), list(argv[i + 1 :])
    return list(argv), []


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stdiobridge",
        description="Start a program once and exchange messages with it over stdin/stdout.",
        epilog="Give the child's command after `--`, e.g.: stdiobridge run --codec jsonl -- ./my-child --flag",
    )
    parser.add_argument("--version", action="version", version=f"stdiobridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("codecs", help="list the available codecs and where each comes from")

    def child_options(p: argparse.ArgumentParser, *, config: bool = True) -> None:
        p.add_argument(
            "--codec", help="codec name or TOML inline table, e.g. lenprefix or '{name=\"lenprefix\", width=2}'"
        )
        if config:
            p.add_argument(
                "--config", help="a stdiobridge.toml (or pyproject.toml) to read the command and options from"
            )
        p.add_argument(
            "--timeout",
            type=_seconds,
            default=_NOT_GIVEN,
            help="seconds per call, or inf for no limit (default: from config, else 30)",
        )
        tagged_option(p)

    def tagged_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--tagged",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="request ids on the wire (the child gets STDIOBRIDGE_TAGGED=1 and must copy each id onto its "
            "answer); default: from --config (tagged = true), else off",
        )

    run = sub.add_parser(
        "run",
        help="send messages (one per input line) and print the responses (one per line)",
        description="Each input line is one message: JSON for codecs of JSON-like values (jsonl, msgpack, "
        "most plugins), text for lines, the line's bytes for lenprefix. Each response is printed on its "
        "own line the same way.",
    )
    child_options(run)
    run.add_argument("--input", "-i", help="read messages from this file instead of stdin")
    run.add_argument("--batch", type=int, default=256, help="messages pipelined per batch (default 256)")

    bench = sub.add_parser(
        "bench", help="latency and throughput of the persistent child vs the same child spawned per call"
    )
    child_options(bench)
    bench.add_argument("--message", help="the message to send (as for `run`); default: 100 bytes of text")
    bench.add_argument("--count", type=int, default=5000, help="persistent calls to time (default 5000)")
    bench.add_argument("--spawn-count", type=int, default=30, help="spawn-per-call runs to time (default 30)")

    conform = sub.add_parser(
        "conform",
        help="check that a child honours the child contract for a codec (it must echo)",
        description="Runs the conformance kit: echo of generated messages, large messages, byte-by-byte "
        "and bulk writes, pipelining, a clean stdout, exit 0 on EOF, exit on SIGTERM. "
        "The child must answer every request with the request itself. With --tagged, every check "
        "speaks tagged frames, and more checks name a child that drops ids, invents ids or answers "
        "twice, accept answers in any order, and compare answers to the tagged golden vectors.",
    )
    conform.add_argument("--codec", help="codec name or TOML inline table (default: from --config)")
    conform.add_argument("--config", help="a stdiobridge.toml (or pyproject.toml) to read the command and codec from")
    conform.add_argument("--examples", type=int, default=100, help="generated messages to echo (default 100)")
    conform.add_argument(
        "--seed", type=int, help="seed of the generated messages (default: a new one, printed in the report)"
    )
    conform.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        help="seconds each check may wait for the child, or inf for no limit (default 10)",
    )
    tagged_option(conform)
    for p in (run, bench, conform):
        p.usage = (
            f"%(prog)s [options] {'[' if p is not conform else ''}-- COMMAND [ARG ...]{']' if p is not conform else ''}"
        )
        p.epilog = (
            "The child's command comes after `--`; without it, the command comes from --config "
            "(or $STDIOBRIDGE_CONFIG, ./stdiobridge.toml). A relative command path is taken from the "
            "current directory here, and from the config file's folder in a config file."
        )
    return parser


def _seconds(text: str) -> float | None:
    """A ``--timeout`` value: seconds > 0, or ``inf``/``none``/``false`` for no limit (``None``)."""
    if text.strip().lower() in ("inf", "infinity", "none", "false", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds (e.g. 2.5), or inf for no limit; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"seconds must be > 0 (or inf for no limit); got {text!r}")
    return None if math.isinf(value) else value


_NOT_GIVEN: Any = object()


def _codec_arg(text: str | None) -> Any:
    if text is None:
        return None
    text = text.strip()
    if text.startswith("{"):
        env = {"STDIOBRIDGE_COMMAND": "x", "STDIOBRIDGE_CODEC": text}
        return load_config({}, env=env).codec
    return text


def _bridge(args: argparse.Namespace, command: list[str], *, stderr: str = "inherit") -> Bridge:
    options: dict[str, Any] = {}
    if args.config or not command:
        settings = load_config(args.config)
        options = settings.bridge_options()
        command = command or list(settings.command)
    if args.codec:
        options["codec"] = _codec_arg(args.codec)
    if args.timeout is not _NOT_GIVEN:
        options["timeout"] = args.timeout
    if args.tagged is not None:
        options["tagged"] = args.tagged
    options.setdefault("stderr", stderr)
    bridge = Bridge(command, **options)
    check_kind(bridge.codec)
    return bridge


def kind_declared(codec: Codec[Any]) -> bool:
    """Whether the codec's class (not ``Codec`` itself) sets ``kind``: a plugin may have forgotten it."""
    return any("kind" in vars(cls) for cls in type(codec).__mro__ if cls is not Codec)


def kind_hint(codec: Codec[Any]) -> str:
    """What to say after an ``EncodeError`` of a message the tools made from the codec's ``kind``."""
    if kind_declared(codec):
        return ""
    return (
        f" (codec {codec.name!r} does not set Codec.kind, so it was given {codec.kind} values; "
        "a plugin whose messages are str or bytes must say kind = 'text' or 'bytes')"
    )


def _parse_line(codec: Codec[Any], line: bytes, number: int) -> Any:
    """One input line as a message of the codec's kind; ``ConfigError`` naming the line when it is not one."""
    if codec.kind == "bytes":
        return line
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"input line {number} is not UTF-8 ({exc.reason} at byte {exc.start}): {line[:80]!r}"
        ) from None
    if codec.kind == "json":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"input line {number} is not JSON ({exc}): {text[:80]!r}") from None
    return text


def _text(value: str) -> str:
    """A str that can be written as UTF-8: undecodable bytes (surrogate escapes) shown as ``\\xNN``."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def _plain(value: Any) -> Any:
    """``value`` with what JSON cannot hold made showable: bytes as text, ext types and odd keys as strings."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _show_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # msgpack's ExtType
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value if not isinstance(value, int) or -(2**63) <= value < 2**64 else str(value)
    return repr(value)


def _show_key(key: Any) -> str:
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("utf-8", "backslashreplace")
    if isinstance(key, (bool, int, float)) or key is None:
        return orjson.dumps(key).decode()
    return repr(key)


def _show(codec: Codec[Any], value: Any) -> str:
    """One answer as one line of text: text and bytes as they are (escaped if not UTF-8), the rest as JSON."""
    if isinstance(value, (bytes, bytearray)) and codec.kind == "bytes":
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, str) and codec.kind == "text":
        return _text(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError: bytes, msgpack ext types, tuple keys, huge ints...
        return orjson.dumps(_plain(value)).decode()


def _input_lines(stream: BinaryIO, batch: int) -> Iterator[list[tuple[int, bytes]]]:
    """Numbered input lines in batches: as many as are already readable, up to ``batch``.

    A file fills whole batches (pipelined); a pipe or terminal yields what has
    arrived so far, so an interactive user sees each answer as soon as it comes.
    """
    fd = stream.fileno()
    pending = b""
    number = 0
    ready: list[tuple[int, bytes]] = []
    while True:
        if ready and (len(ready) >= batch or not select.select([fd], [], [], 0)[0]):
            yield ready[:batch]
            ready = ready[batch:]
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            if pending:
                number += 1
                ready.append((number, pending.removesuffix(b"\r")))
            while ready:
                yield ready[:batch]
                ready = ready[batch:]
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            number += 1
            ready.append((number, line.removesuffix(b"\r")))


def _write(out: IO[bytes], text: str) -> None:
    out.write(text.encode("utf-8", "backslashreplace") + b"\n")


def cmd_run(args: argparse.Namespace, command: list[str]) -> int:
    """Send each input line as a message and print each answer as it arrives, one per line."""
    out = sys.stdout.buffer
    answered = 0
    with _bridge(args, command) as br:
        source: BinaryIO = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115
        try:
            for lines in _input_lines(source, max(1, args.batch)):
                messages: list[Any] = []
                bad: ConfigError | None = None
                for number, line in lines:
                    try:
                        messages.append(_parse_line(br.codec, line, number))
                    except ConfigError as exc:
                        bad = exc
                        break
                try:
                    answers = br.call_many(messages) if messages else []
                except EncodeError as exc:
                    raise EncodeError(f"{exc}{kind_hint(br.codec)}") from None
                except BridgeError as exc:
                    for answer in exc.results:
                        _write(out, _show(br.codec, answer))
                    answered += len(exc.results)
                    out.flush()
                    first = lines[0][0] + len(exc.results)
                    said = re.sub(r" ?\b(after|before) \d+ of \d+ responses", "", _first_line(exc))
                    if isinstance(exc, CallTimeout) and not getattr(exc, "received", 0):
                        said += (
                            f" If it does flush, it may read another framing than {br.codec!r}: "
                            "check the codec and its options (e.g. lenprefix width) against the child's."
                        )
                    exc.args = (
                        f"{said} [{answered} answer(s) printed; input line {first} and after were not answered]",
                    )
                    raise
                for answer in answers:
                    _write(out, _show(br.codec, answer))
                answered += len(answers)
                out.flush()
                if bad is not None:
                    raise bad
        finally:
            if source is not sys.stdin.buffer:
                source.close()
    return 0


def _progress(label: str, done: int, total: int, started: float) -> None:
    if not sys.stderr.isatty() or time.monotonic() - started < 1.0:
        return
    width = 30
    filled = width * done // max(1, total)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{label:<16} [{'#' * filled}{' ' * (width - filled)}] {done}/{total}{end}")
    sys.stderr.flush()


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def cmd_bench(args: argparse.Namespace, command: list[str]) -> int:
    with _bridge(args, command, stderr="discard") as br:
        codec = br.codec
        try:
            message = _parse_line(codec, args.message.encode(), 1) if args.message else _default_message(codec)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("input line 1", "--message", 1)) from None
        tagged = br.spec.tagged
        wire: Codec[Any] = codec.tagged() if tagged else codec
        frame = wire.encode((1, message)) if tagged else codec.encode(message)
        spawn_env = {**os.environ, **(br.spec.env or {}), TAGGED_ENV: "1" if tagged else "0"}
        argv = shlex.split(br.command) if isinstance(br.command, str) else list(br.command)
        br.call(message)  # warm: the child is up
        lat: list[float] = []
        started = time.monotonic()
        for i in range(args.count):
            t = time.perf_counter()
            br.call(message)
            lat.append(time.perf_counter() - t)
            if i % 500 == 0 or i == args.count - 1:
                _progress("persistent", i + 1, args.count, started)
        t = time.perf_counter()
        br.call_many([message] * args.count)
        pipelined = args.count / (time.perf_counter() - t)
    spawn: list[float] = []
    started = time.monotonic()
    for i in range(args.spawn_count):
        t = time.perf_counter()
        out = subprocess.run(argv, input=frame, capture_output=True, env=spawn_env, check=False).stdout
        spawn.append(time.perf_counter() - t)
        if not wire.decoder().feed(out):
            raise BridgeError(f"spawn-per-call run {i} gave no whole response: {out[:80]!r}")
        _progress("spawn per call", i + 1, args.spawn_count, started)
    rows = [
        (
            "persistent Bridge.call",
            _fmt(statistics.median(lat)),
            _fmt(_percentile(lat, 0.99)),
            f"{1 / statistics.mean(lat):,.0f}",
        ),
        ("persistent call_many", "-", "-", f"{pipelined:,.0f}"),
        (
            "spawn per call",
            _fmt(statistics.median(spawn)),
            _fmt(_percentile(spawn, 0.99)),
            f"{1 / statistics.mean(spawn):,.0f}",
        ),
    ]
    print(f"{'tagged' if tagged else 'untagged':<24} {'p50':>12} {'p99':>12} {'calls/s':>12}")
    for name, p50, p99, rate in rows:
        print(f"{name:<24} {p50:>12} {p99:>12} {rate:>12}")
    print(f"persistent is {statistics.median(spawn) / statistics.median(lat):,.0f}x faster per call (p50)")
    return 0


def _default_message(codec: Codec[Any]) -> Any:
    """100 bytes or so of the codec's kind."""
    if codec.kind == "bytes":
        return b"x" * 100
    if codec.kind == "json":
        return {"id": 1, "data": "x" * 80}
    return "x" * 100


def cmd_conform(args: argparse.Namespace, command: list[str]) -> int:
    """Run the conformance kit against the child and print a line per check; exit 1 when one fails."""
    from .conformance import (  # noqa: PLC0415  (needs hypothesis: the conform extra)
        check_kind as conform_kind,
    )
    from .conformance import (  # noqa: PLC0415
        format_line,
        new_seed,
        report_header,
        report_summary,
        run_checks,
    )

    codec_spec: Any = _codec_arg(args.codec)
    tagged = bool(args.tagged)
    if args.config or not command:
        try:
            settings = load_config(args.config)
        except ConfigError:
            if args.config:
                raise
            raise ConfigError(
                "give the child's command after `--`, e.g.: stdiobridge conform --codec jsonl -- ./child "
                "(or --config stdiobridge.toml)"
            ) from None
        command = command or list(settings.command)
        codec_spec = codec_spec if codec_spec is not None else settings.codec
        tagged = settings.spec.tagged if args.tagged is None else args.tagged
    if codec_spec is None:
        raise ConfigError("give the codec: --codec NAME (or a config file with --config)")
    codec = get_codec(codec_spec)
    conform_kind(codec)
    if tagged:
        codec.tagged()  # a codec that cannot be tagged: its ConfigError before the header
    label = f"{codec.name} (tagged)" if tagged else codec.name
    seed = new_seed() if args.seed is None else args.seed
    print(f"{report_header(command, label)} (seed {seed}, {args.examples} generated messages)", flush=True)
    results = run_checks(
        command,
        codec,
        examples=args.examples,
        timeout=args.timeout,
        seed=seed,
        progress=lambda r: print(format_line(r), flush=True),
        tagged=tagged,
    )
    print(report_summary(label, results))
    if not all(r.passed for r in results):
        print(f"replay this run with --seed {seed}")
    return 0 if all(r.passed for r in results) else EXIT_FAILED


def cmd_codecs(args: argparse.Namespace, command: list[str]) -> int:
    sources = codec_sources()
    width = max(map(len, sources))
    for name, source in sources.items():
        print(f"{name:<{width}}  {source}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, list[str]], int]] = {
    "codecs": cmd_codecs,
    "run": cmd_run,
    "bench": cmd_bench,
    "conform": cmd_conform,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    options, command = _split_command(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(options)
    try:
        return COMMANDS[args.command](args, command)
    except KeyboardInterrupt:
        print("stdiobridge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):  # the reader left: say nothing, and keep Python from complaining at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (BridgeError, OSError, ValueError) as exc:
        print(f"stdiobridge {args.command}: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bug of ours: still one line, never a traceback
        print(
            f"stdiobridge {args.command}: internal error {type(exc).__name__}: {_first_line(exc)} "
            "(please report it, with the command line)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
