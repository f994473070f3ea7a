"""Child lifetime: spawn, pipes, the stderr pump, shutdown and reaping. Knows nothing of codecs.

Design of the process tree (Linux):

- The child stays in the host's process group, so a signal to the whole group
  (a terminal's Ctrl-C, AWS's Lambda emulator killing the runtime's group on a
  timeout) reaches the child and everything it started.
- The child gets ``PR_SET_PDEATHSIG = SIGKILL``, so it dies with the host even
  when the host is SIGKILLed alone. The kernel sends that signal when the
  *thread* that forked the child exits, so children are forked by one
  long-lived spawner thread, never by a caller's short-lived thread.
- ``shutdown``/``kill`` find the child's descendants in ``/proc`` before the
  child dies (once it is gone they are re-parented and lost) and kill those
  still alive afterwards, checking start times so a recycled pid is never hit.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal, NamedTuple

from .errors import SpawnError

__all__ = [
    "ChildProcess",
    "ProcStat",
    "StderrMode",
    "StderrTail",
    "describe_exit",
    "descendants",
    "proc_table",
    "resolve_command",
]

log = logging.getLogger("stdiobridge.child")

StderrMode = Literal["log", "inherit", "discard"] | Callable[[str], object]

TAIL_LINES = 64
TAIL_BYTES = 16 * 1024
PIPE_SIZE = 1 << 20
_READ_CHUNK = 1 << 16
_PR_SET_PDEATHSIG = 1


def resolve_command(command: str | Sequence[str], cwd: str | os.PathLike[str] | None = None) -> list[str]:
    """Turn a command into an argv whose first item is an absolute, executable path.

    A string is split like a POSIX shell would (``shlex``) but never run by one.
    Raises ``SpawnError`` naming the path it looked at and why it cannot run.
    """
    argv = shlex.split(command) if isinstance(command, str) else [os.fspath(a) for a in command]
    if not argv or not argv[0]:
        raise SpawnError("empty command: give the program to run, e.g. ['./my-child', '--flag']")
    program = argv[0]
    if "/" in program:
        path = os.path.abspath(os.path.join(os.fspath(cwd) if cwd else os.getcwd(), program))
        if not os.path.exists(path):
            raise SpawnError(f"cannot start {program!r}: {path} does not exist")
    else:
        found = shutil.which(program)
        if found is None:
            raise SpawnError(f"cannot start {program!r}: not found on PATH ({os.environ.get('PATH', '')})")
        path = os.path.abspath(found)
    if os.path.isdir(path):
        raise SpawnError(f"cannot start {program!r}: {path} is a directory")
    if not os.access(path, os.X_OK):
        raise SpawnError(f"cannot start {program!r}: {path} is not executable (chmod +x {shlex.quote(path)})")
    return [path, *argv[1:]]


def describe_exit(returncode: int | None) -> str:
    """``exited with status 3`` / ``was killed by SIGKILL`` / ``is still running``."""
    if returncode is None:
        return "is still running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class StderrTail:
    """The last lines a child wrote to stderr, bounded in lines and bytes."""

    def __init__(self) -> None:
        self._lines: collections.deque[bytes] = collections.deque(maxlen=TAIL_LINES)
        self._size = 0
        self._partial = b""
        self._lock = threading.Lock()

    def add_line(self, line: bytes) -> None:
        line = line[-TAIL_BYTES:]
        with self._lock:
            if len(self._lines) == TAIL_LINES:
                self._size -= len(self._lines[0])
            self._lines.append(line)
            self._size += len(line)
            while self._size > TAIL_BYTES and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())

    def set_partial(self, partial: bytes) -> None:
        self._partial = partial[-TAIL_BYTES:]

    def text(self) -> str:
        with self._lock:
            lines = [*self._lines, self._partial] if self._partial else list(self._lines)
        return b"\n".join(lines).decode("utf-8", "replace")


class _StderrPump(threading.Thread):
    """Drains a child's stderr continuously so that no amount of output can block it."""

    def __init__(self, fd: int, pid: int, mode: StderrMode, tail: StderrTail) -> None:
        super().__init__(name=f"stdiobridge-stderr-{pid}", daemon=True)
        self.fd = fd
        self.pid = pid
        self.mode = mode
        self.tail = tail

    def run(self) -> None:
        partial = b""
        try:
            while True:
                try:
                    chunk = os.read(self.fd, _READ_CHUNK)
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                if self.mode == "inherit":
                    _write_all(2, chunk)
                lines = (partial + chunk).split(b"\n")
                partial = lines.pop()
                if len(partial) > TAIL_BYTES:  # a line without end: keep memory bounded
                    lines.append(partial)
                    partial = b""
                self._emit(lines)
                self.tail.set_partial(partial)
            if partial:
                self._emit([partial])
                self.tail.set_partial(b"")
        finally:
            os.close(self.fd)

    def _emit(self, lines: list[bytes]) -> None:
        mode = self.mode
        for line in lines:
            self.tail.add_line(line)
        if mode == "log":
            if log.isEnabledFor(logging.INFO):
                for line in lines:
                    log.info("[child %d] %s", self.pid, line.decode("utf-8", "replace").rstrip("\r"))
        elif callable(mode):
            for line in lines:
                try:
                    mode(line.decode("utf-8", "replace").rstrip("\r"))
                except Exception:  # a user callback must not stop the drain
                    log.exception("stderr callback failed for child %d", self.pid)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return


# --- spawning ---------------------------------------------------------------------------

if sys.platform.startswith("linux"):
    try:
        _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        _prctl = None
else:  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """The ``preexec_fn`` that ties the child's life to the host's (Linux only)."""
    if _prctl is None:
        return None

    def setup() -> None:  # runs in the forked child, before exec: keep it minimal
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the host died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


class _Spawner:
    """One long-lived thread that forks every child (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def run(self, job: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            return job()  # the main thread lives as long as the process
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._jobs = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="stdiobridge-spawner", daemon=True)
                self._thread.start()
        future: Future[Any] = Future()
        self._jobs.put((job, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:
                future.set_exception(exc)


_spawner = _Spawner()


# --- the process tree -----------------------------------------------------------------


class ProcStat(NamedTuple):
    """The fields of ``/proc/<pid>/stat`` that process-tree work needs."""

    ppid: int
    pgid: int
    start: int  # start time in clock ticks since boot: with the pid, it names one process
    state: str  # R, S, D, Z (zombie), ...


def proc_table() -> dict[int, ProcStat]:
    """pid -> ``ProcStat`` for every process in /proc."""
    table: dict[int, ProcStat] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        table[int(name)] = ProcStat(int(fields[1]), int(fields[2]), int(fields[19]), fields[0].decode())
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


def _kill_known(procs: dict[int, int]) -> None:
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


# --- the child ------------------------------------------------------------------------


class ChildProcess:
    """One running child: non-blocking stdin/stdout fds, a drained stderr, a bounded tail.

    ``stdin_fd``/``stdout_fd`` are raw descriptors in non-blocking mode; the front
    layer moves bytes through them. Everything here is thread-safe enough for one
    owner plus a concurrent ``kill``.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        replace_env: bool = False,
        cwd: str | os.PathLike[str] | None = None,
        stderr: StderrMode = "log",
    ) -> None:
        if not (callable(stderr) or stderr in ("log", "inherit", "discard")):
            raise ValueError(f"stderr must be 'log', 'inherit', 'discard' or a callable; got {stderr!r}")
        self.argv = resolve_command(command, cwd)
        full_env = dict(env or {}) if replace_env else {**os.environ, **(env or {})}
        self.tail = StderrTail()
        self._reaped = threading.Lock()
        self._family: dict[int, int] = {}  # descendants seen so far (pid -> start time)
        self.proc: subprocess.Popen[bytes] = _spawner.run(lambda: self._popen(full_env, cwd))
        self.pid = self.proc.pid
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.stdin_fd = self.proc.stdin.fileno()
        self.stdout_fd = self.proc.stdout.fileno()
        for fd in (self.stdin_fd, self.stdout_fd):
            os.set_blocking(fd, False)
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        stderr_fd = os.dup(self.proc.stderr.fileno())
        self.proc.stderr.close()
        self._pump = _StderrPump(stderr_fd, self.pid, stderr, self.tail)
        self._pump.start()
        self.started = time.monotonic()

    def _popen(self, env: dict[str, str], cwd: str | os.PathLike[str] | None) -> subprocess.Popen[bytes]:
        try:
            return subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                env=env,
                cwd=cwd,
                close_fds=True,
                preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509  (ctypes-only, see _die_with_parent)
            )
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            if exc.errno == errno.ENOEXEC:
                why += " (a script needs a #! line)"
            where = f" in {os.fspath(cwd)!r}" if cwd else ""
            raise SpawnError(f"cannot start {self.argv[0]}{where}: {why}") from exc

    # -- state

    @property
    def returncode(self) -> int | None:
        """Exit status once reaped (negative: killed by that signal); ``None`` while running."""
        return self.proc.poll()

    def stderr_tail(self, wait: float = 0.0) -> str:
        """The tail of stderr; ``wait`` bounds how long to let the pump finish reading first."""
        if wait > 0:
            self._pump.join(wait)
        return self.tail.text()

    # -- ending

    def close_stdin(self) -> None:
        """Send EOF: the child's cue to finish and exit 0."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()

    def remember_family(self) -> None:
        """Note the child's descendants now, while they are still its own, to kill them later."""
        if self.proc.returncode is None:
            self._family.update(descendants(self.pid))

    def kill(self) -> int:
        """Kill the child and its descendants now, reap it, and return its exit status."""
        family = descendants(self.pid) if self.proc.returncode is None else {}
        if self.proc.returncode is None:
            with contextlib.suppress(OSError):
                self.proc.kill()
        return self._finish(family, None)

    def shutdown(self, close_timeout: float = 2.0, terminate_timeout: float = 2.0) -> int:
        """Close stdin → wait → SIGTERM → wait → SIGKILL (child and descendants) → reap."""
        family: dict[int, int] = {}
        if self.proc.returncode is None:
            family = descendants(self.pid)
            self.close_stdin()
            if not self.wait_exit(close_timeout):
                family.update(descendants(self.pid))
                with contextlib.suppress(OSError):
                    self.proc.terminate()
                if not self.wait_exit(terminate_timeout):
                    family.update(descendants(self.pid))
                    with contextlib.suppress(OSError):
                        self.proc.kill()
        return self._finish(family, 0.5)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the child to exit; True if it did (and is reaped)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _finish(self, family: dict[int, int], pump_wait: float | None) -> int:
        with self._reaped:
            code = self.proc.wait()
            _kill_known({**self._family, **family})
            self.close_stdin()
            if self.proc.stdout is not None and not self.proc.stdout.closed:
                self.proc.stdout.close()
        if pump_wait:
            self._pump.join(pump_wait)
        return code

    def __repr__(self) -> str:
        return f"<ChildProcess pid={self.pid} {shlex.join(self.argv)!r} {describe_exit(self.proc.poll())}>"
