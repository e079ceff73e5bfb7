"""Facts about processes read from /proc, and waiting for one that is not our child."""

import os
import select


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot); None if gone or a zombie.

    Together with the pid it names a process uniquely: a reused pid has another start time.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def pidfd_open(pid: int) -> int | None:
    """A pidfd for `pid`, or None if the process is already gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_gone(pidfd: int, timeout: float) -> bool:
    """Wait until the process behind `pidfd` has exited (works for non-children too)."""
    ready, _, _ = select.select([pidfd], [], [], timeout)
    return bool(ready)
