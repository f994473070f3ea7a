"""`make demo`: the Racket application behind the Lambda handler, under AWS's emulator, persistent vs spawn-per-call.

For each codec (``lines``: the application in application.rkt; ``jsonl``,
``lenprefix``, ``msgpack``: the reference Racket echo children) it measures, through
the real emulator and awslambdaric and then in-process (the handler called
directly): the cold start (first invocation, init included), per-invocation
p50/p99 with the child started once (stdiobridge), and with the program
started for every invocation (``subprocess.run``, spawn_handler.py), then
prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(HERE))

import rie  # noqa: E402
from spawn_handler import make_spawn_handler  # noqa: E402

from stdiobridge.aws_lambda import make_handler  # noqa: E402

EVENT = {"name": "Ada", "text": "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"}


class LocalContext:
    """A Lambda-like context for in-process calls: 30 s from each invocation's start."""

    aws_request_id = "local"
    function_name = "demo"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:demo"
    memory_limit_in_mb = "512"
    log_group_name = "/aws/lambda/demo"
    log_stream_name = "local"

    def __init__(self) -> None:
        self.deadline = time.time() + 30.0

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.time()) * 1000)


@dataclass
class Row:
    """One line of the table: one codec, one way of running (emulator or in-process)."""

    codec: str
    child: str
    via: str
    cold_persistent: float = 0.0
    cold_spawn: float = 0.0
    persistent: tuple[float, float] = (0.0, 0.0)
    spawn: tuple[float, float] = (0.0, 0.0)


def say(text: str) -> None:
    """A progress line, flushed, so the demo never looks hung."""
    print(text, flush=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) by nearest rank, in seconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered) + 0.5) - 1)]
    return statistics.median(ordered), p99


def timed(call: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def build_application() -> Path:
    """`make app` in this folder: the standalone Racket binary (raco exe + raco distribute)."""
    say("building the Racket application (make -C examples/lambda-racket app) ...")
    subprocess.run(["make", "-s", "-C", str(HERE), "app"], check=True)
    return HERE / "build" / "dist" / "bin" / "application"


def check(answer: Any, codec: str) -> None:
    """The answer must be the application's or an echo of the event (a wrong answer would make timings lie)."""
    ok = answer.get("greeting") == "Hello, Ada!" if codec == "lines" else answer.get("event") == EVENT
    if not ok:
        raise SystemExit(f"unexpected answer for {codec}: {answer!r}")


def under_emulator(row: Row, command: list[str], persistent_n: int, spawn_n: int) -> None:
    """Measure one codec through the emulator: the stdiobridge handler, then the spawn-per-call handler."""
    response = "json"
    env = {
        "STDIOBRIDGE_COMMAND": shlex.join(command),
        "STDIOBRIDGE_CODEC": row.codec,
        "STDIOBRIDGE_LAMBDA_RESPONSE": response,
        "STDIOBRIDGE_TIMEOUT": "10",
    }
    with (
        tempfile.TemporaryDirectory(prefix="demo-task-") as task,
        rie.emulator("stdiobridge.aws_lambda.handler", task, env=env, function_timeout=30) as em,
    ):
        status, body = 0, None

        def invoke() -> None:
            nonlocal status, body
            status, body = em.invoke(EVENT, track=False)

        row.cold_persistent = timed(invoke)
        if status != 200 or not isinstance(body, dict) or "errorType" in body:
            raise SystemExit(f"{row.codec}: the handler failed: {body!r}\n{em.log_text()[-3000:]}")
        check(body, row.codec)
        say(f"  emulator, persistent child: cold start {row.cold_persistent * 1000:.0f} ms; {persistent_n} warm ...")
        row.persistent = percentiles([timed(invoke) for _ in range(persistent_n)])
        check(body, row.codec)
    spawn_env = {"SPAWN_COMMAND": json.dumps(command), "SPAWN_CODEC": row.codec, "SPAWN_RESPONSE": response}
    with rie.emulator("spawn_handler.handler", HERE, env=spawn_env, function_timeout=30) as em:
        status, body = 0, None

        def invoke_spawn() -> None:
            nonlocal status, body
            status, body = em.invoke(EVENT, track=False)

        row.cold_spawn = timed(invoke_spawn)
        if status != 200 or not isinstance(body, dict) or "errorType" in body:
            raise SystemExit(f"{row.codec}: the spawn handler failed: {body!r}\n{em.log_text()[-3000:]}")
        check(body, row.codec)
        say(f"  emulator, spawn per call: cold start {row.cold_spawn * 1000:.0f} ms; {spawn_n} invocations ...")
        row.spawn = percentiles([timed(invoke_spawn) for _ in range(spawn_n)])


def in_process(row: Row, command: list[str], persistent_n: int, spawn_n: int) -> None:
    """Measure one codec with the handlers called directly (no emulator, no HTTP)."""
    answer: Any = None
    started = time.perf_counter()
    handler = make_handler(command, codec=row.codec, response="json", timeout=10)
    try:
        answer = handler(EVENT, LocalContext())
        row.cold_persistent = time.perf_counter() - started
        check(answer, row.codec)
        say(f"  in-process, persistent child: {persistent_n} calls ...")
        samples = []
        for _ in range(persistent_n):
            samples.append(timed(lambda: handler(EVENT, LocalContext())))
        row.persistent = percentiles(samples)
    finally:
        handler.close()
    spawn = make_spawn_handler(command, row.codec, "json")
    row.cold_spawn = timed(lambda: check(spawn(EVENT, LocalContext()), row.codec))
    say(f"  in-process, spawn per call: {spawn_n} calls ...")
    row.spawn = percentiles([timed(lambda: spawn(EVENT, LocalContext())) for _ in range(spawn_n)])


def ms(seconds: float) -> str:
    """Milliseconds, with the precision the size deserves."""
    value = seconds * 1000
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 10 else f"{value:.0f}"


def table(rows: list[Row]) -> str:
    """The one table the demo prints (times in ms; ratio = spawn p50 / persistent p50)."""
    head = [
        "codec",
        "child",
        "via",
        "cold start",
        "cold (spawn)",
        "persistent p50",
        "p99",
        "spawn p50",
        "p99",
        "spawn/persistent",
    ]
    body = [
        [
            r.codec,
            r.child,
            r.via,
            ms(r.cold_persistent),
            ms(r.cold_spawn),
            ms(r.persistent[0]),
            ms(r.persistent[1]),
            ms(r.spawn[0]),
            ms(r.spawn[1]),
            f"{r.spawn[0] / r.persistent[0]:.0f}x" if r.persistent[0] else "-",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    fmt = "| " + " | ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if i >= 3 else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt.format(*head), rule, *(fmt.format(*line) for line in body)])


def main() -> int:
    """Build, measure every codec both ways, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--persistent", type=int, default=200, help="warm invocations per codec (default 200)")
    parser.add_argument("--spawn", type=int, default=20, help="spawn-per-call invocations per codec (default 20)")
    parser.add_argument("--codecs", default="lines,jsonl,lenprefix,msgpack")
    args = parser.parse_args()
    try:
        say(f"AWS Lambda Runtime Interface Emulator: {rie.rie_binary()}")
    except rie.RieUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    application = build_application()
    children = REPO / "build" / "children"
    rows: list[Row] = []
    total = time.perf_counter()
    codecs = [c for c in args.codecs.split(",") if c]
    for n, codec in enumerate(codecs, 1):
        if codec == "lines":
            command, name = [str(application)], "application.rkt"
        else:
            command, name = [str(children / f"racket-{codec}")], f"racket-{codec} (echo)"
        if not Path(command[0]).is_file():
            print(f"error: {command[0]} is missing: run `make children`", file=sys.stderr)
            return 1
        say(f"[{n}/{len(codecs)}] {codec}: {name}")
        emulated = Row(codec, name, "emulator")
        under_emulator(emulated, command, args.persistent, args.spawn)
        local = Row(codec, name, "in-process")
        in_process(local, command, args.persistent, args.spawn)
        rows += [emulated, local]
    say(f"done in {time.perf_counter() - total:.0f} s\n")
    print("Times in ms. cold start: first invocation including init (emulator: the runtime's start and the")
    print("handler module's import, which spawns the child; in-process: make_handler + first call).")
    print(
        f"persistent: {args.persistent} calls to one child; spawn: {args.spawn} calls, each running the program anew.\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
