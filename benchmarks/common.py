"""Shared helpers: sample messages, the built children, CPU pinning, interleaved rounds, tables.

The method (issue 14): every ratio is the median of per-round ratios, the contenders of a
round run back to back and in alternating order; each ratio is measured both with this
process and its children pinned to one CPU (reproducible: CPU per call, targets apply)
and unpinned (the scheduler's choice; for reference, it swings run to run).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from shutil import which
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "build" / "children"
CODECS = ("lines", "jsonl", "lenprefix", "msgpack")
PINNED = "pinned"
UNPINNED = "unpinned"
MODES = (PINNED, UNPINNED)
MODE_NOTE = (
    "CPU: *pinned* = this process, its threads and the children it spawns on one CPU "
    "(`os.sched_setaffinity`), which measures CPU per call and repeats within a few percent; "
    "targets apply to these rows. *unpinned* = the scheduler's choice, for reference only "
    "(on a 2-vCPU VM its ratios swing from run to run)."
)


class BenchSkip(Exception):
    """A benchmark cannot run here (a child is not built, an API is missing); the message says why."""


@dataclass
class Settings:
    """Run-wide knobs: ``quick`` shrinks every workload to check the code runs (timings meaningless)."""

    quick: bool = False


SETTINGS = Settings()


def work(n: int) -> int:
    """``n`` iterations of a timed loop, or a small fraction of them in a quick run."""
    return max(1, n // 50) if SETTINGS.quick else n


def rounds(n: int) -> int:
    """``n`` interleaved rounds, or 2 in a quick run (the order still alternates)."""
    return min(n, 2) if SETTINGS.quick else n


def sample(codec: str, size: int, i: int = 0) -> Any:
    """A message of about ``size`` encoded bytes for ``codec``."""
    if codec == "lines":
        return f"{i:08d}" + "x" * max(0, size - 8)
    if codec == "jsonl":
        return {"id": i, "data": "x" * max(0, size - 20)}
    if codec == "lenprefix":
        return i.to_bytes(8, "big") + b"x" * max(0, size - 8)
    return {"id": i, "data": b"x" * max(0, size - 15)}


def child(language: str, codec: str) -> list[str]:
    """The command of a built reference child; ``BenchSkip`` if it is not built."""
    path = CHILDREN / f"{language}-{codec}"
    if not path.exists():
        raise BenchSkip(f"{path.relative_to(ROOT)} is missing: run `make children` first (make bench does)")
    return [str(path)]


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@contextmanager
def cpu_mode(mode: str) -> Iterator[str]:
    """Run the block pinned to one CPU (every thread, and children spawned inside inherit it) or not.

    Yields the label for tables. Children must be started and closed inside the block:
    a child keeps the affinity it was born with.
    """
    if mode == UNPINNED:
        yield "unpinned"
        return
    allowed = os.sched_getaffinity(0)
    cpu = 0 if 0 in allowed else min(allowed)
    saved = {tid: os.sched_getaffinity(tid) for tid in _threads()}
    for tid in saved:
        with suppress(OSError):  # the thread ended meanwhile
            os.sched_setaffinity(tid, {cpu})
    try:
        yield f"pinned (CPU {cpu})"
    finally:
        main = saved.get(os.getpid(), allowed)
        for tid in _threads():  # threads born inside the block were pinned too
            with suppress(OSError):
                os.sched_setaffinity(tid, saved.get(tid, main))


@dataclass
class Rounds:
    """One value per round per contender (seconds per operation), from ``interleave``."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def ratio(self, num: str, den: str) -> float:
        """Median over rounds of ``num / den`` (each round's two values were measured back to back)."""
        return statistics.median(a / b for a, b in zip(self.values[num], self.values[den], strict=True))


def interleave(contenders: Mapping[str, Callable[[], float]], n_rounds: int) -> Rounds:
    """Run every contender once per round, in alternating order (forwards, then backwards)."""
    names = list(contenders)
    result = Rounds({name: [] for name in names})
    for r in range(n_rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            result.values[name].append(contenders[name]())
    return result


def per_call(fn: Callable[[Any], object], msg: Any, n: int) -> float:
    """Mean wall time of ``fn(msg)`` over ``n`` back-to-back calls, in seconds."""
    start = time.perf_counter()
    for _ in range(n):
        fn(msg)
    return (time.perf_counter() - start) / n


def verdict(mode: str, ok: bool, target: str) -> str:
    """The target cell: judged on pinned rows only."""
    if mode != PINNED:
        return f"({target})"
    return f"{target} " + ("ok" if ok else "MISSED")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall time of each of ``repeat`` runs of ``fn``, in seconds."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def size_name(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB" if size >= 1 << 10 else f"{size} B"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (it is pasted into the README as is)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(list(headers)), sep, *(line(r) for r in cells)])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    go = (
        subprocess.run(["go", "version"], capture_output=True, text=True, check=False).stdout.strip()
        if which("go")
        else "no go"
    )
    return (
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {go}"
    )
