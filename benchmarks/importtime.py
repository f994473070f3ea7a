"""Cold-start cost: ``import stdiobridge`` and one ``Bridge`` above a bare interpreter (target <= 30 ms).

A Lambda cold start pays every import once. Each case is a fresh interpreter,
timed from the parent (spawn to exit), the cases interleaved and each run
``REPEAT`` times; the table shows medians and the median minus the bare
interpreter's. Bytecode is cached (one untimed run first), as on a warm disk.
``-S`` with ``PYTHONPATH`` keeps the venv's ``.pth`` files (the editable
installs' import hooks, which load ``importlib.metadata``) out of the numbers:
a wheel installed on Lambda has none.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import sysconfig
import time

from .common import ROOT, table

REPEAT = 21
TARGET = 0.030  # seconds above a bare interpreter, for import + one Bridge

CASES: dict[str, str] = {
    "bare interpreter": "pass",
    "what a sync Bridge needs (subprocess, threading, select, logging, orjson, msgpack)": (
        "import subprocess, threading, select, logging, orjson, msgpack"
    ),
    "import stdiobridge": "import stdiobridge",
    "import stdiobridge + Bridge(...)": "import stdiobridge; stdiobridge.Bridge(['cat'], codec='jsonl')",
    "import stdiobridge.aws_lambda (not the Handler)": "import stdiobridge.aws_lambda",
}
HEAVY = ("asyncio", "importlib.metadata", "stdiobridge.pool", "stdiobridge.aio", "stdiobridge.scaleout")


def _env() -> dict[str, str]:
    paths = dict.fromkeys([str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "STDIOBRIDGE_"))}
    env.pop("_HANDLER", None)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _run(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True)
    return time.perf_counter() - start


def loaded(code: str) -> list[str]:
    """The heavy modules (``HEAVY``) that ``code`` leaves in ``sys.modules``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], env=_env(), check=True, capture_output=True, text=True
    ).stdout
    return out.split()


def measure(repeat: int = REPEAT) -> dict[str, float]:
    """Median wall time of each case, in seconds."""
    env = _env()
    for code in CASES.values():
        _run(code, env)  # compile and cache the bytecode
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeat):
        for name, code in CASES.items():
            times[name].append(_run(code, env))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> bool:
    """Print the table; True when import + one Bridge stays within ``TARGET`` of a bare interpreter."""
    medians = measure()
    bare = medians["bare interpreter"]
    rows = []
    ok = True
    for name, code in CASES.items():
        above = medians[name] - bare
        target = "-"
        if name == "import stdiobridge + Bridge(...)":
            met = above <= TARGET
            ok &= met
            target = f"<= {TARGET * 1e3:.0f} ms {'ok' if met else 'MISSED'}"
        heavy = ", ".join(loaded(code)) or "none"
        rows.append((name, f"{medians[name] * 1e3:.1f} ms", f"{above * 1e3:+.1f} ms", heavy, target))
    print(f"## Cold start: imports in a fresh interpreter, median of {REPEAT} runs (cached bytecode)\n")
    print(table(["case", "wall", "above bare", "heavy modules loaded", "target"], rows))
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
