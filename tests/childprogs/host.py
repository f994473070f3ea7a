#!/usr/bin/env python3
"""A host program for the lifetime tests: starts a Bridge, prints the child's pid, waits.

argv: MODE [ARGS]. MODE ``thread`` starts the bridge from a short-lived thread (the
child must survive that thread's exit); ``plain`` from the main thread; ``async``
an ``AsyncBridge`` on an event loop. ``plain-exit`` and ``async-exit`` then leave
the interpreter normally without closing the bridge. The child is
tests/childprogs/faulty.py in ``grandchild`` mode when a pid file is given.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import stdiobridge as sb

from childprogs import faulty

mode = sys.argv[1]
pidfile = sys.argv[2] if len(sys.argv) > 2 else None
command = faulty("grandchild", pidfile) if pidfile else ["cat"]
if mode.startswith("async"):

    async def main() -> sb.AsyncBridge:
        bridge = sb.AsyncBridge(command, timeout=30)
        assert await bridge.call("ping") == "ping"
        print(bridge.pid, flush=True)
        if mode == "async":
            await asyncio.sleep(600)
        return bridge

    kept = asyncio.run(main())  # async-exit: the loop is gone, the bridge was never closed
    sys.exit(0)
bridge = sb.Bridge(command, timeout=30)
if mode == "thread":
    worker = threading.Thread(target=bridge.start)
    worker.start()
    worker.join()
else:
    bridge.start()
assert bridge.call("ping") == "ping"
print(bridge.pid, flush=True)
if mode != "plain-exit":
    time.sleep(600)
