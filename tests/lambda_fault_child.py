"""A JSON-lines child for test_aws_lambda: echoes each request, or misbehaves as the request's event says.

``{"fault": "crash"}``: a reason on stderr, exit 3 without answering.
``{"fault": "hang"}``: never answer (untagged: nothing after it is read either; tagged: that id is never answered).
``{"fault": "hold"}``: answer this request only when the next one arrives, just before answering that one
(a late answer the host must never hand to the next invocation).
``{"fault": "grandchild", "pidfile": PATH}``: start ``sleep 300``, write both pids to PATH, never answer.
``--started FILE`` (argv): write this process's pid and start time to FILE at startup.
With ``STDIOBRIDGE_TAGGED=1`` every line is ``[id, request]`` and every answer ``[id, answer]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    """Serve JSON lines on stdin/stdout until EOF."""
    if len(sys.argv) > 2 and sys.argv[1] == "--started":
        with open(sys.argv[2], "a") as fh:
            fh.write(f"{os.getpid()} {time.time()}\n")
    tagged = os.environ.get("STDIOBRIDGE_TAGGED") == "1"
    held: list[str] = []
    for line in sys.stdin.buffer:
        frame = json.loads(line)
        ident, request = frame if tagged else (None, frame)
        answer = json.dumps(request if ident is None else [ident, request]) + "\n"
        event = request.get("event") if isinstance(request, dict) else None
        fault = event.get("fault") if isinstance(event, dict) else None
        if fault == "crash":
            sys.stderr.write(f"fault child {os.getpid()}: crashing as asked\n")
            sys.stderr.flush()
            os._exit(3)
        if fault == "hang":
            if tagged:
                continue
            time.sleep(3600)
        if fault == "grandchild" and isinstance(event, dict):
            grandchild = subprocess.Popen(["sleep", "300"])
            with open(event["pidfile"], "w") as fh:
                json.dump({"child": os.getpid(), "grandchild": grandchild.pid}, fh)
            time.sleep(3600)
        sys.stdout.writelines(held)
        held.clear()
        if fault == "hold":
            held.append(answer)
        else:
            sys.stdout.write(answer)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
