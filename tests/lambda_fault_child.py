"""A JSON-lines child for test_aws_lambda: echoes each request, or misbehaves as the request's event says.

``{"fault": "crash"}``: a reason on stderr, exit 3 without answering.
``{"fault": "hang"}``: never answer.
``{"fault": "grandchild", "pidfile": PATH}``: start ``sleep 300``, write both pids to PATH, never answer.
``--started FILE`` (argv): write this process's pid and start time to FILE at startup.
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
    for line in sys.stdin.buffer:
        request = json.loads(line)
        event = request.get("event") if isinstance(request, dict) else None
        fault = event.get("fault") if isinstance(event, dict) else None
        if fault == "crash":
            sys.stderr.write(f"fault child {os.getpid()}: crashing as asked\n")
            sys.stderr.flush()
            os._exit(3)
        if fault == "hang":
            time.sleep(3600)
        if fault == "grandchild" and isinstance(event, dict):
            grandchild = subprocess.Popen(["sleep", "300"])
            with open(event["pidfile"], "w") as fh:
                json.dump({"child": os.getpid(), "grandchild": grandchild.pid}, fh)
            time.sleep(3600)
        sys.stdout.write(json.dumps(request) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
