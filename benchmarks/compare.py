"""Before/after, side by side in one run (issue 10: within 5% of the ratios before the exchange-core rewrite).

The library as it was at ``BASELINE`` (a git ref; env ``BENCH_BASELINE`` overrides it) is
exported from git into a temporary folder; worker processes then import either that copy
or this tree's ``stdiobridge`` (the benchmark code and the children are this tree's for
both) and measure, pinned to one CPU, the same Bridge/hand ratios as the other sections:
``Bridge.call`` at 100 B per codec and at 1 MiB, ``call_many`` and 64 AsyncBridge awaiters
against the hand pipeline. Workers alternate before/after/after/before...; each worker
reports the median of its own interleaved rounds, and the table shows the median per
version. A ratio of ratios measured in one run cancels most of the machine's drift.

    python -m benchmarks compare                    # against BASELINE
    BENCH_BASELINE=main~3 python -m benchmarks compare
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import stdiobridge as sb  # in a worker: the copy it was started to measure (PYTHONPATH)

from .common import (
    PINNED,
    ROOT,
    SETTINGS,
    BenchSkip,
    child,
    cpu_mode,
    interleave,
    per_call,
    rounds,
    sample,
    table,
    work,
)
from .handloops import HandLoop, HandPipeline

# main just before the exchange-core rewrite (issue 10) and tagged mode (issue 11) were merged.
BASELINE = "9625f976a7b6e580acbd53214c18c58eef1eb0a8"
TOLERANCE = 0.05  # a ratio may get at most 5% worse
WORKERS = 5  # per version, alternating
# case -> True when higher is better (throughput ratios), False when lower is (time ratios)
CASES: dict[str, bool] = {
    **{f"Bridge.call / hand loop, {c} 100 B": False for c in ("lines", "jsonl", "lenprefix", "msgpack")},
    "Bridge.call / hand loop, lenprefix 1 MiB": False,
    "call_many / hand pipeline msgs/s, jsonl 100 B": True,
    "64 AsyncBridge awaiters / hand pipeline msgs/s, lines": True,
}


def _export(ref: str, into: Path) -> str:
    """Write ``ref``'s stdiobridge package under ``into``; its short commit hash."""
    git = ["git", "-C", str(ROOT)]
    found = subprocess.run(
        [*git, "rev-parse", "--verify", "--short", f"{ref}^{{commit}}"], check=False, capture_output=True, text=True
    )
    if found.returncode != 0:
        raise BenchSkip(f"git ref {ref} is not in this clone ({found.stderr.strip() or 'no git'})")
    archive = into / "baseline.tar"
    subprocess.run([*git, "archive", "-o", str(archive), ref, "stdiobridge"], check=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(into)], check=True)
    return found.stdout.strip()


def measure() -> dict[str, float]:
    """Run in a worker: every case's ratio, pinned, median of this worker's interleaved rounds."""
    n_rounds = rounds(5)
    out: dict[str, float] = {}
    with cpu_mode(PINNED):
        for codec, size in [(c, 100) for c in ("lines", "jsonl", "lenprefix", "msgpack")] + [("lenprefix", 1 << 20)]:
            command = child("go", codec)
            msg = sample(codec, size)
            n = work(3000 if size == 100 else 20)
            hand = HandLoop(command, codec)
            with sb.Bridge(command, codec=codec, timeout=60) as br:
                if br.call(msg) != msg or hand.call(msg) != msg:
                    raise RuntimeError(f"{codec}: a contender did not echo the request")
                res = interleave(
                    {"hand": partial(per_call, hand.call, msg, n), "bridge": partial(per_call, br.call, msg, n)},
                    n_rounds,
                )
            hand.close()
            name = f"{size >> 20} MiB" if size > 100 else "100 B"
            out[f"Bridge.call / hand loop, {codec} {name}"] = res.ratio("bridge", "hand")

        count = work(20_000)
        msgs = [sample("jsonl", 100, i) for i in range(count)]
        pipe = HandPipeline(child("go", "jsonl"), "jsonl")
        with sb.Bridge(child("go", "jsonl"), codec="jsonl", timeout=60) as br:
            res = interleave(
                {"hand": partial(_timed_batch, pipe.run, msgs), "bridge": partial(_timed_batch, br.call_many, msgs)},
                n_rounds,
            )
        pipe.close()
        out["call_many / hand pipeline msgs/s, jsonl 100 B"] = res.ratio("hand", "bridge")

        lines = [sample("lines", 100, i) for i in range(count)]
        pipe = HandPipeline(child("go", "lines"), "lines")
        loop = asyncio.new_event_loop()
        abr = sb.AsyncBridge(child("go", "lines"), max_pending=64)
        loop.run_until_complete(abr.start())

        def awaiters() -> float:
            return loop.run_until_complete(_awaiters(abr, lines))

        res = interleave({"hand": partial(_timed_batch, pipe.run, lines), "async": awaiters}, n_rounds)
        loop.run_until_complete(abr.aclose())
        loop.close()
        pipe.close()
        out["64 AsyncBridge awaiters / hand pipeline msgs/s, lines"] = res.ratio("hand", "async")
    return out


def _timed_batch(fn: Callable[[list[Any]], list[Any]], msgs: list[Any]) -> float:
    start = time.perf_counter()
    if fn(msgs) != msgs:
        raise RuntimeError("a batch came back wrong")
    return (time.perf_counter() - start) / len(msgs)


async def _awaiters(abr: Any, msgs: list[Any]) -> float:
    it = iter(msgs)

    async def worker() -> None:
        for m in it:
            if await abr.call(m) != m:
                raise RuntimeError("an awaiter got another request's answer")

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(64)))
    return (time.perf_counter() - start) / len(msgs)


def _worker(tree: Path) -> tuple[str, dict[str, float]]:
    """Measure with ``tree``'s stdiobridge in a fresh interpreter; (its file, its ratios)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(ROOT)])}
    argv = [sys.executable, "-m", "benchmarks.compare", "--worker"] + (["--quick"] if SETTINGS.quick else [])
    done = subprocess.run(argv, check=False, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"worker for {tree} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["file"], result["ratios"]


def main() -> bool:
    """Print the before/after table; True when no ratio got more than 5% worse."""
    ref = os.environ.get("BENCH_BASELINE", BASELINE)
    print("## Before/after the exchange-core rewrite: the same ratios, side by side, pinned to one CPU\n")
    with tempfile.TemporaryDirectory(prefix="stdiobridge-baseline-") as tmp:
        before_tree = Path(tmp)
        short = _export(ref, before_tree)
        results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        files: dict[str, str] = {}
        order = ["before", "after"]
        for r in range(rounds(WORKERS)):
            for version in order if r % 2 == 0 else order[::-1]:
                file, ratios = _worker(before_tree if version == "before" else ROOT)
                files[version] = file
                results[version].append(ratios)
    if Path(files["before"]).resolve().is_relative_to(ROOT) or not Path(files["after"]).resolve().is_relative_to(ROOT):
        raise RuntimeError(f"workers imported the wrong copies: {files}")
    print(
        f"before = stdiobridge at {ref[:12]} ({short}), exported from git; after = this tree. Each ratio is the "
        "library against the same hand-written baseline (time ratio for calls, msgs/s ratio for batches); "
        f"median over {len(results['after'])} workers per version, alternating, each the median of its own "
        f"interleaved rounds; the range is the lowest and highest worker. Target: no ratio more than "
        f"{TOLERANCE:.0%} worse (judged on the medians; ranges wider than that mean a noisy machine).\n"
    )
    rows: list[list[object]] = []
    ok_all = True
    for case, higher_better in CASES.items():
        befores = [r[case] for r in results["before"]]
        afters = [r[case] for r in results["after"]]
        before, after = statistics.median(befores), statistics.median(afters)
        change = after / before - 1
        worse = -change if higher_better else change
        ok = worse <= TOLERANCE
        ok_all &= ok
        rows.append(
            [
                case,
                f"{before:.2f}x ({min(befores):.2f}-{max(befores):.2f})",
                f"{after:.2f}x ({min(afters):.2f}-{max(afters):.2f})",
                f"{change:+.1%}",
                f"no worse than {TOLERANCE:.0%} " + ("ok" if ok else "MISSED"),
            ]
        )
    print(table(["case (pinned)", "before (range)", "after (range)", "change", "target"], rows))
    return ok_all


if __name__ == "__main__":
    if "--worker" in sys.argv:
        SETTINGS.quick = "--quick" in sys.argv
        print(json.dumps({"file": sb.__file__, "ratios": measure()}))
    else:
        main()
