"""Fixtures shared by unit and integration tests."""

import os
import shutil
import sys
import tempfile
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


def pytest_configure(config):
    """The seccomp programs pyrun keeps (pyrun.runtime.seccompcache) go to a directory of
    this session's, not the host's /run; engines started by the tests inherit it."""
    config.seccomp_cache = tempfile.mkdtemp(prefix="pyrun-test-seccomp-")
    os.environ["PYRUN_SECCOMP_CACHE"] = config.seccomp_cache


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "seccomp_cache", ""), ignore_errors=True)
