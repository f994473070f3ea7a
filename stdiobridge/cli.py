"""The ``stdiobridge`` command: codecs · run · bench · conform.

Bad input gives one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

import orjson

from . import __version__
from .bridge import Bridge
from .codecs import Codec, codec_sources, get_codec
from .config import load_config
from .errors import BridgeError, ConfigError

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
        p.add_argument("--timeout", type=float, help="seconds per call (default: from config, else 30)")

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
        "The child must answer every request with the request itself.",
    )
    conform.add_argument("--codec", required=True, help="codec name or TOML inline table")
    conform.add_argument("--examples", type=int, default=100, help="generated messages to echo (default 100)")
    conform.add_argument("--timeout", type=float, default=10.0, help="seconds per call (default 10)")
    return parser


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
    if args.timeout is not None:
        options["timeout"] = args.timeout
    options.setdefault("stderr", stderr)
    return Bridge(command, **options)


def _parse_line(codec: Codec[Any], line: str) -> Any:
    if codec.kind == "json":
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"input line is not JSON ({exc}): {line[:80]!r}") from None
    if codec.kind == "bytes":
        return line.encode()
    return line


def _show(codec: Codec[Any], value: Any) -> str:
    if isinstance(value, bytes) and codec.kind == "bytes":
        return value.decode("utf-8", "replace")
    if isinstance(value, str) and codec.kind == "text":
        return value
    return orjson.dumps(value, default=_jsonable).decode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        yield line.rstrip("\n").rstrip("\r") if line.endswith("\n") else line


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cmd_run(args: argparse.Namespace, command: list[str]) -> int:
    with _bridge(args, command) as br:
        source: TextIO = open(args.input, encoding="utf-8") if args.input else sys.stdin  # noqa: SIM115
        try:
            messages = (_parse_line(br.codec, line) for line in _lines(source))
            for batch in _batches(messages, max(1, args.batch)):
                for response in br.call_many(batch):
                    sys.stdout.write(_show(br.codec, response) + "\n")
                sys.stdout.flush()
        finally:
            if source is not sys.stdin:
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
        message = _parse_line(codec, args.message) if args.message else _default_message(codec)
        frame = codec.encode(message)
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
        out = subprocess.run(argv, input=frame, capture_output=True, check=False).stdout
        spawn.append(time.perf_counter() - t)
        if not codec.decoder().feed(out):
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
    print(f"{'':<24} {'p50':>12} {'p99':>12} {'calls/s':>12}")
    for name, p50, p99, rate in rows:
        print(f"{name:<24} {p50:>12} {p99:>12} {rate:>12}")
    print(f"persistent is {statistics.median(spawn) / statistics.median(lat):,.0f}x faster per call (p50)")
    return 0


def _default_message(codec: Codec[Any]) -> Any:
    if codec.kind == "bytes":
        return b"x" * 100
    if codec.kind == "json":
        return {"id": 1, "data": "x" * 80}
    return "x" * 100


def cmd_conform(args: argparse.Namespace, command: list[str]) -> int:
    from .conformance import format_line, report_header, report_summary, run_checks  # noqa: PLC0415  (needs hypothesis)

    if not command:
        raise ConfigError("give the child's command after `--`, e.g.: stdiobridge conform --codec jsonl -- ./child")
    codec = get_codec(_codec_arg(args.codec))
    print(report_header(command, codec.name), flush=True)
    results = run_checks(
        command,
        codec,
        examples=args.examples,
        timeout=args.timeout,
        progress=lambda r: print(format_line(r), flush=True),
    )
    print(report_summary(codec.name, results))
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
        return 0
    except (BridgeError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"stdiobridge {args.command}: {type(exc).__name__}: {first}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
