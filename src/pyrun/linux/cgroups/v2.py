"""The cgroup v2 driver: one directory in the unified hierarchy."""

import os

from pyrun.linux.cgroups import base
from pyrun.linux.cgroups.detect import hierarchies


class V2Group:
    version = 2

    def __init__(self, path: str):
        self.path = path
        mount = next(h.mountpoint for h in hierarchies() if h.version == 2)
        self.dir = mount + path

    def mount_sources(self) -> list[tuple[str, str, int]]:
        """(name, host dir, version) for each hierarchy a container's cgroup mount shows."""
        return [("", self.dir, 2)]

    def create(self) -> None:
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as e:
            raise base.CgroupError(self.dir, e.strerror or str(e)) from None

    def set_devices(self, rules) -> None:
        from pyrun.errors import NotSupportedYet

        # v2 has no devices files: the allow-list is an eBPF program attached to the cgroup.
        raise NotSupportedYet("linux.resources.devices on cgroup v2 (eBPF device filter)")

    def add(self, pid: int) -> None:
        """Move `pid` in (0 means the calling process)."""
        base.write(os.path.join(self.dir, "cgroup.procs"), str(pid))

    def procs(self) -> list[int]:
        return base.read_pids(os.path.join(self.dir, "cgroup.procs"))

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def signal_all(self, sig: int) -> None:
        base.signal_all(self.procs, sig)

    def kill_all(self) -> None:
        kill_file = os.path.join(self.dir, "cgroup.kill")
        if os.path.exists(kill_file):  # Linux 5.14+: atomic, no race with forks
            base.write(kill_file, "1")
        base.kill_until_empty(self.procs)

    def frozen(self) -> bool:
        try:
            with open(os.path.join(self.dir, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
        except FileNotFoundError:
            return False

    def destroy(self) -> None:
        """Remove the container's directory (not the shared parents)."""
        base.remove_dir(self.dir)
