"""The OCI config as plain objects: every type of config.json, and nothing else.

Pure data: no parsing (config.parse), no kernel calls (pyrun.linux). The kernel modules
take these objects (or plain values) without importing this module: they read attributes
by the names defined here.

Plain classes with __slots__: cheap to import (dataclasses pulls in inspect, ~10 ms on
every `pyrun run`).
"""

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
RLIMIT_NAMES = (
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
)
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
# Every capability config.json may name (capabilities(7), without the CAP_ prefix), with
# its number in the kernel's numbering (include/uapi/linux/capability.h).
CAPABILITY_NUMBERS = {
    name: number for number, name in enumerate((
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ))
}


def capability_number(name: str) -> int:
    """'CAP_SYS_ADMIN' (any case, prefix optional) -> 21; KeyError if unknown."""
    return CAPABILITY_NUMBERS[name.upper().removeprefix("CAP_")]
DEVICE_TYPES = ("c", "b", "u", "p")
PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                "unbindable", "runbindable")
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


class Root:
    __slots__ = ("path", "readonly")

    def __init__(self, path: str, readonly: bool):
        self.path = path  # absolute, resolved against the bundle
        self.readonly = readonly


class Mount:
    __slots__ = ("destination", "options", "source", "type")

    def __init__(self, destination: str, type: str, source: str, options: list[str]):
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options


class User:
    __slots__ = ("additional_gids", "gid", "uid", "umask")

    def __init__(self, uid=0, gid=0, umask=None, additional_gids=()):
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additional_gids = list(additional_gids)


class Rlimit:
    __slots__ = ("hard", "soft", "type")

    def __init__(self, type: str, soft: int, hard: int):
        self.type = type
        self.soft = soft
        self.hard = hard


class Process:
    __slots__ = (
        "apparmor_profile",
        "args",
        "capabilities",
        "console_size",
        "cwd",
        "env",
        "no_new_privileges",
        "oom_score_adj",
        "rlimits",
        "selinux_label",
        "terminal",
        "user",
    )

    def __init__(self, args, env=(), cwd="/", user=None, terminal=False, console_size=None,
                 capabilities=None, rlimits=(), no_new_privileges=False, oom_score_adj=None,
                 apparmor_profile="", selinux_label=""):
        self.args = list(args)
        self.env = list(env)
        self.cwd = cwd
        self.user = user or User()
        self.terminal = terminal
        self.console_size = console_size  # (height, width) or None
        # {set name: [capability names]}; None means "not given" (keep none).
        self.capabilities = capabilities
        self.rlimits = list(rlimits)
        self.no_new_privileges = no_new_privileges
        self.oom_score_adj = oom_score_adj
        self.apparmor_profile = apparmor_profile
        self.selinux_label = selinux_label

    def capability_numbers(self) -> dict[str, set[int]]:
        """{set name: capability numbers}, every set present (empty when not given)."""
        given = self.capabilities or {}
        return {name: {capability_number(c) for c in given.get(name, [])}
                for name in CAPABILITY_SETS}


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


class Hook:
    """One entry of config.json's `hooks.<name>` lists: path, argv, environ, timeout (s)."""

    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, path: str, args=(), env=(), timeout: int | None = None):
        self.path = path
        self.args = list(args)
        self.env = list(env)
        self.timeout = timeout  # seconds; None waits for as long as the hook runs

    def __repr__(self) -> str:
        return f"Hook({self.path!r}, args={self.args!r}, env={self.env!r}, " \
               f"timeout={self.timeout!r})"


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
        self.seccomp = None
        self.uid_mappings: list = []
        self.gid_mappings: list = []
        self.personality = None
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


class Config:
    __slots__ = (
        "annotations",
        "bundle",
        "domainname",
        "hooks",
        "hooks_json",
        "hostname",
        "linux",
        "mounts",
        "oci_version",
        "process",
        "process_json",
        "root",
    )

    def __init__(self, bundle: str):
        self.bundle = bundle
        self.oci_version = ""
        self.root: Root | None = None
        self.mounts: list[Mount] = []
        self.process: Process | None = None
        self.process_json: dict = {}  # kept in state.json: exec starts from it
        self.hostname = ""
        self.domainname = ""
        self.hooks: dict[str, list[Hook]] = {}
        self.hooks_json: dict = {}  # kept in state.json: start and delete run some
        self.annotations: dict[str, str] = {}
        self.linux = Linux()
