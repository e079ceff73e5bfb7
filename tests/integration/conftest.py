"""Integration fixtures: real bundles, a private --root, and a check that nothing is left."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.bundles import PYRUN, default_config, make_rootfs, write_bundle

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def state_root(tmp_path) -> Path:
    root = tmp_path / "state"
    root.mkdir()
    return root


@pytest.fixture
def pyrun(state_root):
    """Run pyrun with a private --root; returns CompletedProcess (text, no check)."""

    def run(*args, input=None, timeout=30, check=False, **kw):
        cmd = [PYRUN, "--root", str(state_root), *map(str, args)]
        return subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=timeout, check=check, **kw)

    return run


@pytest.fixture
def make_bundle(tmp_path, busybox_rootfs):
    def make(config=None, name="bundle", **kw):
        cfg = default_config(**kw) if config is None else config
        return write_bundle(tmp_path / name, busybox_rootfs, cfg)

    return make


@pytest.fixture
def container_id() -> str:
    return "t-" + uuid.uuid4().hex[:12]


def _pyrun_cgroups() -> set[str]:
    found = set()
    for hierarchy in CGROUP_ROOT.iterdir():
        base = hierarchy / "pyrun"
        if base.is_dir():
            found |= {str(p) for p in base.iterdir() if p.is_dir()}
    return found


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _children_of_tests() -> set[int]:
    """Processes whose parent is this test process (a leaked container init would be one,
    pyrun run makes itself a subreaper only for its own lifetime)."""
    me = os.getpid()
    kids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == me:
                kids.add(int(entry))
    return kids


@pytest.fixture(autouse=True)
def nothing_left_behind(request, state_root):
    """Every integration test must leave no container, cgroup, mount or process behind."""
    before_cg, before_mounts = _pyrun_cgroups(), _mounts()
    yield
    leftovers = []
    if state_root.exists() and any(state_root.iterdir()):
        leftovers.append(f"state dirs: {sorted(p.name for p in state_root.iterdir())}")
    if new := _pyrun_cgroups() - before_cg:
        leftovers.append(f"cgroups: {sorted(new)}")
    if new := _mounts() - before_mounts:
        leftovers.append(f"mounts: {sorted(new)}")
    if kids := _children_of_tests():
        leftovers.append(f"processes: {sorted(kids)}")
    if leftovers:
        # Clean up so one failure does not cascade, then fail this test.
        for name in os.listdir(state_root):
            subprocess.run([PYRUN, "--root", str(state_root), "delete", "--force", name],
                           capture_output=True)
        pytest.fail("left behind: " + "; ".join(leftovers))
