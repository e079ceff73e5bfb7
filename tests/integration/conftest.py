"""Integration fixtures: real bundles, a private --root, and a check that nothing is left."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.bundles import PYRUN, default_config, make_rootfs, write_bundle
from tests.integration.netbed import host, outside  # noqa: F401 (fixtures: a network test bed)

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
def pyrun(state_root, tmp_path):
    """Run pyrun with a private --root; returns CompletedProcess (text, no check).

    Output goes through files, not pipes: a created or detached container inherits pyrun's
    stdio, and would keep a pipe open (and the test waiting) long after pyrun exits.
    """

    def run(*args, input=None, timeout=30, **kw):
        cmd = [PYRUN, "--root", str(state_root), *map(str, args)]
        out, err = tmp_path / "pyrun.stdout", tmp_path / "pyrun.stderr"
        with open(out, "w+") as fo, open(err, "w+") as fe:
            if input is not None:
                kw["input"] = input
            elif "stdin" not in kw:
                kw["stdin"] = subprocess.DEVNULL
            result = subprocess.run(cmd, stdout=fo, stderr=fe, text=True, timeout=timeout,
                                    **kw)
        result.stdout, result.stderr = out.read_text(), err.read_text()
        return result

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


def _cgroups_of(container_id: str) -> set[str]:
    """The test's own cgroups: every container id a test uses starts with its container_id,
    so concurrent test runs on the same host do not count against each other. A container
    process cannot outlive its cgroup (rmdir fails while it is populated), so this also
    finds leaked container processes."""
    return {str(p) for pattern in (f"*/pyrun/{container_id}*", f"pyrun/{container_id}*")
            for p in CGROUP_ROOT.glob(pattern)}


def _mount_ids() -> dict[str, str]:
    """mount id -> mount point. Ids, not paths: a mount stacked on an existing mount point
    is a new id at an old path."""
    with open("/proc/self/mountinfo") as f:
        return {line.split()[0]: line.split()[4] for line in f}


def _children_of_tests() -> set[int]:
    """Processes whose parent is this test process: a `pyrun run` that never exited."""
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
def nothing_left_behind(request, state_root, container_id):
    """Every integration test must leave no container, cgroup, mount or process behind."""
    mounts_before = _mount_ids()
    yield
    leftovers = []
    if state_root.exists() and any(state_root.iterdir()):
        leftovers.append(f"state dirs: {sorted(p.name for p in state_root.iterdir())}")
    if cgroups := _cgroups_of(container_id):
        leftovers.append(f"cgroups: {sorted(cgroups)}")
    mounts_after = _mount_ids()
    # `ip netns add` bind-mounts /run/netns once per boot: ip's, not a container's.
    new = {i for i in set(mounts_after) - set(mounts_before) if mounts_after[i] != "/run/netns"}
    if new:
        leftovers.append(f"mounts: {sorted(mounts_after[i] for i in new)}")
    if kids := _children_of_tests():
        leftovers.append(f"processes: {sorted(kids)}")
    if leftovers:
        # Clean up so one failure does not cascade, then fail this test.
        for name in os.listdir(state_root):
            subprocess.run([PYRUN, "--root", str(state_root), "delete", "--force", name],
                           capture_output=True)
        pytest.fail("left behind: " + "; ".join(leftovers))
