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
    print(
        "\nAll targets met."
        if ok
        else "\nSome targets were missed (marked MISSED above); see the README for what bounds them."
    )
    return 0  # a benchmark reports; it does not fail the build (speed is measured, not asserted)


if __name__ == "__main__":
    sys.exit(main())
