"""Process inspection for the lifetime tests: is a pid alive, zombies, open fds."""

from __future__ import annotations

import os
import time

from stdiobridge.process import proc_table


def state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (``Z`` for a zombie), or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def running(pid: int) -> bool:
    return state(pid) not in (None, "Z", "X")


def wait_gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` is no longer running (gone or zombie), polling up to ``within`` s."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not running(pid):
            return True
        time.sleep(0.01)
    return not running(pid)


def zombies_of(parent: int) -> list[int]:
    """Zombie children of ``parent``."""
    return [pid for pid, row in proc_table().items() if row.state == "Z" and row.ppid == parent]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def is_watchdog(pid: int) -> bool:
    """True for stdiobridge's per-host watchdog (``python -I -S .../stdiobridge/proctree.py``)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    return any(arg.endswith(b"stdiobridge/proctree.py") for arg in argv)


def children_of(parent: int) -> list[int]:
    """The living children of ``parent`` but stdiobridge's watchdog."""
    return [
        pid
        for pid, row in proc_table().items()
        if row.ppid == parent and row.state not in ("Z", "X") and not is_watchdog(pid)
    ]
