"""The cgroup v2 driver: one directory in the unified hierarchy."""

import os

from pyrun.linux.cgroups import base
from pyrun.linux.cgroups.base import CgroupError
from pyrun.linux.cgroups.resources import limit_text, v2_cpu_weight, v2_io_weight


class V2Group:
    """The cgroup at `path` in the unified hierarchy mounted at `mountpoint`."""

    version = 2

    def __init__(self, path: str, mountpoint: str):
        self.path = path
        self.mount = mountpoint
        self.dir = mountpoint + path

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def mount_sources(self) -> list[tuple[str, str, int]]:
        """(name, host dir, version) for each hierarchy a container's cgroup mount shows."""
        return [("", self.dir, 2)]

    # --- life
    def create(self) -> list[str]:
        """mkdir, enabling every available controller on the way down (subtree_control),
        so that the container's directory has the files its limits need. Returns the
        directories this call made (destroy removes only those)."""
        made: list[str] = []
        owned = base.owned_levels(self.mount, self.path)
        current = self.mount
        try:
            for attempt in range(3):  # again from the top if a delete removed a level
                try:
                    parent = self.mount
                    for current in base.levels(self.mount, self.path):
                        _enable_controllers(parent)
                        if base.make_dir(current) and current in owned:
                            made.append(current)  # not made: there, or another create's
                        parent = current
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        except OSError as e:
            base.remove_made(made, [self.dir])
            raise CgroupError(e.filename or current, e.strerror or str(e)) from None
        return made

    def dirs_to_make(self) -> list[str]:
        """The directories create() would make, the levels above the container's too (for
        the journal)."""
        return [d for d in base.owned_levels(self.mount, self.path) if not os.path.isdir(d)]

    def destroy(self, made: list[str]) -> None:
        """Remove the directories pyrun made (`made`, from create), with the sub-cgroups
        made inside the container's: never a cgroup someone else owns."""
        base.remove_made(made, [self.dir])

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    # --- membership
    def placement(self) -> base.Placement:
        """For a process to be born in this cgroup (see base.Placement)."""
        try:
            return base.open_v2_placement(self.dir)
        except OSError as e:
            raise CgroupError(e.filename or self.dir, e.strerror or str(e)) from None

    def add(self, pid: int) -> None:
        """Move `pid` in (0 means the calling process)."""
        base.write(self.file("cgroup.procs"), str(pid))

    def procs(self) -> list[int]:
        return base.read_pids(self.file("cgroup.procs"))

    def all_procs(self) -> list[int]:
        """Every process in this cgroup and its descendants (cgroup.kill reaches them all)."""
        return base.subtree_pids(self.dir)

    def signal_all(self, sig: int) -> None:
        base.signal_all(self.procs, sig)

    def kill_all(self) -> None:
        if os.path.exists(self.file("cgroup.kill")):  # Linux 5.14+: atomic, no race with fork
            base.write(self.file("cgroup.kill"), "1")
        base.kill_until_empty(self.procs)

    # --- freezer
    def frozen(self) -> bool:
        return base.read_keyed(self.file("cgroup.events")).get("frozen") == 1

    def freeze(self) -> None:
        base.write(self.file("cgroup.freeze"), "1")
        base.wait_for(self.frozen, self.file("cgroup.events") + ": frozen 1")

    def thaw(self) -> None:
        base.write(self.file("cgroup.freeze"), "0")
        base.wait_for(lambda: not self.frozen(), self.file("cgroup.events") + ": frozen 0")

    # --- limits
    def set_devices(self, rules, previous=None) -> None:
        """v2 has no devices files: the allow-list is an eBPF program (BPF_CGROUP_DEVICE)
        attached to the cgroup, which keeps it when our fds close. An update (`previous`
        given) attaches the new program before it detaches the old ones: in between both
        apply (a device must pass each), never no program at all."""
        from pyrun.linux import syscalls
        from pyrun.linux.cgroups.devices import v2_program

        try:
            prog = syscalls.bpf_prog_load(syscalls.BPF_PROG_TYPE_CGROUP_DEVICE,
                                          v2_program(rules))
        except OSError as e:
            raise CgroupError("device filter", e.strerror or str(e)) from None
        try:
            cgroup_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                old = syscalls.bpf_prog_query(cgroup_fd, syscalls.BPF_CGROUP_DEVICE) \
                    if previous is not None else []
                syscalls.bpf_prog_attach(cgroup_fd, prog, syscalls.BPF_CGROUP_DEVICE,
                                         syscalls.BPF_F_ALLOW_MULTI)
                for prog_id in old:
                    _detach(cgroup_fd, prog_id)
            finally:
                os.close(cgroup_fd)
        except OSError as e:
            raise CgroupError(f"{self.dir}: attach device filter", e.strerror or str(e)) \
                from None
        finally:
            os.close(prog)

    def apply(self, r) -> None:
        """Write every limit `r` sets, runc's conversions."""
        for name, value in _v2_values(r):
            base.write(self.file(name), value)
        if r.blkio_weight is not None and os.path.exists(self.file("io.bfq.weight")):
            # runc: with BFQ the weight goes unconverted to io.bfq.weight (10..1000) too.
            base.write(self.file("io.bfq.weight"), f"default {r.blkio_weight}")

    def oom_kills(self) -> int:
        return base.read_keyed(self.file("memory.events")).get("oom_kill", 0)

    def stats(self) -> dict:
        """runc's `events --stats` data (libcontainer/cgroups Stats, as JSON)."""
        cpu = base.read_keyed(self.file("cpu.stat"))
        mem = base.read_keyed(self.file("memory.stat"))
        return {
            "cpu": {"usage": {"total": cpu.get("usage_usec", 0) * 1000,
                              "kernel": cpu.get("system_usec", 0) * 1000,
                              "user": cpu.get("user_usec", 0) * 1000},
                    "throttling": {"periods": cpu.get("nr_periods", 0),
                                   "throttled_periods": cpu.get("nr_throttled", 0),
                                   "throttled_time": cpu.get("throttled_usec", 0) * 1000}},
            "memory": {"usage": {"usage": base.read_int(self.file("memory.current")),
                                 "limit": base.read_int(self.file("memory.max"), 2**63 - 1),
                                 "max": base.read_int(self.file("memory.peak"))},
                       "swap": {"usage": base.read_int(self.file("memory.swap.current")),
                                "limit": base.read_int(self.file("memory.swap.max"),
                                                       2**63 - 1)},
                       "raw": mem},
            "pids": {"current": base.read_int(self.file("pids.current")),
                     "limit": base.read_int(self.file("pids.max"))},
        }


def _detach(cgroup_fd: int, prog_id: int) -> None:
    """Detach the device program `prog_id` (the container's cgroup is pyrun's: what is
    attached to it is the filter pyrun put there)."""
    from pyrun.linux import syscalls

    prog = syscalls.bpf_prog_get_fd_by_id(prog_id)
    try:
        syscalls.bpf_prog_detach(cgroup_fd, prog, syscalls.BPF_CGROUP_DEVICE)
    finally:
        os.close(prog)


def _enable_controllers(directory: str) -> None:
    available = base.read(os.path.join(directory, "cgroup.controllers")).split()
    enabled = set(base.read(os.path.join(directory, "cgroup.subtree_control")).split())
    missing = [c for c in available if c not in enabled]
    if missing:
        base.write(os.path.join(directory, "cgroup.subtree_control"),
                   " ".join("+" + c for c in missing))


def _v2_values(r):
    """(file, text) pairs for the limits set in `r`."""
    if r.cpu_realtime_runtime is not None or r.cpu_realtime_period is not None:
        raise CgroupError("linux.resources.cpu.realtimeRuntime/realtimePeriod",
                          "not available on cgroup v2 (v1 only)")
    if r.memory_swappiness is not None:
        raise CgroupError("linux.resources.memory.swappiness", "not available on cgroup v2")
    if r.memory_disable_oom_killer:
        raise CgroupError("linux.resources.memory.disableOOMKiller",
                          "not available on cgroup v2")
    if r.memory_limit is not None:
        yield "memory.max", limit_text(r.memory_limit)
    if r.memory_reservation is not None:
        yield "memory.low", limit_text(r.memory_reservation)
    if r.memory_swap is not None:
        yield "memory.swap.max", _v2_swap(r)
    if r.cpu_shares is not None:
        yield "cpu.weight", str(v2_cpu_weight(r.cpu_shares))
    if r.cpu_quota is not None or r.cpu_period is not None:
        quota = "max" if r.cpu_quota in (None, -1) else str(r.cpu_quota)
        yield "cpu.max", f"{quota} {r.cpu_period or 100000}"
    if r.cpu_idle is not None:
        yield "cpu.idle", str(r.cpu_idle)
    if r.cpu_cpus is not None:
        yield "cpuset.cpus", r.cpu_cpus
    if r.cpu_mems is not None:
        yield "cpuset.mems", r.cpu_mems
    if r.pids_limit is not None:
        yield "pids.max", "max" if r.pids_limit <= 0 else str(r.pids_limit)
    if r.blkio_weight is not None:
        yield "io.weight", f"default {v2_io_weight(r.blkio_weight)}"
    for d in r.blkio_weight_devices or []:
        if d.weight is not None:
            yield "io.weight", f"{d.major}:{d.minor} {v2_io_weight(d.weight)}"
    for key, devices in (("rbps", r.throttle_read_bps), ("wbps", r.throttle_write_bps),
                         ("riops", r.throttle_read_iops), ("wiops", r.throttle_write_iops)):
        for d in devices or []:
            yield "io.max", f"{d.major}:{d.minor} {key}={d.rate or 'max'}"
    for size, limit in r.hugepage_limits or []:
        yield f"hugetlb.{size}.max", str(limit)
    yield from (r.unified or {}).items()


def _v2_swap(r) -> str:
    """OCI's swap is memory+swap; v2's memory.swap.max is the swap alone."""
    if r.memory_swap == -1:
        return "max"
    if r.memory_limit in (None, -1):
        raise CgroupError("linux.resources.memory.swap", "needs memory.limit on cgroup v2")
    if r.memory_swap < r.memory_limit:
        raise CgroupError("linux.resources.memory.swap",
                          f"{r.memory_swap} is below memory.limit {r.memory_limit}")
    return str(r.memory_swap - r.memory_limit)
