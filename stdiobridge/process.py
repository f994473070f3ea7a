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
  still alive afterwards, checking start times so a recycled pid is never hit;
  a process that still holds one of the child's pipes once the child is dead (a
  background job that inherited its stdout) is killed too.
- A per-host watchdog (``proctree``) does the same when the host itself dies
  without closing its bridges (SIGKILL, ``os._exit``).
- The child's death is seen through a pidfd, not only as EOF on its stdout.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import logging
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal

from .errors import SpawnError
from .proctree import ProcStat, descendants, kill_known, pipe_holders, proc_table

__all__ = [
    "ChildProcess",
    "ProcStat",
    "finish_background_work",
    "retire",
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
        import shutil  # noqa: PLC0415  (cold start: only a spawn looks a program up)

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
            fd, self.fd = self.fd, -1  # never close a number twice: it may belong to a new pipe by then
            os.close(fd)

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

_prctl: Any = None  # libc's prctl, looked up at the first spawn (ctypes is not needed before)


def _libc_prctl() -> Any:
    global _prctl  # noqa: PLW0603
    if _prctl is None and sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415  (cold start: only spawning needs it)

        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            _prctl = False
    return _prctl or None


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """The ``preexec_fn`` that ties the child's life to the host's (Linux only)."""
    prctl = _libc_prctl()
    if prctl is None:
        return None

    def setup() -> None:  # runs in the forked child, before exec: keep it minimal
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the host died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


class _Spawner:
    """One long-lived thread that forks every child (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._forking = threading.Lock()  # one fork at a time: a preexec_fn child of a threaded host is fragile
        self._pid = os.getpid()

    def run(self, job: Callable[[], Any]) -> Any:
        if threading.current_thread() is threading.main_thread():
            with self._forking:
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
                with self._forking:
                    result = job()
                future.set_result(result)
            except BaseException as exc:
                future.set_exception(exc)

    def after_fork(self) -> None:
        """In a forked process: locks held by the parent's threads would stay held here."""
        self._lock = threading.Lock()
        self._forking = threading.Lock()
        self._thread = None


_spawner = _Spawner()
os.register_at_fork(after_in_child=_spawner.after_fork)


# --- the watchdog: cleans up after a host that died without closing its bridges ----------


class _Watchdog:
    """The client side of ``proctree.watchdog_main``: one watchdog process per host, started lazily."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fd = -1
        self._proc: subprocess.Popen[bytes] | None = None

    def _ensure(self) -> int:
        if self._fd >= 0 and self._proc is not None and self._proc.poll() is None:
            return self._fd
        self._drop()
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "proctree.py")
        argv = [sys.executable, "-I", "-S", script]
        try:  # through the spawner, like the children: one thread forks, never two at once
            proc: subprocess.Popen[bytes] = _spawner.run(
                lambda: subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True
                )
            )
        except OSError as exc:  # no interpreter to run it: children still die with the host (pdeathsig)
            log.debug("stdiobridge watchdog not started: %s", exc)
            return -1
        assert proc.stdin is not None
        self._fd = os.dup(proc.stdin.fileno())
        proc.stdin.close()
        self._proc = proc
        return self._fd

    def _send(self, line: str) -> None:
        with self._lock:
            fd = self._ensure()
            if fd >= 0:
                try:
                    _write_all_or_raise(fd, line.encode())
                except OSError:
                    self._drop()

    def watch(self, pid: int, start: int, inodes: Sequence[int]) -> None:
        self._send(f"+ {pid} {start} {','.join(map(str, inodes)) or '0'}\n")

    def forget(self, pid: int) -> None:
        if self._fd >= 0:
            self._send(f"- {pid}\n")

    def _drop(self) -> None:
        fd, self._fd = self._fd, -1  # forget the number before closing it (see ChildProcess._finish)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._proc = None

    def after_fork(self) -> None:
        """In a forked process: the parent's watchdog is not ours (and its pipe must not be held open)."""
        self._lock = threading.Lock()
        self._drop()


def _write_all_or_raise(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.after_fork)


def _start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


# --- the child ------------------------------------------------------------------------


class ChildProcess:
    """One running child: non-blocking stdin/stdout fds, a pidfd, a drained stderr, a bounded tail.

    ``stdin_fd``/``stdout_fd`` are raw descriptors in non-blocking mode and
    ``pidfd`` becomes readable when the child exits (-1 where the kernel has no
    pidfds); the front layer moves bytes through them. ``kill`` may be called from
    any thread and from a signal handler: it only sends signals. The descriptors
    are closed by ``reap`` (or ``shutdown``), which the owner calls when no call
    is using them.
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
        self.inodes = tuple(os.fstat(f.fileno()).st_ino for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr))
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # pragma: no cover - kernels before 5.3
            self.pidfd = -1
        stderr_fd = os.dup(self.proc.stderr.fileno())
        self.proc.stderr.close()
        self._pump = _StderrPump(stderr_fd, self.pid, stderr, self.tail)
        self._pump.start()
        self.started = time.monotonic()
        self.host_pid = os.getpid()
        _watchdog.watch(self.pid, _start_time(self.pid), self.inodes)

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

    def kill(self) -> None:
        """SIGKILL the child and its descendants now. Only signals: safe from any thread or signal handler."""
        if self.proc.returncode is None:
            self._family.update(descendants(self.pid))
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        kill_known(self._family)

    def reap(self, wait: float | None = None) -> int | None:
        """Kill (if still running), wait up to ``wait`` seconds (``None``: as long as it takes) for the exit,
        then close every descriptor and kill whatever still holds the child's pipes. Returns the exit
        status, or ``None`` if the child had not exited within ``wait`` (a background thread finishes)."""
        self.kill()
        if not self.wait_exit(wait):
            _background(self.reap)
            return None
        return self._finish(0.0)

    def shutdown(self, close_timeout: float = 2.0, terminate_timeout: float = 2.0) -> int:
        """Close stdin → wait → SIGTERM → wait → SIGKILL (child and descendants) → reap."""
        if self.proc.returncode is None:
            self.remember_family()
            self.close_stdin()
            if not self.wait_exit(close_timeout):
                self.remember_family()
                with contextlib.suppress(OSError):
                    self.proc.terminate()
                if not self.wait_exit(terminate_timeout):
                    self.kill()
        self.wait_exit(None)
        return self._finish(0.5)

    def wait_exit(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: no limit) for the child to exit; True if it did (reaped)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _finish(self, pump_wait: float) -> int:
        """The child is dead: kill what it left behind, close every descriptor. Idempotent."""
        code = self.proc.wait()
        with self._reaped:
            kill_known(self._family)
            self._family = {}
            held = self._stdout_held()
            self.close_stdin()
            if self.proc.stdout is not None and not self.proc.stdout.closed:
                self.proc.stdout.close()
            pidfd, self.pidfd = self.pidfd, -1
            if pidfd >= 0:
                # The number is forgotten before it is closed: a fork in another thread (a spawn's
                # preexec child runs our after-fork hooks) must never see a number that is closed and
                # may already be a new pipe's.
                with contextlib.suppress(OSError):
                    os.close(pidfd)
        self._pump.join(max(pump_wait, 0.05))
        if held or self._pump.is_alive():  # a process it left behind holds its pipes: that one too
            me = os.getpid()
            holders = pipe_holders(self.inodes, exclude=me)
            # Not our own children: one being spawned right now holds copies of every descriptor of ours
            # between its fork and its exec; a process the child left behind is never our child.
            table = proc_table()
            kill_known({pid: start for pid, start in holders.items() if pid in table and table[pid].ppid != me})
            self._pump.join(0.5)
        if os.getpid() == self.host_pid:
            _watchdog.forget(self.pid)
        return code

    def forget_after_fork(self) -> None:
        """In a forked copy of the host: close this process's copies of the pipes; the child is the parent's.

        Also runs in the fork of every ``preexec_fn`` spawn (Python calls its after-fork hooks there), so it
        closes only descriptors still open, never a stale number.
        """
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        for fd in (self.pidfd, self._pump.fd):  # -1 once closed: a stale number may be someone else's now
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pidfd = self._pump.fd = -1
        self.proc.returncode = 0  # never wait for it: it is not this process's child

    def _stdout_held(self) -> bool:
        """True if someone other than the (dead) child still holds its stdout open (no EOF yet)."""
        stdout = self.proc.stdout
        if stdout is None or stdout.closed:
            return False
        try:
            while os.read(self.stdout_fd, _READ_CHUNK):
                pass
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False

    def __repr__(self) -> str:
        return f"<ChildProcess pid={self.pid} {shlex.join(self.argv)!r} {describe_exit(self.proc.poll())}>"


# --- finishing children off the caller's path ---------------------------------------------

_outstanding: set[threading.Thread] = set()


def _background(job: Callable[[], object]) -> None:
    """Run ``job`` (a shutdown, a reap) on a thread of its own: retired children finish in parallel."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("stdiobridge: finishing a retired child failed")
        finally:
            _outstanding.discard(thread)

    thread = threading.Thread(target=run, name="stdiobridge-retire", daemon=True)
    _outstanding.add(thread)
    thread.start()


def retire(proc: ChildProcess, close_timeout: float, terminate_timeout: float) -> None:
    """Shut ``proc`` down gracefully in the background: a recycle never blocks the caller."""
    _background(lambda: proc.shutdown(close_timeout, terminate_timeout))


def finish_background_work(timeout: float) -> None:
    """Wait (bounded) for retired children to finish; used at interpreter exit."""
    deadline = time.monotonic() + timeout
    for thread in list(_outstanding):
        thread.join(max(0.0, deadline - time.monotonic()))


os.register_at_fork(after_in_child=_outstanding.clear)
