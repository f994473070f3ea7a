"""A lines echo child that burns ~200 µs of CPU per request (argv[1] overrides, in µs)."""

import sys
import time

burn = (int(sys.argv[1]) if len(sys.argv) > 1 else 200) / 1e6
clock = time.thread_time
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    start = clock()
    while clock() - start < burn:
        pass
    out.write(line)
    out.flush()
