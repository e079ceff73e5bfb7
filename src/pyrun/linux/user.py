"""Switching the process to the container's uid, gid and supplementary groups."""

import os


def switch(uid: int, gid: int, additional_gids: list[int]) -> None:
    """Groups first (they need CAP_SETGID, which setresuid away from root takes away)."""
    os.setgroups(additional_gids)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def set_oom_score_adj(value: int) -> None:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))
