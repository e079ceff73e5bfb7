"""User namespaces (user_namespaces(7)): the id maps a new one gets, written by the parent
(root needs no newuidmap), and becoming root inside it."""

from pyrun.linux import syscalls as real_syscalls


def map_text(mappings) -> str:
    """uid_map/gid_map lines, "inside outside count", from objects with the config's
    attributes (container_id, host_id, size)."""
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def write_id_maps(pid: int, uid_mappings, gid_mappings, sc=real_syscalls) -> None:
    """Give `pid`'s new user namespace its maps, each in one write as the kernel wants.
    setgroups(2) stays allowed: a map written by root in the parent namespace needs no
    "deny" (that is for unprivileged writers)."""
    sc.write_file(f"/proc/{pid}/uid_map", map_text(uid_mappings))
    sc.write_file(f"/proc/{pid}/gid_map", map_text(gid_mappings))


def become_root(sc=real_syscalls) -> None:
    """Take uid and gid 0 of the user namespace we are in (new or joined), so that what
    the init makes is owned by its root, and drop supplementary groups from outside."""
    sc.setgroups([])
    sc.setresgid(0, 0, 0)
    sc.setresuid(0, 0, 0)


def timens_offsets_text(offsets: dict) -> str:
    """/proc/self/timens_offsets lines, "clock secs nanosecs" (time_namespaces(7))."""
    return "".join(f"{clock} {secs} {nanosecs}\n"
                   for clock, (secs, nanosecs) in offsets.items())
