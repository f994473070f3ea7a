"""Tagged mode's point (issue 11 item 7): 8 host threads on one Bridge to a child that works concurrently.

The Go child ``go-concurrent`` (jsonl) answers each request from its own goroutine after
sleeping ``sleep_ms`` milliseconds. On an untagged Bridge the threads' calls are
serialised (answers are paired by order), so 8 threads get ~1 call per ms; on a tagged
Bridge all 8 are in flight together (answers paired by id). Target: tagged >= 4x the
untagged throughput. Interleaved rounds, pinned and unpinned (the work is sleeping, so
pinning should not change the ratio). The tagged-vs-untagged cost per call and of
``call_many`` is in the ``bridge`` section.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

import stdiobridge as sb

from .common import CHILDREN, MODE_NOTE, MODES, PINNED, BenchSkip, cpu_mode, interleave, rounds, table, verdict, work

THREADS = 8
CALLS_PER_THREAD = 25
TARGET = 4.0


def _threads_run(br: sb.Bridge, per_thread: int) -> float:
    """Seconds per call with ``THREADS`` threads each making ``per_thread`` calls on ``br``."""
    start_line = threading.Barrier(THREADS + 1)
    wrong: list[Any] = []

    def worker(t: int) -> None:
        start_line.wait()
        for i in range(per_thread):
            msg = {"sleep_ms": 1, "thread": t, "i": i}
            answer = br.call(msg)
            if answer != msg:
                wrong.append(answer)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    start_line.wait()
    start = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    if wrong:
        raise RuntimeError(f"{len(wrong)} calls got an answer that is not their request, e.g. {wrong[0]!r:.80}")
    return elapsed / (THREADS * per_thread)


def main() -> bool:
    """Print the 8-threads table; True when the pinned target is met."""
    path = CHILDREN / "go-concurrent"
    print(f"## {THREADS} host threads on one Bridge, Go concurrent child (1 ms sleep per request), calls/s\n")
    if not path.exists():
        print(f"Skipped: {path.name} is not built (build/children/go-concurrent; `make children`).")
        return False
    command = [str(path)]
    try:
        sb.Bridge(command, codec="jsonl", tagged=True).close()  # type: ignore[call-arg, unused-ignore]
    except (TypeError, sb.BridgeError) as exc:
        print(f"Skipped: sb.Bridge(..., tagged=True) is not accepted yet ({type(exc).__name__}: {exc}).")
        return False
    per_thread = max(2, work(CALLS_PER_THREAD))
    rows: list[list[object]] = []
    ok_pinned = True
    for mode in MODES:
        with cpu_mode(mode) as label:
            options: dict[str, Any] = {"tagged": True}
            try:
                with (
                    sb.Bridge(command, codec="jsonl", timeout=60) as untagged,
                    sb.Bridge(command, codec="jsonl", timeout=60, **options) as tagged,
                ):
                    res = interleave(
                        {
                            "untagged": partial(_threads_run, untagged, per_thread),
                            "tagged": partial(_threads_run, tagged, per_thread),
                        },
                        rounds(5),
                    )
            except sb.BridgeError as exc:
                raise BenchSkip(f"go-concurrent could not be driven: {type(exc).__name__}: {exc}") from exc
        ratio = res.ratio("untagged", "tagged")  # time ratio untagged/tagged = calls/s tagged/untagged
        ok = ratio >= TARGET
        ok_pinned &= ok or mode != PINNED
        rows.append(
            [
                label,
                f"{1 / res.median('untagged'):,.0f}",
                f"{1 / res.median('tagged'):,.0f}",
                f"{ratio:.2f}x",
                verdict(mode, ok, f">= {TARGET:g}x"),
            ]
        )
    print(MODE_NOTE + " Each figure: median over interleaved rounds.\n")
    print(table(["CPU", "untagged Bridge", "tagged Bridge", "ratio (median)", "target"], rows))
    return ok_pinned


if __name__ == "__main__":
    main()
