"""The process tree from ``/proc``, and the watchdog that cleans up after a host that died.

Standard library only and no package imports: the watchdog runs this file as a
script (``python -I -S proctree.py``), so it starts in milliseconds.

Why a watchdog: a child gets ``PR_SET_PDEATHSIG`` and dies with its host, but
what *it* started is re-parented to init and lost once it is dead. The host
registers every child with one watchdog process per host (started on the first
spawn); the watchdog refreshes each child's family every second and, when its
stdin reaches EOF (the host exited or was SIGKILLed), kills every registered
child, every process of its family still alive, and every process that holds one
of the child's pipes (a background job that inherited stdout).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterable, Mapping
from typing import NamedTuple

__all__ = ["ProcStat", "descendants", "kill_known", "pipe_holders", "proc_table", "watchdog_main"]

REFRESH = 1.0  # seconds between the watchdog's family snapshots


class ProcStat(NamedTuple):
    """The fields of ``/proc/<pid>/stat`` that process-tree work needs."""

    ppid: int
    pgid: int
    start: int  # start time in clock ticks since boot: with the pid, it names one process
    state: str  # R, S, D, Z (zombie), ...


def _stat(pid: int | str) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    return ProcStat(int(fields[1]), int(fields[2]), int(fields[19]), fields[0].decode())


def proc_table() -> dict[int, ProcStat]:
    """pid -> ``ProcStat`` for every process in /proc."""
    table: dict[int, ProcStat] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            row = _stat(name)
            if row is not None:
                table[int(name)] = row
    return table


def descendants(pid: int, table: Mapping[int, ProcStat] | None = None) -> dict[int, int]:
    """pid -> start time of every living descendant of ``pid`` (not ``pid`` itself)."""
    if table is None:
        table = proc_table()
    children: dict[int, list[int]] = {}
    for child, row in table.items():
        children.setdefault(row.ppid, []).append(child)
    found: dict[int, int] = {}
    stack = list(children.get(pid, ()))
    while stack:
        p = stack.pop()
        if p not in found:
            found[p] = table[p].start
            stack.extend(children.get(p, ()))
    return found


def pipe_holders(inodes: Iterable[int], exclude: int | None = None) -> dict[int, int]:
    """pid -> start time of every process (but ``exclude``) with an fd on one of these pipes."""
    wanted = {f"pipe:[{ino}]" for ino in inodes}
    found: dict[int, int] = {}
    if not wanted:
        return found
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit() or int(name) == exclude:
            continue
        try:
            fds = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{name}/fd/{fd}")
            except OSError:
                continue
            if target in wanted:
                row = _stat(name)
                if row is not None:
                    found[int(name)] = row.start
                break
    return found


def kill_known(procs: Mapping[int, int]) -> None:
    """SIGKILL each (pid, start time) that is still that same process, and its descendants."""
    if not procs:
        return
    table = proc_table()
    targets = {pid for pid, start in procs.items() if pid in table and table[pid].start == start}
    for pid in list(targets):
        targets.update(descendants(pid, table))
    for pid in targets:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --- the watchdog (runs as a script: one per host process) ------------------------------


class _Watched(NamedTuple):
    start: int
    inodes: tuple[int, ...]


def watchdog_main() -> int:
    """Read ``+ pid start ino,ino`` / ``- pid`` lines; on EOF kill what is still registered."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the host's exit (EOF) ends the watch
    watched: dict[int, _Watched] = {}
    family: dict[int, dict[int, int]] = {}
    fd = sys.stdin.fileno()
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], REFRESH)
        if not ready:
            table = proc_table()
            for pid in watched:
                family[pid].update(descendants(pid, table))
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            parts = line.split()
            if len(parts) == 4 and parts[0] == b"+":
                inodes = tuple(int(i) for i in parts[3].split(b",") if i)
                watched[int(parts[1])] = _Watched(int(parts[2]), inodes)
                family[int(parts[1])] = {}
            elif len(parts) == 2 and parts[0] == b"-":
                watched.pop(int(parts[1]), None)
                family.pop(int(parts[1]), None)
    if watched:
        doomed: dict[int, int] = {}
        for pid, info in watched.items():
            doomed[pid] = info.start
            doomed.update(family[pid])
            doomed.update(descendants(pid))
        doomed.update(pipe_holders({i for info in watched.values() for i in info.inodes}, exclude=os.getpid()))
        kill_known(doomed)
    return 0


if __name__ == "__main__":
    sys.exit(watchdog_main())
