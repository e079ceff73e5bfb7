"""Switching the process to the container's uid, gid and supplementary groups."""

from pyrun.linux import syscalls as real_syscalls


def switch(uid: int, gid: int, additional_gids: list[int], sc=real_syscalls) -> None:
    """Groups first (they need CAP_SETGID, which setresuid away from root takes away)."""
    sc.setgroups(additional_gids)
    sc.setresgid(gid, gid, gid)
    sc.setresuid(uid, uid, uid)


def set_oom_score_adj(value: int, sc=real_syscalls) -> None:
    sc.write_file("/proc/self/oom_score_adj", str(value))
