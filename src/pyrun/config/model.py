"""The OCI config as plain objects: every type of config.json, and nothing else (those of
the `linux` section in model_linux.py).

Pure data: no parsing (config.parse), no kernel calls (pyrun.linux). The kernel modules
take these objects (or plain values) without importing this module: they read attributes
by the names defined here.

Plain classes with __slots__: cheap to import (dataclasses pulls in inspect, ~10 ms on
every `pyrun run`).
"""

from pyrun.config.model_linux import Linux

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


class IOPriority:
    """process.ioPriority (ioprio_set(2)): class IOPRIO_CLASS_RT, _BE or _IDLE, 0..7."""

    __slots__ = ("io_class", "priority")

    def __init__(self, io_class: str, priority: int):
        self.io_class = io_class
        self.priority = priority


class Scheduler:
    """process.scheduler (sched_setattr(2)): policy SCHED_*, and what that policy reads."""

    __slots__ = ("policy", "nice", "priority", "flags", "runtime", "deadline", "period")

    def __init__(self, policy: str, nice=0, priority=0, flags=(), runtime=0, deadline=0,
                 period=0):
        self.policy = policy
        self.nice = nice
        self.priority = priority
        self.flags = list(flags)
        self.runtime = runtime
        self.deadline = deadline
        self.period = period


class CPUAffinity:
    """process.execCPUAffinity: CPU lists ("0-3,7") for a process pyrun starts in a
    running container, before (`initial`) and after (`final`) it joins its cgroup."""

    __slots__ = ("initial", "final")

    def __init__(self, initial: str = "", final: str = ""):
        self.initial = initial
        self.final = final


class Process:
    __slots__ = (
        "apparmor_profile",
        "args",
        "capabilities",
        "console_size",
        "cwd",
        "env",
        "exec_cpu_affinity",
        "io_priority",
        "no_new_privileges",
        "oom_score_adj",
        "rlimits",
        "scheduler",
        "selinux_label",
        "terminal",
        "user",
    )

    def __init__(self, args, env=(), cwd="/", user=None, terminal=False, console_size=None,
                 capabilities=None, rlimits=(), no_new_privileges=False, oom_score_adj=None,
                 apparmor_profile="", selinux_label="", io_priority=None, scheduler=None,
                 exec_cpu_affinity=None):
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
        self.io_priority: IOPriority | None = io_priority
        self.scheduler: Scheduler | None = scheduler
        self.exec_cpu_affinity: CPUAffinity | None = exec_cpu_affinity

    def capability_numbers(self) -> dict[str, set[int]]:
        """{set name: capability numbers}, every set present (empty when not given)."""
        given = self.capabilities or {}
        return {name: {capability_number(c) for c in given.get(name, [])}
                for name in CAPABILITY_SETS}


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
        "seccomp_json",
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
        self.seccomp_json: dict | None = None  # kept in state.json: exec loads it too
        self.annotations: dict[str, str] = {}
        self.linux = Linux()
