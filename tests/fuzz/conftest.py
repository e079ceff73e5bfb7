"""Fixtures of the config fuzzer: one Session (namespace holder, hook programs, a busybox
rootfs template) for the whole run. Root only, as the integration tests; run it inside
/work/shared/tools/sandbox."""

import os
import sys

import pytest

from tests.fuzz.harness import Session
from tests.integration.bundles import make_rootfs


@pytest.fixture(scope="session")
def fuzz_session(tmp_path_factory):
    if os.geteuid() != 0 or sys.platform != "linux":
        pytest.skip("the config fuzzer needs root on Linux")
    if os.environ.get("SANDBOXED") != "1" and os.environ.get("PYRUN_FUZZ_UNSANDBOXED") != "1":
        pytest.fail("the config fuzzer runs inside /work/shared/tools/sandbox (`make fuzz` "
                    "does that); set PYRUN_FUZZ_UNSANDBOXED=1 to run it on this host anyway")
    template = make_rootfs(tmp_path_factory.mktemp("fuzz-rootfs") / "rootfs")
    with Session(tmp_path_factory.mktemp("fuzz-cases"), template) as session:
        yield session
