"""``make bench``: every benchmark, one after the other, in one run."""

from __future__ import annotations

import sys

from . import bridge, codecs, concurrency, scaleout
from .common import machine


def main() -> int:
    print(f"# stdiobridge benchmarks\n\nMachine: {machine()}\n")
    ok = codecs.main()
    print()
    ok &= bridge.main()
    print()
    ok &= concurrency.main()
    print()
    ok &= scaleout.main()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
