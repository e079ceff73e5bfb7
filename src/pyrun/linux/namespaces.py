"""Linux namespaces: names, flags, joining (setns) and creating (unshare)."""

import os

from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

# OCI namespace type -> (clone flag, name under /proc/PID/ns/)
KINDS = {
    "user": (CLONE_NEWUSER, "user"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "uts": (CLONE_NEWUTS, "uts"),
    "network": (CLONE_NEWNET, "net"),
    "pid": (CLONE_NEWPID, "pid"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "time": (CLONE_NEWTIME, "time"),
    "mount": (CLONE_NEWNS, "mnt"),
}
# setns order: user first (it grants the rights to join the rest), mount last (joining it
# changes how every later path, /proc/... included, resolves).
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def flag(kind: str) -> int:
    return KINDS[kind][0]


def proc_name(kind: str) -> str:
    return KINDS[kind][1]


def open_paths(to_join: dict[str, str]) -> list[tuple[str, int]]:
    """Open every namespace file first (joining the mount namespace hides the host's paths),
    in JOIN_ORDER."""
    fds = []
    try:
        for kind in JOIN_ORDER:
            if kind in to_join:
                fds.append((kind, os.open(to_join[kind], os.O_RDONLY | os.O_CLOEXEC)))
    except BaseException:
        for _, fd in fds:
            os.close(fd)
        raise
    return fds


def join(fds: list[tuple[str, int]], sc=real_syscalls) -> None:
    """setns into each (kind, fd), checking the file is a namespace of that kind."""
    for kind, fd in fds:
        try:
            sc.setns(fd, flag(kind))
        finally:
            os.close(fd)


def unshare(kinds: list[str], sc=real_syscalls) -> None:
    flags = 0
    for kind in kinds:
        flags |= flag(kind)
    if flags:
        sc.unshare(flags)
