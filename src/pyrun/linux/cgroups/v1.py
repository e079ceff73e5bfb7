"""The cgroup v1 driver: one directory per hierarchy (cpu, memory, pids, ...), and in the
unified hierarchy too on hybrid hosts, so every view of the process agrees."""

import os

from pyrun.linux.cgroups import base
from pyrun.linux.cgroups.detect import hierarchies


class V1Group:
    version = 1

    def __init__(self, path: str):
        self.path = path
        self.dirs = [h.mountpoint + path for h in hierarchies()]
        # cgroup.procs of the pids hierarchy (or any) lists the container's processes.
        pids = [h.mountpoint for h in hierarchies() if "pids" in h.controllers]
        self._procs_dir = (pids[0] if pids else hierarchies()[0].mountpoint) + path
        freezer = [h.mountpoint for h in hierarchies() if "freezer" in h.controllers]
        self._freezer_dir = freezer[0] + path if freezer else None

    def mount_sources(self) -> list[tuple[str, str, int]]:
        """(name, host dir, version) for each hierarchy a container's cgroup mount shows."""
        return [(os.path.basename(h.mountpoint), h.mountpoint + self.path, h.version)
                for h in hierarchies()]

    def create(self) -> None:
        made = []
        try:
            for h in hierarchies():
                made += _make_dirs(h.mountpoint, self.path, "cpuset" in h.controllers)
        except OSError as e:
            for d in reversed(made):
                base.remove_dir(d)
            raise base.CgroupError(e.filename or self.path, e.strerror or str(e)) from None

    def set_devices(self, rules) -> None:
        """Write the allow-list (pyrun.linux.cgroups.devices) in order, as the kernel reads
        it: each rule to devices.allow or devices.deny."""
        d = next((h.mountpoint for h in hierarchies() if "devices" in h.controllers), None)
        if d is None:
            raise base.CgroupError("devices", "no devices hierarchy is mounted")
        for rule in rules:
            name = "devices.allow" if rule.allow else "devices.deny"
            base.write(os.path.join(d + self.path, name), rule.v1_line())

    def add(self, pid: int) -> None:
        for d in self.dirs:
            base.write(os.path.join(d, "cgroup.procs"), str(pid))

    def procs(self) -> list[int]:
        return base.read_pids(os.path.join(self._procs_dir, "cgroup.procs"))

    def exists(self) -> bool:
        return os.path.isdir(self._procs_dir)

    def signal_all(self, sig: int) -> None:
        base.signal_all(self.procs, sig)

    def kill_all(self) -> None:
        base.kill_until_empty(self.procs)

    def frozen(self) -> bool:
        if not self._freezer_dir:
            return False
        try:
            with open(os.path.join(self._freezer_dir, "freezer.state")) as f:
                return f.read().strip() == "FROZEN"
        except FileNotFoundError:
            return False

    def destroy(self) -> None:
        for d in self.dirs:
            base.remove_dir(d)


def _make_dirs(mountpoint: str, path: str, is_cpuset: bool) -> list[str]:
    """mkdir each missing level of `path`; returns what it made (for undo on failure).

    A new v1 cpuset starts with no cpus and no mems, and then refuses every process
    (ENOSPC): copy both down from the parent, level by level, as runc does.
    """
    made = []
    current = mountpoint
    for part in [p for p in path.split("/") if p]:
        parent, current = current, os.path.join(current, part)
        if os.path.isdir(current):
            continue
        os.mkdir(current)
        made.append(current)
        if is_cpuset:
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(parent, name)) as f:
                    base.write(os.path.join(current, name), f.read().strip() or "\n")
    return made
