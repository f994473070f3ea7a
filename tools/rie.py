"""AWS's Lambda Runtime Interface Emulator, fetched from PyPI, run as one simulated environment (tests and demo only).

``rie_binary()`` takes the emulator out of the ``aws-sam-cli`` wheel (the only
place a registry we can reach ships it), checks its sha256 and caches it under
``.cache/rie/``. ``Emulator`` starts one emulator + ``python -m awslambdaric``
runtime on loopback ports, invokes it one request at a time, and on close kills
the emulator, the runtime and everything they started, then checks nothing is
left. Never shipped in the package; never commit the binary.

    python tools/rie.py fetch      # download (once) and print the cached path
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from stdiobridge.process import descendants, proc_table

__all__ = [
    "CACHE_DIR",
    "Emulator",
    "RieUnavailable",
    "emulator",
    "find_python",
    "free_port",
    "rie_binary",
    "running",
    "runtime_client",
]

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / ".cache" / "rie"
SAM_CLI = "aws-sam-cli==1.170.0"
WHEEL_NAME = "aws_sam_cli-1.170.0-py3-none-any.whl"
WHEEL_SHA256 = "24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf"
BINARY_SHA256 = {
    "x86_64": "6b1e686e62ab2baf5759c412c4864276ef2a88b094fca53ec070637ccba9b9a5",
    "arm64": "ec2e5d09633d853834c008b1ef264bf834b258a94d551d2b2074966494b39a21",
}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
AWSLAMBDARIC = "4.2.2"


class RieUnavailable(RuntimeError):
    """The emulator binary could not be fetched or verified (no network, wrong hash, unknown CPU)."""


def _sha256(path: Path) -> str:
    """The hex sha256 of a file (streamed, so an 8 MB binary costs no memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rie_binary(cache_dir: Path = CACHE_DIR) -> Path:
    """The verified emulator binary for this CPU, downloaded from PyPI into ``cache_dir`` on first use."""
    machine = platform.machine().lower()
    arch = _ARCH.get(machine)
    if arch is None:
        raise RieUnavailable(f"no Lambda Runtime Interface Emulator for CPU {machine!r} (x86_64 or arm64 only)")
    target = cache_dir / f"aws-lambda-rie-{arch}"
    if target.is_file() and _sha256(target) == BINARY_SHA256[arch]:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes download once
        if target.is_file() and _sha256(target) == BINARY_SHA256[arch]:
            return target
        with tempfile.TemporaryDirectory(prefix="rie-", dir=cache_dir) as tmp:
            wheel = Path(tmp) / WHEEL_NAME
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                SAM_CLI,
                "-d",
                tmp,
            ]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise RieUnavailable(f"cannot run {' '.join(cmd)}: {exc}") from exc
            if done.returncode != 0 or not wheel.is_file():
                raise RieUnavailable(
                    f"`{' '.join(cmd)}` failed (exit {done.returncode}); the emulator ships only in that wheel:\n"
                    f"{done.stderr[-2000:]}"
                )
            if _sha256(wheel) != WHEEL_SHA256:
                raise RieUnavailable(f"{WHEEL_NAME} has sha256 {_sha256(wheel)}, expected {WHEEL_SHA256}")
            member = f"samcli/local/rapid/aws-lambda-rie-{arch}"
            partial = Path(tmp) / target.name
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            got = _sha256(partial)
            if got != BINARY_SHA256[arch]:
                raise RieUnavailable(f"{member} has sha256 {got}, expected {BINARY_SHA256[arch]}")
            partial.chmod(0o755)
            os.replace(partial, target)
    return target


def find_python(version: str) -> Path | None:
    """An interpreter of CPython ``version`` (e.g. "3.12") on this machine: on PATH, or under pyenv, or None."""
    home = Path.home()
    candidates = [shutil.which(f"python{version}")]
    candidates += [str(p) for p in sorted(home.glob(f".pyenv/versions/{version}.*/bin/python{version}"), reverse=True)]
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in candidates:
        if not candidate or not os.access(candidate, os.X_OK):
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return Path(candidate)
    return None


def runtime_client(python_version: str, cache_dir: Path = REPO / ".cache" / "lambda-runtime") -> Path:
    """A folder with awslambdaric and its dependencies for CPython ``python_version``, to put on PYTHONPATH.

    What the Lambda image provides and a deployment package must not: fetched
    once from PyPI (binary wheels for this CPU) and unpacked into the cache.
    """
    arch = _ARCH.get(platform.machine().lower(), "x86_64")
    target = cache_dir / f"awslambdaric-{AWSLAMBDARIC}-py{python_version}-{arch}"
    if (target / ".done").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".done").is_file():
            return target
        with tempfile.TemporaryDirectory(prefix="ric-", dir=cache_dir) as tmp:
            wheels = Path(tmp) / "wheels"
            cmd = [
                sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--implementation", "cp",
                "--platform", f"manylinux2014_{'x86_64' if arch == 'x86_64' else 'aarch64'}",
                "--python-version", python_version, "-d", str(wheels), f"awslambdaric=={AWSLAMBDARIC}",
            ]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
            if done.returncode != 0:
                raise RieUnavailable(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            unpacked = Path(tmp) / "site"
            for wheel in sorted(wheels.glob("*.whl")):
                with zipfile.ZipFile(wheel) as zf:
                    zf.extractall(unpacked)
            (unpacked / ".done").write_text(" ".join(sorted(w.name for w in wheels.glob("*.whl"))) + "\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(unpacked, target)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def running(pid: int, start: int | None = None) -> bool:
    """True while ``pid`` runs (not gone, not a zombie) and, if given, still has start time ``start``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return False
    return start is None or int(fields[19]) == start


class Emulator:
    """One simulated Lambda environment: the emulator plus ``python -m awslambdaric HANDLER`` run in ``folder``.

    Both listen on fresh 127.0.0.1 ports only. ``function_timeout`` (seconds)
    becomes ``AWS_LAMBDA_FUNCTION_TIMEOUT``; ``env`` is added to a minimal
    environment (PATH, HOME, LANG, ``LAMBDA_TASK_ROOT=folder``), or to the
    host's when ``inherit_env``. Invocations are serialised (two at once crash
    the emulator). ``close()`` kills everything and returns the pids that
    survived (normally none).
    """

    def __init__(
        self,
        handler: str,
        folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        python: str | os.PathLike[str] = sys.executable,
        function_timeout: int = 30,
        memory_mb: int = 512,
        inherit_env: bool = False,
        log_path: str | os.PathLike[str] | None = None,
        ready_timeout: float = 15.0,
    ) -> None:
        self.handler = handler
        self.folder = Path(folder).resolve()
        self.python = os.fspath(python)
        self.function_timeout = function_timeout
        self.ready_timeout = ready_timeout
        base = (
            dict(os.environ) if inherit_env else {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        )
        self.env: dict[str, str] = {
            **base,
            "LAMBDA_TASK_ROOT": str(self.folder),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function_timeout),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_FUNCTION_NAME": "stdiobridge-test",
            "AWS_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="rie-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.port = 0
        self.api_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.known: dict[int, int] = {}  # every descendant seen so far: pid -> start time
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The invocation endpoint."""
        return f"http://127.0.0.1:{self.port}{INVOKE_PATH}"

    def start(self) -> Emulator:
        """Start the emulator and wait (bounded) until it accepts connections; the runtime inits on first invoke."""
        binary = rie_binary()
        self.port = free_port()
        self.api_port = free_port()
        while self.api_port == self.port:
            self.api_port = free_port()
        argv = [
            str(binary),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{self.api_port}",
            self.python,
            "-m",
            "awslambdaric",
            self.handler,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.folder,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: teardown can kill it without touching ours
            )
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"the emulator did not listen within {self.ready_timeout} s") from None
                time.sleep(0.02)
        return self

    def invoke(self, event: Any, *, timeout: float | None = None, track: bool = True) -> tuple[int, Any]:
        """POST one event; returns (HTTP status, body parsed as JSON, or the text when it is not JSON)."""
        if self.proc is None:
            raise RuntimeError("start() the emulator first")
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        request = urllib.request.Request(self.url, data=data, method="POST")
        limit = timeout if timeout is not None else self.function_timeout + 15.0
        with self._lock:
            try:
                with urllib.request.urlopen(request, timeout=limit) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as err:
                status, body = err.code, err.read()
            if track:
                self.snapshot()
        text = body.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def snapshot(self) -> dict[int, int]:
        """Record (and return) the emulator's living descendants: the runtime, its children, theirs."""
        if self.proc is not None and self.proc.returncode is None:
            self.known.update(descendants(self.proc.pid))
        return dict(self.known)

    def runtime_pid(self) -> int | None:
        """The pid of the runtime process (the emulator's child running python), if any."""
        if self.proc is None:
            return None
        table = proc_table()
        for pid, row in table.items():
            if row.ppid == self.proc.pid:
                return pid
        return None

    def log_text(self) -> str:
        """Everything the emulator and the runtime printed so far."""
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def close(self, wait: float = 5.0) -> list[int]:
        """Kill the emulator, the runtime and all they started; returns the pids still running after ``wait`` s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return []
        if proc.returncode is None:
            self.known.update(descendants(proc.pid))
        own_group = os.getpgid(0)
        table = proc_table()
        groups = {proc.pid} | {table[p].pgid for p, s in self.known.items() if p in table and table[p].start == s}
        for group in groups - {own_group, 0, 1}:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        for pid, start in self.known.items():
            if running(pid, start):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
        end = time.monotonic() + wait
        while True:
            left = [pid for pid, start in self.known.items() if running(pid, start)]
            if not left or time.monotonic() > end:
                break
            time.sleep(0.02)
        if self._own_log and not left:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
        return left

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextlib.contextmanager
def emulator(handler: str, folder: str | os.PathLike[str], **options: Any) -> Iterator[Emulator]:
    """``with emulator("mod.handler", folder, env=...) as rie: rie.invoke(event)``; fails if a process survives."""
    rie = Emulator(handler, folder, **options).start()
    try:
        yield rie
    except BaseException:
        rie.close()
        raise
    left = rie.close()
    if left:
        raise RuntimeError(f"processes survived the emulator's teardown: {left}\n{rie.log_text()[-4000:]}")


def _main(argv: list[str]) -> int:
    """``python tools/rie.py fetch``: download and verify the emulator, print its path."""
    if argv[1:] == ["fetch"]:
        try:
            print(rie_binary())
        except RieUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return errno.EINVAL


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
