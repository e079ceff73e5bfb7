"""Which cgroup layout this host has, read once from the mount table."""

CGROUP2_MAGIC_PATH = "/sys/fs/cgroup/cgroup.controllers"


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


def hierarchies() -> list[Hierarchy]:
    """Every cgroup/cgroup2 mount of this mount namespace, one per hierarchy (first mount)."""
    if "hierarchies" in _cache:
        return _cache["hierarchies"]
    found: dict[tuple, Hierarchy] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, super_opts = right.split()
            if fstype not in ("cgroup", "cgroup2"):
                continue
            mountpoint = left.split()[4]
            if fstype == "cgroup2":
                key, h = ("cgroup2",), Hierarchy(mountpoint, 2, ())
            else:
                names = tuple(o for o in super_opts.split(",")
                              if o not in ("rw", "ro") and not o.startswith(("relatime",
                                                                            "noprefix",
                                                                            "clone_children",
                                                                            "release_agent",
                                                                            "xattr",
                                                                            "cpuset_v2_mode")))
                key, h = names, Hierarchy(mountpoint, 1, names)
            found.setdefault(key, h)
    _cache["hierarchies"] = list(found.values())
    return _cache["hierarchies"]


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
