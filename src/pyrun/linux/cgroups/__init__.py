"""cgroups: one interface, two drivers (v2 unified, v1 per-controller hierarchies).

    group = cgroups.open_group("/pyrun/ID")   # picks the driver for this host
    group.create(); group.add(pid); group.procs(); group.kill_all(); group.destroy()

Which driver: `detect()` reads the mount table once. Pure v2 hosts get V2; hybrid hosts
(v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified) and pure v1 hosts get V1,
which also places the container in the unified hierarchy when there is one.
"""

import os

from pyrun.linux.cgroups.base import CgroupError
from pyrun.linux.cgroups.detect import Hierarchy, detect, hierarchies

__all__ = ["CgroupError", "Hierarchy", "default_path", "detect", "hierarchies", "open_group",
           "resolve_path"]

DEFAULT_PARENT = "/pyrun"


def default_path(container_id: str) -> str:
    return f"{DEFAULT_PARENT}/{container_id}"


def resolve_path(cgroups_path: str, container_id: str, systemd: bool = False) -> str:
    """The container's cgroup path (from the hierarchy root), by runc's rules:
    absent -> /pyrun/ID; absolute -> as is; relative -> below pyrun's own cgroup;
    with --systemd-cgroup, slice:prefix:name -> the path systemd would give it."""
    if systemd:
        return systemd_path(cgroups_path, container_id)
    if not cgroups_path:
        return default_path(container_id)
    if ":" in cgroups_path:
        raise CgroupError(f"linux.cgroupsPath {cgroups_path!r}",
                          "looks like systemd's slice:prefix:name: pass --systemd-cgroup")
    # Cleaned as if rooted, so ".." can never climb above the root (or, for a relative
    # path, above pyrun's own cgroup), as runc's CleanPath.
    path = clean_path(cgroups_path)
    if not cgroups_path.startswith("/"):
        _refuse_split_own_cgroups(cgroups_path)
        path = clean_path(_own_cgroup() + path)
    if path == "/":
        raise CgroupError(f"linux.cgroupsPath {cgroups_path!r}", "must not be the root cgroup")
    return path


SYSTEMD_RUNNING = "/run/systemd/system"  # sd_booted(3)


def systemd_path(cgroups_path: str, container_id: str) -> str:
    """--systemd-cgroup: `slice:prefix:name` (default system.slice:pyrun:ID) as the
    cgroupfs path systemd gives that unit, runc's rule: the scope `prefix-name.scope` (or
    the slice `name`, if it ends in .slice) below the slice's path (a-b.slice ->
    /a.slice/a-b.slice). Only while systemd is not running: with systemd up the unit must
    be made over D-Bus, which pyrun does not do, and a cgroup made behind systemd's back
    would be moved or removed by it."""
    if os.path.isdir(SYSTEMD_RUNNING):
        from pyrun.errors import NotSupportedYet

        raise NotSupportedYet("--systemd-cgroup while systemd is running (units over D-Bus)")
    what = f"linux.cgroupsPath {cgroups_path!r}"
    parts = (cgroups_path or f"system.slice:pyrun:{container_id}").split(":")
    if len(parts) != 3:
        raise CgroupError(what, 'expected "slice:prefix:name" with --systemd-cgroup')
    parent, prefix, name = parts
    if not name:
        raise CgroupError(what, "the name part is empty")
    if name.endswith(".slice"):
        return expand_slice(name, what)
    parent_path = expand_slice(parent or "system.slice", what)
    return parent_path.rstrip("/") + f"/{prefix}-{name}.scope"


def expand_slice(slice_name: str, what: str) -> str:
    """'a-b-c.slice' -> '/a.slice/a-b.slice/a-b-c.slice'; '-.slice' -> '/' (systemd.slice(5))."""
    stem = slice_name.removesuffix(".slice")
    if stem == slice_name or not stem or "/" in stem:
        raise CgroupError(what, f"invalid slice name {slice_name!r}")
    if stem == "-":
        return "/"
    path, prefix = "", ""
    for part in stem.split("-"):
        if not part:
            raise CgroupError(what, f"invalid slice name {slice_name!r}")
        path += f"/{prefix}{part}.slice"
        prefix += f"{part}-"
    return path


def clean_path(path: str) -> str:
    """'/a//b/../c' -> '/a/c'; '..' stops at '/'; always exactly one leading slash."""
    return "/" + os.path.normpath("/" + path).lstrip("/")


def _refuse_split_own_cgroups(cgroups_path: str) -> None:
    """A relative path is below pyrun's own cgroup. On v1, runc takes that per hierarchy;
    pyrun keeps one path for all, so it refuses when its own cgroups differ between
    hierarchies (they agree on most hosts) rather than place the container elsewhere."""
    if len(set(_own_cgroups().values())) > 1:
        from pyrun.errors import NotSupportedYet

        raise NotSupportedYet(f"relative linux.cgroupsPath {cgroups_path!r} while pyrun's "
                              f"own cgroups differ between hierarchies")


PROC_SELF_CGROUP = "/proc/self/cgroup"


def _own_cgroups() -> dict[str, str]:
    """Hierarchy id ("0" for the unified one) -> this process's cgroup, /proc/self/cgroup."""
    with open(PROC_SELF_CGROUP) as f:
        return {hid: path for hid, _, path in
                (line.rstrip("\n").split(":", 2) for line in f)}


def _own_cgroup() -> str:
    """This process's cgroup in the unified hierarchy (or the first v1 one)."""
    own = _own_cgroups()
    return own.get("0", next(iter(own.values())))


def open_group(path: str):
    """The driver object for the cgroup at `path` (it need not exist yet), given the
    mountpoints of this host's hierarchies."""
    if detect() == "v2":
        from pyrun.linux.cgroups.v2 import V2Group

        return V2Group(path, hierarchies()[0].mountpoint)
    from pyrun.linux.cgroups.v1 import V1Group

    return V1Group(path, hierarchies())
