"""Which cgroup layout this host has, read once from the mount table."""


class Hierarchy:
    """A mounted cgroup hierarchy: where, which version, which controllers (v1 options)."""

    __slots__ = ("controllers", "mountpoint", "version")

    def __init__(self, mountpoint: str, version: int, controllers: tuple[str, ...]):
        self.mountpoint = mountpoint
        self.version = version
        self.controllers = controllers

    def __repr__(self):
        return f"Hierarchy({self.mountpoint!r}, v{self.version}, {self.controllers})"


_cache: dict[str, object] = {}


MOUNTINFO = "/proc/self/mountinfo"


def hierarchies() -> list[Hierarchy]:
    """Every cgroup/cgroup2 mount of this mount namespace, one per hierarchy (first mount);
    read once."""
    if "hierarchies" not in _cache:
        with open(MOUNTINFO) as f:
            _cache["hierarchies"] = parse_mountinfo(f.read())
    return _cache["hierarchies"]


# Superblock options of a v1 mount that are not controller names.
_NOT_CONTROLLERS = ("relatime", "noprefix", "clone_children", "release_agent", "xattr",
                    "cpuset_v2_mode", "favordynmods")


def parse_mountinfo(text: str) -> list[Hierarchy]:
    """The cgroup hierarchies in a /proc/PID/mountinfo text (proc(5)), the first mount
    of each."""
    found: dict[tuple, Hierarchy] = {}
    for line in text.splitlines():
        left, right = line.split(" - ", 1)
        fstype, _source, super_opts = right.split()
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mountpoint = left.split()[4]
        if fstype == "cgroup2":
            key, h = ("cgroup2",), Hierarchy(mountpoint, 2, ())
        else:
            names = tuple(o for o in super_opts.split(",")
                          if o not in ("rw", "ro") and not o.startswith(_NOT_CONTROLLERS))
            key, h = names, Hierarchy(mountpoint, 1, names)
        found.setdefault(key, h)
    return list(found.values())


def detect() -> str:
    """'v2' (unified only), 'hybrid' (v1 controllers + cgroup2), or 'v1'."""
    if "mode" not in _cache:
        versions = {h.version for h in hierarchies()}
        if versions == {2}:
            _cache["mode"] = "v2"
        elif 2 in versions:
            _cache["mode"] = "hybrid"
        else:
            _cache["mode"] = "v1"
    return _cache["mode"]
