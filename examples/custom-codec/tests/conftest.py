"""Shared setup: the helper modules here are importable, and the plugin must be installed.

The tests go through ``stdiobridge.get_codec("lsp")``, that is through the entry
point, so they need the distribution installed (``pip install -e examples/custom-codec``).
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def plugin_installed() -> None:
    try:
        distribution("stdiobridge-lsp-codec")
    except PackageNotFoundError:
        pytest.fail("the plugin is not installed: run `pip install -e examples/custom-codec` first", pytrace=False)
