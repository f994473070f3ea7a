"""Shared helpers: sample messages per codec and size, medians, tables, the built children."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from shutil import which
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = ROOT / "build" / "children"
CODECS = ("lines", "jsonl", "lenprefix", "msgpack")


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
    path = CHILDREN / f"{language}-{codec}"
    if not path.exists():
        sys.exit(f"{path} is missing: run `make children` first (make bench does)")
    return [str(path)]


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
