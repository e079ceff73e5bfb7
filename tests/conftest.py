"""Fixtures shared by unit and integration tests."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    """Integration tests need root on Linux: skip them, loudly, elsewhere."""
    if os.geteuid() == 0 and sys.platform == "linux":
        return
    skip = pytest.mark.skip(reason="integration tests need root")
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(skip)
