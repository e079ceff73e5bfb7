"""Fixtures of the config fuzzer: one Session (namespace holder, hook programs, a busybox
rootfs template) for the whole run. Root only, as the integration tests: like them it
touches only what it made (cgroups named after its case ids, mounts in its own directory,
its own child processes)."""

import os
import sys

import pytest

from tests.fuzz.harness import Session
from tests.integration.bundles import make_rootfs


@pytest.fixture(scope="session")
def fuzz_session(tmp_path_factory):
    if os.geteuid() != 0 or sys.platform != "linux":
        pytest.skip("the config fuzzer needs root on Linux")
    template = make_rootfs(tmp_path_factory.mktemp("fuzz-rootfs") / "rootfs")
    with Session(tmp_path_factory.mktemp("fuzz-cases"), template) as session:
        yield session
