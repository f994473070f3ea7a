"""The way stdiobridge replaces: start the program anew for every invocation (``subprocess.run``), for comparison.

Same request and answer mappings as ``stdiobridge.aws_lambda`` so that the only
difference the demo measures is the process start. Configured from
``SPAWN_COMMAND`` (a JSON list), ``SPAWN_CODEC`` and ``SPAWN_RESPONSE`` when
run as a Lambda handler (``spawn_handler.handler``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

import stdiobridge as sb
from stdiobridge.aws_lambda import default_request, default_response

Handler = Callable[[Any, Any], Any]


def make_spawn_handler(command: Sequence[str], codec: str = "lines", response: str | None = None) -> Handler:
    """A handler that runs ``command`` once per invocation with one request frame on stdin."""
    the_codec = sb.get_codec(codec)
    to_request = default_request(the_codec)
    to_result = default_response(the_codec, response)  # type: ignore[arg-type]
    argv = list(command)

    def handler(event: Any, context: Any = None) -> Any:
        """Encode the request, run the program to completion, decode its one answer."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        timeout = max(0.1, remaining() / 1000 - 0.5) if callable(remaining) else 30.0
        frame = the_codec.encode(to_request(event, context))
        done = subprocess.run(argv, input=frame, capture_output=True, timeout=timeout, check=True)
        answers = the_codec.decoder().feed(done.stdout)
        if len(answers) != 1:
            raise sb.ProtocolError(f"expected one answer, got {len(answers)}: {done.stdout[:120]!r}")
        return to_result(answers[0])

    return handler


handler: Handler | None = (
    make_spawn_handler(
        json.loads(os.environ["SPAWN_COMMAND"]),
        os.environ.get("SPAWN_CODEC", "lines"),
        os.environ.get("SPAWN_RESPONSE") or None,
    )
    if "SPAWN_COMMAND" in os.environ
    else None
)
