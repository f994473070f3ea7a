"""The errors a front end raises when a child fails, worded once for all of them.

Each builder takes what was observed (the process, bytes received, the exit status,
the stderr tail) and returns an exception whose message says what happened and what
to look at, so that ``Bridge``, ``AsyncBridge`` and the pools speak alike.
"""

from __future__ import annotations

import os
from typing import Protocol

from .errors import BridgeClosed, CallTimeout, ChildExited, ProtocolError, excerpt_of
from .process import describe_exit


class _Child(Protocol):
    argv: list[str]
    pid: int


__all__ = [
    "abandoned_error",
    "exit_error",
    "extra_output_error",
    "label",
    "stopped",
    "tail_note",
    "timeout_error",
    "unknown_id_error",
    "unsolicited_output_error",
]


def label(proc: _Child) -> str:
    """``app (pid 123)``."""
    return f"{os.path.basename(proc.argv[0])} (pid {proc.pid})"


def tail_note(tail: str) -> str:
    """The last lines of stderr, indented, for the end of an error message ('' when empty)."""
    if not tail.strip():
        return ""
    lines = tail.rstrip("\n").splitlines()[-10:]
    return "\nlast lines on the child's stderr:\n  " + "\n  ".join(lines)


def timeout_error(
    proc: _Child, limit: float | None, received: int, which: str, tail: str, *, kept: bool = False
) -> CallTimeout:
    """No whole response within ``limit``; ``received`` bytes of it had arrived.

    ``kept``: the child was kept (tagged mode: its late answer will be dropped).
    """
    if received:
        hint = f"{received} bytes of {which} had arrived (the child may be stuck mid-write)"
    else:
        hint = (
            f"no byte of {which} had arrived: is the child flushing stdout after each response? "
            "(C stdio, Go's bufio, Racket and Python buffer a piped stdout) Does it read the same framing "
            "(codec and its options, e.g. the lenprefix width)?"
        )
    fate = (
        "The child was kept; its late answer will be dropped (tagged mode)."
        if kept
        else "The child was stopped; the next call starts a new one."
    )
    return CallTimeout(
        f"no whole response from {label(proc)} within {limit} s; {hint}. {fate}{tail_note(tail)}",
        received=received,
        stderr_tail=tail,
    )


def exit_error(proc: _Child, code: int | None, when: str, partial: bytes, tail: str) -> ChildExited:
    """The child exited (or closed stdout) ``when`` (e.g. 'before answering')."""
    part = f"; {len(partial)}+ bytes of a response had arrived: {partial!r}" if partial else ""
    what = describe_exit(code) if code is not None else "closed its stdout (it was still running, and was killed)"
    return ChildExited(
        f"{label(proc)} {what} {when}{part}{tail_note(tail)}",
        returncode=code,
        stderr_tail=tail,
        partial=partial,
    )


def stopped(err: ProtocolError, proc: _Child) -> ProtocolError:
    """Name the child in a codec's error and say it was stopped."""
    err.args = (f"{err.args[0]} [{label(proc)}; the child was stopped]",)
    return err


def extra_output_error(data: bytes) -> ProtocolError:
    return ProtocolError(
        "the child sent more responses than requests (or answered before reading a whole request): "
        f"{excerpt_of(data)!r}. Is it printing logs to stdout? Logs belong on stderr. Without request ids "
        "(tagged=True) nobody can tell which frame answers which request, so none was delivered",
        excerpt=excerpt_of(data),
    )


def unsolicited_output_error(proc: _Child, data: bytes) -> ProtocolError:
    return ProtocolError(
        f"{label(proc)} wrote {len(data)}+ bytes to stdout that no request asked for: "
        f"{excerpt_of(data)!r}. Is it printing logs to stdout (logs belong on stderr), or answering twice? "
        "The request was not sent; the child was stopped.",
        excerpt=excerpt_of(data),
    )


def unknown_id_error(proc: _Child, rid: int, data: bytes) -> ProtocolError:
    return ProtocolError(
        f"{label(proc)} answered with request id {rid}, which no call is waiting for (unknown, or already "
        f"answered): {excerpt_of(data)!r}. Does the child copy each request's id onto its answer, once? "
        "Is it printing to stdout? The child was stopped.",
        excerpt=excerpt_of(data),
    )


def abandoned_error() -> BridgeClosed:
    """What a call left by its caller holds (nobody sees it; it keeps the bookkeeping honest)."""
    return BridgeClosed("the caller left this call before it was answered")
