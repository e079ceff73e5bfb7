"""The `linux` section of the OCI config as plain objects (config-linux.md): namespaces,
id mappings, devices, resources and the device allow-list, seccomp, personality.

Pure data, like pyrun.config.model; the kernel modules read these by attribute.
"""


class Namespace:
    __slots__ = ("path", "type")

    def __init__(self, type: str, path: str = ""):
        self.type = type
        self.path = path


class Device:
    """A node in the container's /dev: kind c (char), b (block), u (unbuffered char) or
    p (fifo)."""

    __slots__ = ("file_mode", "gid", "major", "minor", "path", "type", "uid")

    def __init__(self, path, type, major=0, minor=0, file_mode=None, uid=None, gid=None):
        self.path = path
        self.type = type
        self.major = major
        self.minor = minor
        self.file_mode = file_mode  # None: 0o666
        self.uid = uid  # None: 0
        self.gid = gid


class DeviceRule:
    """One entry of the device allow-list (`linux.resources.devices`): allow or deny;
    kind 'a' (all), 'c' or 'b'; major/minor None for '*'; access made of 'rwm'."""

    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(self, allow: bool, kind: str = "a", major=None, minor=None, access="rwm"):
        self.allow = allow
        self.kind = kind
        self.major = major
        self.minor = minor
        self.access = access

    def __repr__(self):
        nums = f" {'*' if self.major is None else self.major}:" \
               f"{'*' if self.minor is None else self.minor}" if self.kind != "a" else ""
        return f"{'allow' if self.allow else 'deny'} {self.kind}{nums} {self.access}"


class ThrottleDevice:
    __slots__ = ("major", "minor", "rate")

    def __init__(self, major: int, minor: int, rate: int):
        self.major = major
        self.minor = minor
        self.rate = rate


class WeightDevice:
    __slots__ = ("major", "minor", "weight", "leaf_weight")

    def __init__(self, major: int, minor: int, weight=None, leaf_weight=None):
        self.major = major
        self.minor = minor
        self.weight = weight
        self.leaf_weight = leaf_weight


class Resources:
    """`linux.resources` (or `pyrun update`), less the device rules. Fields hold OCI's
    values; None means "leave as it is"."""

    __slots__ = (
        "memory_limit", "memory_reservation", "memory_swap", "memory_swappiness",
        "memory_disable_oom_killer",
        "cpu_shares", "cpu_quota", "cpu_period", "cpu_realtime_runtime", "cpu_realtime_period",
        "cpu_cpus", "cpu_mems", "cpu_idle",
        "pids_limit",
        "blkio_weight", "blkio_leaf_weight", "blkio_weight_devices", "throttle_read_bps",
        "throttle_write_bps", "throttle_read_iops", "throttle_write_iops",
        "hugepage_limits", "unified",
    )

    def __init__(self, **values):
        for name in self.__slots__:
            setattr(self, name, values.pop(name, None))
        if values:
            raise TypeError(f"unknown resources: {sorted(values)}")

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, [], {}) for name in self.__slots__)


class IdMapping:
    """One line of a uid_map or gid_map (user_namespaces(7)): `size` ids from
    `container_id` inside the namespace are `host_id`... outside it."""

    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int):
        self.container_id = container_id
        self.host_id = host_id
        self.size = size


class Personality:
    """`linux.personality`: the execution domain (personality(2)) and its flags."""

    __slots__ = ("domain", "flags")

    def __init__(self, domain: str, flags=()):
        self.domain = domain  # "LINUX" or "LINUX32"
        self.flags = list(flags)


class SeccompArg:
    __slots__ = ("index", "value", "value_two", "op")

    def __init__(self, index: int, value: int, value_two: int, op: str):
        self.index = index
        self.value = value
        self.value_two = value_two
        self.op = op


class SyscallRule:
    __slots__ = ("names", "action", "errno_ret", "args")

    def __init__(self, names, action: str, errno_ret=None, args=()):
        self.names = list(names)
        self.action = action
        self.errno_ret = errno_ret
        self.args = list(args)


class Seccomp:
    """`linux.seccomp`. Names (actions, operators, architectures, flags) are checked by
    pyrun.linux.seccomp, which knows what this libseccomp and kernel support."""

    __slots__ = ("default_action", "default_errno_ret", "architectures", "flags",
                 "listener_path", "listener_metadata", "syscalls")

    def __init__(self, default_action: str, default_errno_ret=None, architectures=(),
                 flags=(), listener_path="", listener_metadata="", syscalls=()):
        self.default_action = default_action
        self.default_errno_ret = default_errno_ret
        self.architectures = list(architectures)
        self.flags = list(flags)
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.syscalls = list(syscalls)


class Linux:
    __slots__ = (
        "cgroups_path",
        "device_rules",
        "devices",
        "gid_mappings",
        "intel_rdt",
        "masked_paths",
        "mount_label",
        "namespaces",
        "personality",
        "readonly_paths",
        "resources",
        "rootfs_propagation",
        "seccomp",
        "sysctl",
        "time_offsets",
        "uid_mappings",
    )

    def __init__(self):
        self.namespaces: list[Namespace] = []
        self.devices: list[Device] = []
        self.masked_paths: list[str] = []
        self.readonly_paths: list[str] = []
        self.rootfs_propagation = ""
        self.sysctl: dict[str, str] = {}
        self.cgroups_path = ""
        self.resources = Resources()
        self.device_rules: list[DeviceRule] = []
        self.seccomp: Seccomp | None = None
        self.uid_mappings: list[IdMapping] = []
        self.gid_mappings: list[IdMapping] = []
        self.time_offsets: dict[str, tuple[int, int]] = {}  # clock -> (secs, nanosecs)
        self.personality: Personality | None = None
        self.mount_label = ""
        self.intel_rdt = None

    def namespace(self, type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == type:
                return ns
        return None

    def owns(self, type: str) -> bool:
        """The container gets a new namespace of this type (listed, without a path)."""
        ns = self.namespace(type)
        return ns is not None and not ns.path
