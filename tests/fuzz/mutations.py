"""Generated and mutated config.json documents, and the rules that keep them harmless.

`plans(command)` is a hypothesis strategy of `Plan`s: the runc-like default config
(tests/integration/bundles.default_config), some optional sections added with valid values,
then one to three mutations (a wrong type at any JSON path, a field removed, an unknown
field, a string made odd, a list emptied or doubled, or a field-specific value from the
pools below), and sometimes a byte-level mutation of the JSON text (truncation, a flipped
bit, inserted bytes, a byte order mark, deep nesting).

Plans hold placeholders, resolved per case by `Plan.render(case_dir)`:

    @CASE@      the case's directory (bind sources live there)      @ID@      the case id
    @BUNDLE@    the bundle                                          @HOOKS@   hook programs
    @NS:TYPE@   a namespace the session owns (pid, network, ...)    @NOTNS@   a plain file
    @CURRENT:KEY@  the host's current value of sysctl KEY (a write of it changes nothing)

Safety (`sanitize`, applied after every mutation, text mutations included): whatever the
mutations did, the rootfs is the case's busybox copy or something that does not exist; bind
and mount sources, namespace paths and hook programs are inside the case's or the session's
directory, or do not exist; cgroupsPath resolves below /pyrun/<id> (or to "/", which must be
refused); mount options name no host path; sysctl keys do not climb with "..";
and for `run`, the program is `true` (or one that cannot start).
"""

import json
import os
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.integration.bundles import default_config

NS_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
CAPS = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")
RLIMITS = ("RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE",
           "RLIMIT_RSS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS",
           "RLIMIT_LOCKS", "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE",
           "RLIMIT_RTPRIO", "RLIMIT_RTTIME")
HOOK_KINDS_CREATE = ("prestart", "createRuntime", "createContainer", "poststop")
HOOK_KINDS = HOOK_KINDS_CREATE + ("startContainer", "poststart")
MARKER = "PYRUN_FUZZ_CASE"

# What `run` may start: `true`, or something that cannot start at all.
RUN_PROGRAMS = ("true", "/bin/true", "/bin/nonexistent", "", "/bin", "true\0x",
                "no-such-program", "/bin/true/", "/dev/null", "\ud800", "./true")


# --- the pools: odd values, field by field --------------------------------------------------------

BIG_INTS = (-1, 0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63,
            2**64 - 1, 2**64, 2**100, -(2**31), -(2**63), -(2**64), 10**400)
ODD_STRINGS = ("", " ", ".", "..", "/", "//", "/..", "../../../..", "-", "--help", "*", "\t",
               "\n", "a\nb", "a\rb", "\x1b[31mred", "\u202eevil", "\ud800", "\udcff", "é",
               "😀", "\ufeff", "a=b", "=", "NaN", "%s%n", "$PATH", "~", "\\", "\0", "a\0b",
               "x" * 256, "x" * 4097)
MOUNT_OPTIONS = (
    "defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync",
    "async", "dirsync", "remount", "mand", "nomand", "noatime", "atime", "nodiratime",
    "diratime", "relatime", "norelatime", "strictatime", "nostrictatime", "lazytime",
    "nolazytime", "nosymfollow", "symfollow", "bind", "rbind", "private", "rprivate",
    "shared", "rshared", "slave", "rslave", "unbindable", "runbindable", "tmpcopyup",
    "idmap", "ridmap", "rro", "rrw", "rnosuid", "rnodev", "rnoexec", "rnoatime",
    "rrelatime", "rnosymfollow", "mode=755", "mode=1777", "mode=99999", "mode=abc",
    "size=65536k", "size=1", "size=-1", "size=1E", "nr_inodes=1", "uid=0", "gid=5",
    "uid=-1", "ptmxmode=0666", "newinstance", "x-systemd.automount", "_netdev", "loop",
    "user", "noauto", "nofail", "ro,rw", "", " ", "RO", "bind ", "=", "context=x",
    "a" * 5000, "nosuid\0", "é", "\ud800")
MOUNT_TYPES = ("bind", "tmpfs", "proc", "sysfs", "mqueue", "devpts", "cgroup", "cgroup2",
               "none", "", "nosuchfs", "ramfs", "overlay", "hugetlbfs", "TMPFS", "rbind",
               "tmpfs\0", "\ud800", "x" * 300)
MOUNT_DESTINATIONS = (
    "/mnt", "mnt", "tmp", "/tmp/../mnt", "/..", "/", "/../../..", "/proc", "/proc/self",
    "/proc/sys", "/proc/1", "/sys", "/dev", "/dev/null", "/dev/pts", "/dev/ptmx",
    "/etc/passwd", "/bin/busybox", "/bin", "/a/b/c/d/e/f/g", "/mnt/" + "x" * 255,
    "/mnt/" + "x" * 256, "/" + "a/" * 2100, "/mnt\0x", "/mnt\n", "/é", "//mnt//",
    "/./mnt/.", "/mnt/..", "/dev/../proc", "/sys/fs/cgroup", "/run", "/proc/self/fd/0",
    "/dev/shm", "/dev/mqueue", "/\ud800", " /mnt", "/mnt ")
MOUNT_SOURCES = ("@CASE@/src", "@CASE@/srcfile", "@CASE@/src/file", "../src", "../srcfile",
                 "nonexistent", "", "none", "tmpfs", "proc", "@CASE@/nonexistent",
                 "@CASE@/not-a-ns", "rootfs", "rootfs/bin", "@BUNDLE@/rootfs/proc",
                 "/nonexistent/x", "@CASE@/src\0x", "@CASE@/src/../srcfile", "@HOOKS@/dir",
                 "@CASE@/src/", "@CASE@/\ud800", "@BUNDLE@/config.json")
ROOT_PATHS = ("rootfs", "./rootfs", "rootfs/", "rootfs/.", "@BUNDLE@/rootfs",
              "../bundle/rootfs", "nonexistent", "config.json", "", ".", "rootfs\0x",
              "rootfs/bin/busybox", "rootfs/../rootfs", "//rootfs", "@CASE@/src",
              "rootfs/bin", "\ud800", "x" * 5000, "rootfs\n")
CGROUP_PATHS = ("", "/pyrun/@ID@", "/pyrun/@ID@/sub/sub2", "pyrun/@ID@",
                "/pyrun/@ID@/../@ID@x", "/pyrun//@ID@//", "/../../..", "/", "..", ".",
                "pyrun/@ID@:x:y", "/pyrun/@ID@\0", "/pyrun/@ID@/" + "x" * 300,
                "/pyrun/@ID@/cgroup.procs", "/pyrun/@ID@/tasks", "/pyrun/@ID@/notify_on_release",
                "system.slice:pyrun:@ID@", "/pyrun/@ID@/\ud800", "/pyrun/@ID@/é",
                "/pyrun/@ID@/a b", "/pyrun/@ID@/" + "d/" * 300, "/pyrun/@ID@/.",
                "/pyrun/@ID@\n")
NS_PATHS = ("", "@NOTNS@", "/nonexistent/ns", "relative/ns", "@CASE@", "@NS:pid@",
            "@NS:network@", "@NS:mount@", "@NS:uts@", "@NS:ipc@", "@NS:cgroup@",
            "@CASE@/ns\0", "@HOOKS@/dir")
HOOK_PATHS = ("@HOOKS@/ok", "@HOOKS@/fail", "@HOOKS@/slow", "@HOOKS@/noexec", "@HOOKS@/dir",
              "@HOOKS@/badinterp", "@HOOKS@/killself",
              "@HOOKS@/nonexistent", "/bin/true", "/bin/false", "relative/hook", "",
              "@HOOKS@/ok\0x", "@HOOKS@/./ok", "@HOOKS@/ok/", "@HOOKS@/\ud800")
ENV_ENTRIES = ("PATH=/bin", "A=b", "NOEQUALS", "=x", "A=", "A=\0", "A\0=b", "A=b\nc", "é=é",
               "A=\ud800", "PATH=", "A=" + "x" * 100_000, "A=1", "A=2", "", " =x",
               "LD_PRELOAD=/nonexistent.so", "HOME=/root", "TERM=xterm")
SYSCTL_KEYS = ("kernel.shmmax", "kernel.msgmax", "kernel.sem", "kernel.shm_rmid_forced",
               "fs.mqueue.queues_max", "fs.mqueue.msg_max", "net.ipv4.ip_forward",
               "net.ipv4.conf.all.forwarding", "net.core.somaxconn", "kernel.hostname",
               "kernel.domainname", "net.ipv4.nonexistent", "net.", "net", "fs.mqueue.",
               "net/ipv4/ip_forward", "net.ipv4/ip_forward", "", "net.ipv4.ip_forward\0",
               "net.ipv6.conf.lo.disable_ipv6", "kernel.msgmnb", "net.ipv4.ping_group_range",
               "Net.ipv4.ip_forward", "net.ipv4.ip_forward ", "net.\ud800")
# Keys that are not namespaced: pyrun must refuse them; the value is the host's own, so
# that even a runtime that wrongly writes it changes nothing.
HOST_SYSCTLS = ("vm.swappiness", "kernel.pid_max", "kernel.core_pattern")
SYSCTL_VALUES = ("1", "0", "", "abc", "-1", "99999999999999999999", "1 2 3 4", "\0", "1\n",
                 "x" * 5000, "é", "\ud800", "0 2147483647")
CPU_SETS = ("0", "0-1", "0-1000", "1-0", "", "a", "0,,1", "99999999999999999999", "-1", "0-",
            "0\0", " 0", "0-1\n")
PATHS_IN_CONTAINER = ("/proc/kcore", "/nonexistent", "proc/kcore", "", "/", "/proc", "/dev/null",
                      "/..", "/proc/self/fd", "/" + "x" * 300, "/a\0b", "/sys/fs/cgroup",
                      "/etc/passwd", "/proc/sys", "/dev", "/bin/busybox", "/proc/1/../1",
                      "/\ud800", "/proc/kcore/")
CWDS = ("/", "/tmp", "/nonexistent/deep/dir", "tmp", "", "/bin/busybox", "/proc", "/..",
        "/dev/null", "/" + "a" * 300, "/a\0b", "/" + "d/" * 2100, "/\ud800", "/etc/passwd/x",
        "/proc/self/fd/0")
HOSTNAMES = ("", "a" * 64, "a" * 65, "a\0b", "é", "-", "a b", "host\nname", "\ud800",
             "x" * 100_000, "localhost", ".", "a.b.c")
OCI_VERSIONS = ("", "1.0.2", "1.2.0", "0.1", "2.0.0", "999.999.999", "junk", "1.0.2-dev",
                "1.0.0-rc1", "\0", "1.0.2\n")
CAP_NAMES = tuple(f"CAP_{c}" for c in CAPS) + (
    "cap_chown", "CHOWN", "CAP_FOO", "", "CAP_", "CAP_CHOWN ", "CAP_LAST_CAP", "CAP_41",
    "ALL", "\0", "CAP_SYS_ADMIN\0", "CAP_\ud800", "cap_sys_admin")
RLIMIT_NAMES = RLIMITS + ("RLIMIT_FOO", "rlimit_nofile", "NOFILE", "", "RLIMIT_NOFILE\0",
                          "RLIMIT_NLIMITS")
DEVICE_PATHS = ("/dev/fuse", "/dev/null", "/dev/../etc/x", "dev/rel", "/dev/" + "x" * 300,
                "/dev/pts/0", "/dev", "/", "/proc/x", "/dev/a\0b", "/dev/tty", "/dev/console",
                "/dev/fuse/", "/dev/\ud800", "/etc/passwd", "/dev/ptmx", "/dev/shm")
DEVICE_TYPES = ("c", "b", "u", "p", "x", "", "C", "cb", "\0")
ANNOTATIONS = ({"org.pyrun.network": "bridge"}, {"org.pyrun.network": "junk"},
               {"org.pyrun.publish": "8080:80"}, {"org.pyrun.ip": "10.73.0.9"},
               {"org.pyrun.ip": "999.1.1.1"}, {"": ""}, {"a": 1}, {"a": None},
               {"a\0": "b"}, {"x" * 10000: "y"})


def ints() -> st.SearchStrategy:
    return st.one_of(st.integers(-(2**16), 2**16), st.sampled_from(BIG_INTS))


def junk() -> st.SearchStrategy:
    """A value of any JSON type: what a wrong-type mutation puts at a path."""
    return st.one_of(
        st.none(), st.booleans(), ints(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from((1.0, -0.0, 0.5, 1e300, -1e-300)),
        st.text(max_size=12), st.sampled_from(ODD_STRINGS),
        st.lists(st.one_of(st.integers(), st.text(max_size=4), st.none()), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
        st.just([]), st.just({}), st.just([[]]), st.just([{}]))


def odd_strings() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40))


def string_variants(s: str) -> st.SearchStrategy:
    """`s` made odd: emptied, a NUL inside, very long, unicode, with `..` or slashes."""
    n = len(s)
    return st.one_of(
        st.just(""),
        st.integers(0, n).map(lambda i: s[:i] + "\0" + s[i:]),
        st.sampled_from((256, 4097, 100_000)).map(
            lambda k: ((s or "x") * (k // max(1, n) + 1))[:k]),
        st.text(min_size=1, max_size=30),
        st.sampled_from(ODD_STRINGS),
        st.sampled_from(("../", "./", "//", "/../", " ", "\ufeff")).map(lambda p: p + s),
        st.sampled_from(("/", "/.", "/..", "\0", " ", "\n", "\ud800")).map(lambda p: s + p),
        st.just(s.upper()),
    )


def mount_entries() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"destination": st.sampled_from(MOUNT_DESTINATIONS)},
        optional={"type": st.sampled_from(MOUNT_TYPES),
                  "source": st.sampled_from(MOUNT_SOURCES),
                  "options": st.lists(st.sampled_from(MOUNT_OPTIONS), max_size=5),
                  "uidMappings": st.just([{"containerID": 0, "hostID": 1000, "size": 1}]),
                  "x-unknown": junk()})


def namespace_lists() -> st.SearchStrategy:
    kinds = st.sampled_from(NS_TYPES + ("nosuchns", "net", "PID", ""))
    entry = st.one_of(
        kinds.map(lambda t: {"type": t}),
        st.tuples(kinds, st.sampled_from(NS_PATHS)).map(lambda p: {"type": p[0], "path": p[1]}),
        st.sampled_from(NS_TYPES).map(lambda t: {"type": t, "path": f"@NS:{t}@"}))
    return st.lists(entry, max_size=9)


def capability_sets() -> st.SearchStrategy:
    names = st.lists(st.sampled_from(CAP_NAMES), max_size=6)
    return st.fixed_dictionaries({}, optional={k: names for k in (
        "bounding", "effective", "inheritable", "permitted", "ambient")})


def rlimit_entries() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(RLIMIT_NAMES)}, optional={"soft": ints(), "hard": ints()})


def device_entries() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"path": st.sampled_from(DEVICE_PATHS), "type": st.sampled_from(DEVICE_TYPES)},
        optional={"major": ints(), "minor": ints(), "fileMode": ints(), "uid": ints(),
                  "gid": ints()})


def device_rules() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {}, optional={"allow": st.one_of(st.booleans(), junk()),
                      "type": st.sampled_from(("a", "c", "b", "x", "", "u", "p")),
                      "major": ints(), "minor": ints(),
                      "access": st.sampled_from(("rwm", "r", "", "rwmx", "mmm", "RWM"))})


def hook_entries() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"path": st.sampled_from(HOOK_PATHS)},
        optional={"args": st.lists(st.one_of(st.sampled_from(("ok", "", "\0", "a\0b",
                                                                "\ud800", "x" * 5000)),
                                             st.text(max_size=8)), max_size=3),
                  "env": st.lists(st.sampled_from(ENV_ENTRIES), max_size=3),
                  "timeout": st.one_of(st.sampled_from((0, -1, 1, 2, 2**31, 2**64, 10**30)),
                                       st.floats(0.1, 3), st.just("1"))})


def hooks_objects(command: str) -> st.SearchStrategy:
    kinds = HOOK_KINDS if command == "run" else HOOK_KINDS_CREATE
    return st.dictionaries(st.sampled_from(kinds + ("nosuchhook",)),
                           st.lists(hook_entries(), max_size=3), max_size=3)


def resources() -> st.SearchStrategy:
    mem = st.fixed_dictionaries({}, optional={k: ints() for k in (
        "limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness")} | {
        "disableOOMKiller": st.one_of(st.booleans(), junk()), "useHierarchy": st.booleans()})
    cpu = st.fixed_dictionaries({}, optional={k: ints() for k in (
        "shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "idle")} | {
        "cpus": st.sampled_from(CPU_SETS), "mems": st.sampled_from(CPU_SETS)})
    throttle = st.lists(st.fixed_dictionaries({}, optional={
        "major": ints(), "minor": ints(), "rate": ints()}), max_size=2)
    blkio = st.fixed_dictionaries({}, optional={
        "weight": ints(), "leafWeight": ints(),
        "weightDevice": st.lists(st.fixed_dictionaries({}, optional={
            "major": ints(), "minor": ints(), "weight": ints(), "leafWeight": ints()}),
            max_size=2),
        "throttleReadBpsDevice": throttle, "throttleWriteBpsDevice": throttle,
        "throttleReadIOPSDevice": throttle, "throttleWriteIOPSDevice": throttle})
    return st.fixed_dictionaries({}, optional={
        "memory": mem, "cpu": cpu,
        "pids": st.fixed_dictionaries({}, optional={"limit": ints()}),
        "blockIO": blkio,
        "hugepageLimits": st.lists(st.fixed_dictionaries({}, optional={
            "pageSize": st.sampled_from(("2MB", "1GB", "2mb", "MB", "0MB", "3KB", "")),
            "limit": ints()}), max_size=2),
        "network": st.fixed_dictionaries({}, optional={"classID": ints()}),
        "rdma": st.just({"mlx5_1": {"hcaHandles": 3}}),
        "unified": st.dictionaries(st.sampled_from(("memory.max", "pids.max", "cpu.weight",
                                                    "nosuch.file", "io.max", "", ".x", "a/b",
                                                    "memory.high")),
                                   st.sampled_from(("max", "1", "", "\0", "-1")), max_size=2),
        "devices": st.lists(device_rules(), max_size=3)})


def sysctls() -> st.SearchStrategy:
    namespaced = st.tuples(st.sampled_from(SYSCTL_KEYS), st.sampled_from(SYSCTL_VALUES))
    host = st.sampled_from(HOST_SYSCTLS).map(lambda k: (k, f"@CURRENT:{k}@"))
    return st.lists(st.one_of(namespaced, host), max_size=4).map(dict)


# Field-specific values: (path, strategy); a path is created if missing. "+" appends to a list.
def domain_ops(command: str) -> list[tuple[tuple, st.SearchStrategy]]:
    return [
        (("ociVersion",), st.sampled_from(OCI_VERSIONS)),
        (("root", "path"), st.sampled_from(ROOT_PATHS)),
        (("root", "readonly"), junk()),
        (("hostname",), st.sampled_from(HOSTNAMES)),
        (("domainname",), st.sampled_from(HOSTNAMES)),
        (("mounts", "+"), mount_entries()),
        (("mounts", "+"), mount_entries()),
        (("mounts",), st.lists(mount_entries(), max_size=4)),
        (("process", "args"), st.lists(st.sampled_from(RUN_PROGRAMS + ODD_STRINGS),
                                       max_size=4)),
        (("process", "args", "+"), odd_strings()),
        (("process", "env", "+"), st.sampled_from(ENV_ENTRIES)),
        (("process", "env"), st.lists(st.sampled_from(ENV_ENTRIES), max_size=4)),
        (("process", "cwd"), st.sampled_from(CWDS)),
        (("process", "terminal"), junk()),
        (("process", "consoleSize"), st.fixed_dictionaries({}, optional={
            "height": ints(), "width": ints()})),
        (("process", "user"), st.fixed_dictionaries({}, optional={
            "uid": ints(), "gid": ints(), "umask": ints(), "username": st.just("root"),
            "additionalGids": st.lists(ints(), max_size=3)})),
        (("process", "user", "uid"), ints()),
        (("process", "user", "additionalGids"), st.one_of(
            st.lists(ints(), max_size=4),
            st.sampled_from((65, 65537, 100_000)).map(lambda n: list(range(n))))),
        (("process", "capabilities"), capability_sets()),
        (("process", "capabilities", "bounding", "+"), st.sampled_from(CAP_NAMES)),
        (("process", "capabilities", "ambient", "+"), st.sampled_from(CAP_NAMES)),
        (("process", "rlimits"), st.lists(rlimit_entries(), max_size=4)),
        (("process", "rlimits", "+"), rlimit_entries()),
        (("process", "oomScoreAdj"), st.one_of(ints(), st.sampled_from((-1000, 1000, 1001)))),
        (("process", "noNewPrivileges"), junk()),
        (("process", "apparmorProfile"), st.sampled_from(("", "unconfined", "x"))),
        (("process", "selinuxLabel"), st.sampled_from(("", "x"))),
        (("process", "ioPriority"), st.fixed_dictionaries({"class": st.sampled_from(
            ("IOPRIO_CLASS_RT", "x"))}, optional={"priority": ints()})),
        (("process", "scheduler"), st.fixed_dictionaries({"policy": st.sampled_from(
            ("SCHED_OTHER", "SCHED_FIFO", "x"))})),
        (("linux", "namespaces"), namespace_lists()),
        (("linux", "namespaces", "+"), namespace_lists().map(lambda n: n[0] if n else {})),
        (("linux", "devices"), st.lists(device_entries(), max_size=3)),
        (("linux", "devices", "+"), device_entries()),
        (("linux", "resources"), resources()),
        (("linux", "resources", "devices", "+"), device_rules()),
        (("linux", "sysctl"), sysctls()),
        (("linux", "cgroupsPath"), st.sampled_from(CGROUP_PATHS)),
        (("linux", "maskedPaths", "+"), st.sampled_from(PATHS_IN_CONTAINER)),
        (("linux", "readonlyPaths", "+"), st.sampled_from(PATHS_IN_CONTAINER)),
        (("linux", "maskedPaths"), st.lists(st.sampled_from(PATHS_IN_CONTAINER), max_size=3)),
        (("linux", "rootfsPropagation"), st.sampled_from(
            ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable",
             "runbindable", "junk", "RSLAVE", "shared,private"))),
        (("linux", "seccomp"), st.sampled_from(({}, {"defaultAction": "SCMP_ACT_ALLOW"},
                                                None, "x"))),
        (("linux", "uidMappings"), st.just([{"containerID": 0, "hostID": 100000, "size": 1}])),
        (("linux", "personality"), st.just({"domain": "LINUX"})),
        (("linux", "intelRdt"), st.just({"closID": "x"})),
        (("linux", "mountLabel"), st.sampled_from(("", "x"))),
        (("linux", "timeOffsets"), st.just({"monotonic": {"secs": 1}})),
        (("hooks",), hooks_objects(command)),
        (("hooks", "createRuntime", "+"), hook_entries()),
        (("hooks", "poststop", "+"), hook_entries()),
        (("annotations",), st.sampled_from(ANNOTATIONS)),
    ]


# Valid optional sections, added before mutating so that mutations reach them too.
EXTRAS = {
    "resources": (("linux", "resources"), {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20}, "cpu": {"shares": 512,
                                                                        "quota": 50000,
                                                                        "period": 100000},
        "pids": {"limit": 100},
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]}),
    "devices": (("linux", "devices"), [{"path": "/dev/fuse", "type": "c", "major": 10,
                                        "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}]),
    "sysctl": (("linux", "sysctl"), {"kernel.shmmax": "65536", "net.ipv4.ip_forward": "1"}),
    "cgroupsPath": (("linux", "cgroupsPath"), "/pyrun/@ID@"),
    "propagation": (("linux", "rootfsPropagation"), "rprivate"),
    "hooks": (("hooks",), {
        "prestart": [{"path": "@HOOKS@/ok", "args": ["ok", "prestart"], "env": ["A=b"],
                      "timeout": 5}],
        "createRuntime": [{"path": "@HOOKS@/ok"}],
        "createContainer": [{"path": "@HOOKS@/ok", "args": ["ok"]}],
        "poststop": [{"path": "@HOOKS@/ok"}]}),
    "annotations": (("annotations",), {"org.example.key": "value"}),
    "domainname": (("domainname",), "example.org"),
    "bind": (("mounts", "+"), {"destination": "/mnt/src", "type": "bind",
                               "source": "@CASE@/src", "options": ["rbind", "ro"]}),
    "filebind": (("mounts", "+"), {"destination": "/etc/fuzzfile", "type": "none",
                                   "source": "../srcfile", "options": ["bind"]}),
    "tmpfs": (("mounts", "+"), {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                "options": ["nosuid", "nodev", "mode=1777"]}),
    "cgroupmount": (("mounts", "+"), {"destination": "/sys/fs/cgroup", "type": "cgroup",
                                      "source": "cgroup",
                                      "options": ["nosuid", "noexec", "nodev", "ro"]}),
    "user": (("process", "user"), {"uid": 65534, "gid": 65534, "umask": 0o22,
                                   "additionalGids": [1, 2]}),
    "oom": (("process", "oomScoreAdj"), 100),
    "cwd": (("process", "cwd"), "/tmp"),
    "rlimits": (("process", "rlimits"), [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512},
                                         {"type": "RLIMIT_NPROC", "hard": 100, "soft": 100}]),
    "cgroupns": (("linux", "namespaces", "+"), {"type": "cgroup"}),
    "masked": (("linux", "maskedPaths", "+"), "/proc/kcore"),
}


# --- plans -------------------------------------------------------------------------------------

@dataclass
class TextOp:
    kind: str  # truncate | flip | insert | bom | nest | utf16 | dupkey | trailing
    at: float = 0.0  # position, as a fraction of the text
    arg: object = None

    def apply(self, text: bytes) -> bytes:
        i = min(len(text), int(self.at * len(text)))
        if self.kind == "truncate":
            return text[:i]
        if self.kind == "flip":
            if not text:
                return text
            i = min(i, len(text) - 1)
            return text[:i] + bytes([text[i] ^ (1 << self.arg)]) + text[i + 1:]
        if self.kind == "insert":
            return text[:i] + self.arg + text[i:]
        if self.kind == "bom":
            return b"\xef\xbb\xbf" + text
        if self.kind == "nest":
            deep = b"[" * self.arg + b"]" * self.arg
            body = text.lstrip()
            if body.startswith(b"{") and len(body) > 2:
                return b'{"x-deep":' + deep + b"," + body[1:]
            return deep
        if self.kind == "utf16":
            return text.decode("utf-8", "surrogatepass").encode(self.arg, "surrogatepass")
        if self.kind == "dupkey":
            return text.replace(b"{", b'{"' + self.arg + b'": 1, ', 1)
        if self.kind == "trailing":
            return text + self.arg
        raise ValueError(self.kind)


def text_ops() -> st.SearchStrategy:
    at = st.floats(0, 1, exclude_max=True)
    return st.one_of(
        st.builds(TextOp, st.just("truncate"), at),
        st.builds(TextOp, st.just("flip"), at, st.integers(0, 7)),
        st.builds(TextOp, st.just("insert"), at, st.sampled_from(
            (b"\x00", b"\xff", b"\xc3", b",", b"]", b"}", b'"', b"\\", b"NaN", b"Infinity",
             b"-", b"1e99999", b"\xef\xbb\xbf", b"\xed\xa0\x80", b"\\u0000", b"\n" * 3))),
        st.just(TextOp("bom")),
        st.builds(TextOp, st.just("nest"), st.just(0.0), st.sampled_from((1000, 100_000))),
        st.builds(TextOp, st.just("utf16"), st.just(0.0), st.sampled_from(
            ("utf-16", "utf-16-le", "utf-32"))),
        st.builds(TextOp, st.just("dupkey"), st.just(0.0), st.sampled_from(
            (b"ociVersion", b"process", b"root", b"linux"))),
        st.builds(TextOp, st.just("trailing"), st.just(0.0), st.sampled_from(
            (b"\x00", b" x", b"{}", b"\n\n", b"\xff"))),
    )


@dataclass
class Plan:
    """A config to write, with placeholders; its mutations, for the record."""

    command: str
    doc: object
    labels: list[str] = field(default_factory=list)
    text_op: TextOp | None = None

    @property
    def label(self) -> str:
        return "; ".join(self.labels) or "(unmutated)"

    def render(self, d, cid: str) -> bytes:
        """The bytes of config.json for case directory `d` (a harness.CaseDir)."""
        doc = resolve(json.loads(json.dumps(self.doc)), d, cid)
        notes = sanitize(doc, d, cid, self.command)
        if notes:
            self.labels.append("sanitized: " + ", ".join(notes))
        text = json.dumps(doc).encode()
        if self.text_op is None:
            return text
        mutated = self.text_op.apply(text)
        parsed = parse_like_pyrun(mutated)
        if parsed is not None and sanitize(parsed, d, cid, self.command):
            self.labels.append(f"text op {self.text_op.kind} undone: it made the config unsafe")
            return text
        return mutated


def parse_like_pyrun(text: bytes):
    """The document pyrun would read from `text` (UTF-8, Python's JSON), or None."""
    try:
        return json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


def base_doc(command: str) -> dict:
    doc = default_config(args=["true"])
    doc["hostname"] = "@ID@"
    doc["process"]["env"].append(f"{MARKER}=@ID@")
    return doc


def paths_of(value, prefix=()):
    """Every (path, value) below `value`, containers included (not the top)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for k, v in items:
        p = (*prefix, k)
        yield p, v
        yield from paths_of(v, p)


def label_of(path) -> str:
    out = ""
    for k in path:
        if isinstance(k, int) or k == "+":
            out += f"[{k}]"
        else:
            out += f".{k}" if out else str(k)
    return out or "(top)"


def _parent(doc, path, create: bool):
    """The container that holds path[-1], walking (and with `create`, making) objects."""
    node = doc
    for k in path[:-1]:
        if isinstance(node, dict):
            if k not in node and create:
                node[k] = {}
            node = node.get(k)
        elif isinstance(node, list) and isinstance(k, int) and k < len(node):
            node = node[k]
        else:
            return None
    return node


def set_path(doc, path, value) -> bool:
    """Set (or with a last "+", append) `value` at `path`, making missing objects."""
    if path[-1] == "+":
        node = _parent(doc, path[:-1], create=True)
        if not isinstance(node, dict):
            return False
        lst = node.setdefault(path[-2], [])
        if not isinstance(lst, list):
            return False
        lst.append(value)
        return True
    node = _parent(doc, path, create=True)
    if isinstance(node, dict):
        node[path[-1]] = value
        return True
    if isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value
        return True
    return False


def delete_path(doc, path) -> bool:
    node = _parent(doc, path, create=False)
    if isinstance(node, dict) and path[-1] in node:
        del node[path[-1]]
        return True
    if isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        del node[path[-1]]
        return True
    return False


def get_path(doc, path):
    node = doc
    for k in path:
        node = node[k]
    return node


MUTATIONS = ("domain",) * 6 + ("type",) * 3 + ("delete", "delete", "unknown", "string",
                                                "string", "list")


@st.composite
def plans(draw, command: str = "create") -> Plan:
    doc = base_doc(command)
    for name in draw(st.sets(st.sampled_from(sorted(EXTRAS)), max_size=6)):
        path, value = EXTRAS[name]
        set_path(doc, path, json.loads(json.dumps(value)))
    plan = Plan(command, doc)
    for _ in range(draw(st.integers(1, 3))):
        _mutate(draw, plan, command)
    if draw(st.integers(0, 99)) >= 88:  # hypothesis favours small numbers: take the top
        plan.text_op = draw(text_ops())
        plan.labels.append(f"text: {plan.text_op.kind}")
    return plan


def _mutate(draw, plan: Plan, command: str) -> None:
    doc = plan.doc
    how = draw(st.sampled_from(MUTATIONS))
    if how == "domain":
        path, strategy = draw(st.sampled_from(domain_ops(command)))
        ok = set_path(doc, path, draw(strategy))
        plan.labels.append(f"{label_of(path)}: {'odd value' if ok else 'skipped'}")
        return
    paths = [p for p, _ in paths_of(doc)]
    if how == "unknown":
        dicts = [()] + [p for p, v in paths_of(doc) if isinstance(v, dict)]
        path = draw(st.sampled_from(dicts))
        key = draw(st.one_of(st.text(max_size=10), st.sampled_from(("x-unknown", "", "\0"))))
        get_path(doc, path)[key] = draw(junk())
        plan.labels.append(f"{label_of(path)}: unknown field")
        return
    if not paths:
        return
    if how == "type":
        path = draw(st.sampled_from(paths))
        set_path(doc, path, draw(junk()))
        plan.labels.append(f"{label_of(path)}: wrong type")
    elif how == "delete":
        path = draw(st.sampled_from(paths))
        delete_path(doc, path)
        plan.labels.append(f"{label_of(path)}: removed")
    elif how == "string":
        strings = [p for p, v in paths_of(doc) if isinstance(v, str)]
        if strings:
            path = draw(st.sampled_from(strings))
            set_path(doc, path, draw(string_variants(get_path(doc, path))))
            plan.labels.append(f"{label_of(path)}: odd string")
    elif how == "list":
        lists = [p for p, v in paths_of(doc) if isinstance(v, list)]
        if lists:
            path = draw(st.sampled_from(lists))
            lst = get_path(doc, path)
            op = draw(st.sampled_from(("empty", "duplicate", "append-junk", "reverse",
                                       "many")))
            if op == "empty":
                lst.clear()
            elif op == "duplicate" and lst:
                lst.append(json.loads(json.dumps(lst[draw(st.integers(0, len(lst) - 1))])))
            elif op == "append-junk":
                lst.append(draw(junk()))
            elif op == "reverse":
                lst.reverse()
            elif op == "many" and lst:
                lst.extend(json.loads(json.dumps(lst)) * draw(st.sampled_from((10, 1000))))
            plan.labels.append(f"{label_of(path)}: list {op}")


# --- placeholders and safety --------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"@(CASE|BUNDLE|HOOKS|ID|NOTNS|NS:[a-z]+|CURRENT:[a-z_.]+)@")


def resolve(value, d, cid: str):
    def one(m):
        name = m.group(1)
        if name == "CASE":
            return str(d.path)
        if name == "BUNDLE":
            return str(d.bundle)
        if name == "HOOKS":
            return str(d.hooks)
        if name == "ID":
            return cid
        if name == "NOTNS":
            return str(d.path / "not-a-ns")
        if name.startswith("NS:"):
            return d.namespaces.get(name[3:], str(d.path / "not-a-ns"))
        key = name.split(":", 1)[1]
        try:
            with open("/proc/sys/" + key.replace(".", "/")) as f:
                return f.read().strip()
        except OSError:
            return ""

    if isinstance(value, str):
        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [resolve(v, d, cid) for v in value]
    if isinstance(value, dict):
        return {resolve(k, d, cid): resolve(v, d, cid) for k, v in value.items()}
    return value


def _inside(path: str, top) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(top)]) == \
            os.path.realpath(top)
    except ValueError:
        return False


def _exists(path: str) -> bool:
    try:
        return os.path.lexists(path)
    except (ValueError, UnicodeEncodeError):
        return False


def _unresolvable(s: str) -> bool:
    """No file can have this name: the kernel never sees it."""
    if "\0" in s:
        return True
    try:
        os.fsencode(s)
    except UnicodeEncodeError:
        return True
    return False


def _cgroup_resolves_safely(s: str, cid: str) -> bool:
    if _unresolvable(s) or ":" in s or s == "":
        return True
    rel = "/" + os.path.normpath("/" + s).lstrip("/")
    if not s.startswith("/"):
        own = _own_cgroup()
        rel = "/" + os.path.normpath("/" + own + rel).lstrip("/")
    return rel == "/" or rel.startswith(f"/pyrun/{cid}")


def _own_cgroup() -> str:
    try:
        with open("/proc/self/cgroup") as f:
            lines = [ln.rstrip("\n").split(":", 2) for ln in f]
    except OSError:
        return "/"
    own = {h: p for h, _, p in lines}
    return own.get("0", next(iter(own.values()), "/"))


def sanitize(doc, d, cid: str, command: str) -> list[str]:
    """Make `doc` harmless to the host (see the module's docstring); returns what changed."""
    notes = []
    if not isinstance(doc, dict):
        return notes
    case, bundle, hooks = d.path, d.bundle, d.hooks
    root = doc.get("root")
    if isinstance(root, dict) and isinstance(root.get("path"), str):
        p = root["path"]
        if not _unresolvable(p):
            full = os.path.normpath(os.path.join(str(bundle), p))
            if _exists(full) and not _inside(full, case):
                root["path"] = "rootfs"
                notes.append("root.path")
    mounts = doc.get("mounts")
    for i, m in enumerate(mounts if isinstance(mounts, list) else []):
        if not isinstance(m, dict):
            continue
        src = m.get("source")
        if isinstance(src, str) and not _unresolvable(src):
            full = os.path.normpath(os.path.join(str(bundle), src))
            if _exists(full) and not _inside(full, case) and not _inside(full, hooks):
                m["source"] = str(case / "src")
                notes.append(f"mounts[{i}].source")
        opts = m.get("options")
        if isinstance(opts, list):
            kept = [o for o in opts if not (isinstance(o, str) and "/" in o)]
            if len(kept) != len(opts):
                m["options"] = kept
                notes.append(f"mounts[{i}].options")
    linux = doc.get("linux")
    if isinstance(linux, dict):
        nss = linux.get("namespaces")
        owned = set(d.namespaces.values())
        for i, ns in enumerate(nss if isinstance(nss, list) else []):
            if isinstance(ns, dict) and isinstance(ns.get("path"), str):
                p = ns["path"]
                if p in owned or _unresolvable(p) or not p.startswith("/"):
                    continue
                if _exists(p) and not _inside(p, case) and not _inside(p, hooks):
                    kind = ns.get("type")
                    ns["path"] = d.namespaces.get(kind, str(case / "not-a-ns")) \
                        if isinstance(kind, str) else str(case / "not-a-ns")
                    notes.append(f"linux.namespaces[{i}].path")
        cg = linux.get("cgroupsPath")
        if isinstance(cg, str) and not _cgroup_resolves_safely(cg, cid):
            linux["cgroupsPath"] = f"/pyrun/{cid}/sanitized"
            notes.append("linux.cgroupsPath")
        sysctl = linux.get("sysctl")
        if isinstance(sysctl, dict):
            for key in list(sysctl):
                if "/" in key and ".." in key:
                    del sysctl[key]
                    notes.append("linux.sysctl key")
                elif any(key.strip() == h for h in HOST_SYSCTLS) and isinstance(
                        sysctl[key], str):
                    current = resolve(f"@CURRENT:{key.strip()}@", d, cid)
                    if sysctl[key] != current:
                        sysctl[key] = current
                        notes.append(f"linux.sysctl.{key} value")
    hooks_doc = doc.get("hooks")
    if isinstance(hooks_doc, dict):
        for kind, entries in hooks_doc.items():
            for i, h in enumerate(entries if isinstance(entries, list) else []):
                if isinstance(h, dict) and isinstance(h.get("path"), str):
                    p = h["path"]
                    if p in ("/bin/true", "/bin/false") or _unresolvable(p):
                        continue
                    if _exists(p) and not _inside(p, hooks):
                        h["path"] = str(hooks / "ok")
                        notes.append(f"hooks.{kind}[{i}].path")
                    elif kind == "startContainer" and _exists(
                            os.path.join(str(d.rootfs), p.lstrip("/"))):
                        # resolved in the container: only its `true` and `false`
                        h["path"] = "/bin/true"
                        notes.append(f"hooks.{kind}[{i}].path")
    if command == "run":
        proc = doc.get("process")
        args = proc.get("args") if isinstance(proc, dict) else None
        if isinstance(args, list) and args and args[0] not in RUN_PROGRAMS:
            args[0] = "true"
            notes.append("process.args[0]")
    return notes
