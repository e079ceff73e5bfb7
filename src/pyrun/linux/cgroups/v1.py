"""The cgroup v1 driver: one directory per hierarchy (cpu, memory, pids, ...), and in the
unified hierarchy too on hybrid hosts, so every view of the process agrees."""

import _signal
import errno
import os

from pyrun.linux.cgroups import base
from pyrun.linux.cgroups.base import CgroupError
from pyrun.linux.cgroups.detect import Hierarchy
from pyrun.linux.cgroups.devices import V1State, v1_line, v1_transition


class V1Group:
    """The cgroup at `path` (from each hierarchy's root) in every hierarchy given: the v1
    ones, and the (controller-less) unified one of a hybrid host."""

    version = 1

    def __init__(self, path: str, hierarchies: list[Hierarchy]):
        self.path = path
        self.hierarchies = hierarchies
        self.dirs = [h.mountpoint + path for h in hierarchies]

    def controller_dir(self, controller: str) -> str | None:
        """This cgroup's directory in the hierarchy that has `controller`, if mounted."""
        for h in self.hierarchies:
            if controller in h.controllers:
                return h.mountpoint + self.path
        return None

    def file(self, controller: str, name: str) -> str:
        d = self.controller_dir(controller)
        if d is None:
            raise CgroupError(name, f"the {controller} controller is not mounted")
        return os.path.join(d, name)

    def mount_sources(self) -> list[tuple[str, str, int]]:
        """(name, host dir, version) for each hierarchy a container's cgroup mount shows."""
        return [(os.path.basename(h.mountpoint), h.mountpoint + self.path, h.version)
                for h in self.hierarchies]

    # --- life
    def create(self) -> list[str]:
        """mkdir in every hierarchy; returns the container's directories this call made
        (destroy removes only those)."""
        made: list[str] = []
        try:
            for h in self.hierarchies:
                _make_dirs(h.mountpoint, self.path, "cpuset" in h.controllers, made)
        except OSError as e:
            base.remove_made(made, self.dirs)
            raise CgroupError(e.filename or self.path, e.strerror or str(e)) from None
        return made

    def dirs_to_make(self) -> list[str]:
        """The directories create() would make, the levels above the container's too (for
        the journal)."""
        return [d for h in self.hierarchies
                for d in base.owned_levels(h.mountpoint, self.path) if not os.path.isdir(d)]

    def destroy(self, made: list[str]) -> None:
        """Remove the directories pyrun made, with the sub-cgroups made inside the
        container's: never a cgroup someone else owns."""
        base.remove_made(made, self.dirs)

    def exists(self) -> bool:
        return os.path.isdir(self._procs_dir())

    # --- membership
    def placement(self) -> base.Placement:
        """For a process to join this cgroup by itself: `tasks` of each v1 hierarchy, and
        born in the unified one of a hybrid host (see base.Placement)."""
        task_fds: list[int] = []
        late_fds: list[int] = []
        try:
            for h in self.hierarchies:
                if h.version == 1:
                    fds = late_fds if "memory" in h.controllers else task_fds
                    fds.append(os.open(os.path.join(h.mountpoint + self.path, "tasks"),
                                       os.O_WRONLY | os.O_CLOEXEC))
            unified = [h for h in self.hierarchies if h.version == 2]
            placement = base.open_v2_placement(unified[0].mountpoint + self.path, task_fds) \
                if unified else base.Placement(task_fds=task_fds)
            placement.late_fds = late_fds
            return placement
        except OSError as e:
            for fd in task_fds + late_fds:
                os.close(fd)
            raise CgroupError(e.filename or self.path, e.strerror or str(e)) from None

    def add(self, pid: int) -> None:
        for d in self.dirs:
            base.write(os.path.join(d, "cgroup.procs"), str(pid))

    def _procs_dir(self) -> str:
        return self.controller_dir("pids") or self.dirs[0]

    def procs(self) -> list[int]:
        return base.read_pids(os.path.join(self._procs_dir(), "cgroup.procs"))

    def all_procs(self) -> list[int]:
        """Every process in this cgroup and below it, in any hierarchy."""
        return sorted({pid for d in self.dirs for pid in base.subtree_pids(d)})

    def signal_all(self, sig: int) -> None:
        base.signal_all(self.procs, sig)

    def kill_all(self) -> None:
        """Freeze, signal, thaw: nothing can fork between reading the list and the kill.
        Thawed even if it was frozen (paused) before: a frozen process cannot die."""
        if not self.procs():
            return  # the usual case at the end of `pyrun run`
        if self.controller_dir("freezer"):
            try:
                if not self.frozen():
                    self.freeze()
                base.signal_all(self.procs, _signal.SIGKILL)
            finally:
                self.thaw()
        base.kill_until_empty(self.procs)

    # --- freezer
    def frozen(self) -> bool:
        d = self.controller_dir("freezer")
        if d is None:
            return False
        try:
            return base.read(os.path.join(d, "freezer.state")) == "FROZEN"
        except CgroupError:
            return False

    def freeze(self) -> None:
        base.write(self.file("freezer", "freezer.state"), "FROZEN")
        base.wait_for(self.frozen, self.file("freezer", "freezer.state") + ": FROZEN")

    def thaw(self) -> None:
        base.write(self.file("freezer", "freezer.state"), "THAWED")
        base.wait_for(lambda: not self.frozen(), self.file("freezer", "freezer.state"))

    # --- limits
    def set_devices(self, rules, previous=None) -> None:
        """Write the allow-list (pyrun.linux.cgroups.devices) in order, as the kernel reads
        it: each rule to devices.allow or devices.deny. Given the `previous` list (an
        update), only what differs, so that no device the two share is ever denied."""
        if previous is None:
            writes = [(rule.allow, v1_line(rule)) for rule in rules]
        else:
            writes = v1_transition(V1State(previous), V1State(rules))
        for allow, line in writes:
            base.write(self.file("devices", "devices.allow" if allow else "devices.deny"),
                       line)

    def apply(self, r) -> None:
        """Write every limit `r` sets to its controller's file."""
        if r.unified:
            raise CgroupError("linux.resources.unified", "needs a cgroup v2 host")
        self._apply_memory(r)
        for controller, name, value in _v1_values(r):
            base.write(self._weight_file(self.file(controller, name)), value)

    @staticmethod
    def _weight_file(path: str) -> str:
        """With the BFQ scheduler, blkio has blkio.bfq.weight* instead of blkio.weight*
        (same values): write whichever this kernel has, as runc does."""
        name = os.path.basename(path)
        if name.startswith("blkio.") and "weight" in name and not os.path.exists(path):
            bfq = os.path.join(os.path.dirname(path), "blkio.bfq." + name[len("blkio."):])
            if os.path.exists(bfq):
                return bfq
        return path

    def _apply_memory(self, r) -> None:
        """memory.limit must stay <= memory.memsw.limit at every step: when raising both,
        memsw goes first, so try the limit first and retry in the other order."""
        writes = []  # v1 spells "no limit" -1 (v2: "max")
        if r.memory_limit is not None:
            writes.append(("memory.limit_in_bytes", str(r.memory_limit)))
        if r.memory_swap is not None:
            writes.append(("memory.memsw.limit_in_bytes", str(r.memory_swap)))
        try:
            for name, value in writes:
                _write_raw(self.file("memory", name), value)
        except OSError as e:
            if e.errno != errno.EINVAL or len(writes) < 2:
                raise CgroupError(e.filename or "memory", e.strerror or str(e)) from None
            for name, value in reversed(writes):
                base.write(self.file("memory", name), value)

    def oom_kills(self) -> int:
        return base.read_keyed(self.file("memory", "memory.oom_control")).get("oom_kill", 0)

    def stats(self) -> dict:
        """runc's `events --stats` data (libcontainer/cgroups Stats, as JSON)."""
        acct = self.controller_dir("cpuacct")
        cpu_times = base.read_keyed(os.path.join(acct, "cpuacct.stat")) if acct else {}
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        percpu = base.read(os.path.join(acct, "cpuacct.usage_percpu")).split() if acct else []
        throttling = base.read_keyed(self.file("cpu", "cpu.stat")) \
            if self.controller_dir("cpu") else {}
        memory = self.controller_dir("memory")
        raw = base.read_keyed(os.path.join(memory, "memory.stat")) if memory else {}
        mem_file = (lambda n: os.path.join(memory, n)) if memory else (lambda n: "")
        return {
            "cpu": {"usage": {"total": base.read_int(os.path.join(acct, "cpuacct.usage"))
                              if acct else 0,
                              "percpu": [int(x) for x in percpu],
                              "kernel": cpu_times.get("system", 0) * tick_ns,
                              "user": cpu_times.get("user", 0) * tick_ns},
                    "throttling": {"periods": throttling.get("nr_periods", 0),
                                   "throttled_periods": throttling.get("nr_throttled", 0),
                                   "throttled_time": throttling.get("throttled_time", 0)}},
            "memory": {"usage": {"usage": base.read_int(mem_file("memory.usage_in_bytes")),
                                 "limit": base.read_int(mem_file("memory.limit_in_bytes")),
                                 "max": base.read_int(mem_file("memory.max_usage_in_bytes")),
                                 "failcnt": base.read_int(mem_file("memory.failcnt"))},
                       "raw": raw},
            "pids": {"current": base.read_int(self.file("pids", "pids.current")),
                     "limit": base.read_int(self.file("pids", "pids.max"))},
        }


def _write_raw(path: str, value: str) -> None:
    """Like base.write, but the OSError is the caller's to judge (errno and all)."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        e.filename = path
        raise


def _v1_values(r):
    """(controller, file, text) for every limit but memory.limit and swap (_apply_memory)."""
    if r.memory_reservation is not None:
        yield "memory", "memory.soft_limit_in_bytes", str(r.memory_reservation)
    if r.memory_swappiness is not None:
        yield "memory", "memory.swappiness", str(r.memory_swappiness)
    if r.memory_disable_oom_killer:
        yield "memory", "memory.oom_control", "1"
    if r.cpu_shares is not None:
        yield "cpu", "cpu.shares", str(r.cpu_shares)
    if r.cpu_period is not None:  # the period first: the quota is checked against it
        yield "cpu", "cpu.cfs_period_us", str(r.cpu_period)
    if r.cpu_quota is not None:
        yield "cpu", "cpu.cfs_quota_us", str(r.cpu_quota)
    if r.cpu_realtime_period is not None:
        yield "cpu", "cpu.rt_period_us", str(r.cpu_realtime_period)
    if r.cpu_realtime_runtime is not None:
        yield "cpu", "cpu.rt_runtime_us", str(r.cpu_realtime_runtime)
    if r.cpu_idle is not None:
        yield "cpu", "cpu.idle", str(r.cpu_idle)
    if r.cpu_cpus is not None:
        yield "cpuset", "cpuset.cpus", r.cpu_cpus
    if r.cpu_mems is not None:
        yield "cpuset", "cpuset.mems", r.cpu_mems
    if r.pids_limit is not None:
        yield "pids", "pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit)
    if r.blkio_weight is not None:
        yield "blkio", "blkio.weight", str(r.blkio_weight)
    if r.blkio_leaf_weight is not None:
        yield "blkio", "blkio.leaf_weight", str(r.blkio_leaf_weight)
    for d in r.blkio_weight_devices or []:
        if d.weight is not None:
            yield "blkio", "blkio.weight_device", f"{d.major}:{d.minor} {d.weight}"
        if d.leaf_weight is not None:
            yield "blkio", "blkio.leaf_weight_device", f"{d.major}:{d.minor} {d.leaf_weight}"
    for name, devices in (("read_bps", r.throttle_read_bps), ("write_bps", r.throttle_write_bps),
                          ("read_iops", r.throttle_read_iops),
                          ("write_iops", r.throttle_write_iops)):
        for d in devices or []:
            yield "blkio", f"blkio.throttle.{name}_device", f"{d.major}:{d.minor} {d.rate}"
    for size, limit in r.hugepage_limits or []:
        yield "hugetlb", f"hugetlb.{size}.limit_in_bytes", str(limit)


def _make_dirs(mountpoint: str, path: str, is_cpuset: bool, made: list[str]) -> None:
    """mkdir each missing level of `path`, adding each to `made` as soon as it exists (a
    failure further down leaves `made` complete, for the undo).

    A v1 cpuset starts with no cpus and no mems, and then refuses every process (ENOSPC):
    each level on the way, made here or by someone else (a pod's cgroup), gets its
    parent's when it has none, as runc's cpusetEnsureParent does.
    """
    owned = base.owned_levels(mountpoint, path)
    for attempt in range(3):  # again from the top if a delete removed a level meanwhile
        parent = mountpoint
        try:
            for current in base.levels(mountpoint, path):
                if base.make_dir(current) and current in owned:
                    made.append(current)
                if is_cpuset:
                    _inherit_cpuset(parent, current)
                parent = current
            return
        except FileNotFoundError:
            if attempt == 2:
                raise


def _inherit_cpuset(parent: str, child: str) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if _read_or_empty(os.path.join(child, name)):
            continue
        base.write(os.path.join(child, name), _read_or_empty(os.path.join(parent, name)) or "\n")


def _read_or_empty(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""
