"""Handler module that awslambdaric runs under the emulator in test_aws_lambda: make_handler, configured by LAMBDA_TEST_*.

The child is spawned at import (Lambda's init phase). Every answer is wrapped
with what the tests check: the child pid now and at init, the runtime's pid, the
bridge's spawn count and late answers dropped (``LAMBDA_TEST_TAGGED=1``: a tagged
bridge). Events with a ``_control`` key act on the environment instead: ``kill-child`` SIGKILLs the child between invocations, ``unbounded``
calls the child with no deadline at all (so that only the emulator's own
timeout can end the invocation).
"""

from __future__ import annotations

import json
import os
import select
import signal
from typing import Any

from stdiobridge.aws_lambda import make_handler

_response = os.environ.get("LAMBDA_TEST_RESPONSE") or None
bridge_handler = make_handler(
    json.loads(os.environ["LAMBDA_TEST_COMMAND"]),
    codec=os.environ.get("LAMBDA_TEST_CODEC", "lines"),
    margin=float(os.environ.get("LAMBDA_TEST_MARGIN", "0.5")),
    response=_response,  # type: ignore[arg-type]
    timeout=None,  # only the Lambda deadline bounds a call
    tagged=os.environ.get("LAMBDA_TEST_TAGGED") == "1",
)
INIT_CHILD = bridge_handler.pid


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Answer through the bridge, with pids and spawn count beside the child's answer."""
    control = event.get("_control") if isinstance(event, dict) else None
    if control == "kill-child":
        pid = bridge_handler.pid
        assert pid is not None
        pidfd = os.pidfd_open(pid)
        try:
            os.kill(pid, signal.SIGKILL)
            # Dead means every thread gone (the pidfd's POLLIN), not only the main one: a Go child's main
            # thread shows "Z" in /proc while its other threads, and with them its pipes, live on a moment.
            waiter = select.poll()
            waiter.register(pidfd, select.POLLIN)
            waiter.poll(5000)
        finally:
            os.close(pidfd)
        return {"killed": pid}
    if control == "unbounded":
        answer = bridge_handler.bridge.call(bridge_handler.map_request(event, context), timeout=None)
    else:
        answer = bridge_handler(event, context)
    return {
        "answer": answer,
        "pid": bridge_handler.pid,
        "init_child": INIT_CHILD,
        "runtime_pid": os.getpid(),
        "spawns": bridge_handler.bridge.stats.spawns,
        "late": bridge_handler.bridge.stats.late,
    }
