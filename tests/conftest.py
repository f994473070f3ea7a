"""Shared pytest setup: the tests folder is importable, and ``make_bridge`` runs a test twice."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the benchmarks package, for its method tests

from bridges import make


@pytest.fixture(params=["sync", "async", "sync-tagged", "async-tagged"])
def make_bridge(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Build a ``Bridge`` or an ``AsyncBridge`` (behind a sync facade) from the same arguments, with and
    without request ids (``tagged``); the bridge's ``tagged`` attribute says which."""
    return functools.partial(make, request.param)
