"""Fault-injection child programs, run as real processes by the tests."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAULTY = HERE / "faulty.py"
BIGFRAME = HERE / "bigframe.py"


def faulty(mode: str, *args: object) -> list[str]:
    """The argv of the fault-injection child in ``mode``."""
    return [sys.executable, str(FAULTY), mode, *map(str, args)]


def bigframe(mode: str, *args: object) -> list[str]:
    """The argv of the lenprefix child whose big answers come broken in ``mode`` (see bigframe.py)."""
    return [sys.executable, str(BIGFRAME), mode, *map(str, args)]
