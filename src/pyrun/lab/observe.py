"""What the checkers read about a process from outside it: /proc/PID/{ns,status,mountinfo,
cgroup,root,cwd}, and the process tree. Nothing here changes anything.

Every reader takes a host pid (as the checker sees it) and raises ProcessGone when the
process has exited meanwhile, so that a check can say so rather than crash.
"""

import os

from pyrun.config.model import CAPABILITY_NUMBERS

CAP_NAMES = {number: "CAP_" + name for name, number in CAPABILITY_NUMBERS.items()}


class ProcessGone(Exception):
    pass


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(path) from None


def ns_inode(pid: int | str, kind: str) -> int:
    """The namespace's identity: the inode of /proc/PID/ns/KIND (mnt, pid, net, uts, user,
    ipc, cgroup, pid_for_children). Two processes share a namespace iff these are equal."""
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(f"/proc/{pid}/ns/{kind}") from None


def status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict: Uid, CapEff, NoNewPrivs, Seccomp, NSpid, PPid, ..."""
    out = {}
    for line in _read(f"/proc/{pid}/status").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def caps(mask: str) -> set[int]:
    """A capability mask from /proc/PID/status ("000001ffffffffff") as capability numbers."""
    bits = int(mask, 16)
    return {n for n in range(64) if bits >> n & 1}


def cap_names(numbers) -> str:
    return ", ".join(CAP_NAMES.get(n, str(n)) for n in sorted(numbers)) or "none"


def stat_fields(pid: int) -> tuple[str, int]:
    """(state letter, parent pid) from /proc/PID/stat."""
    text = _read(f"/proc/{pid}/stat")
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (or sleeping): not gone, not a zombie waiting to be reaped."""
    try:
        return stat_fields(pid)[0] not in ("Z", "X")
    except ProcessGone:
        return False


def cmdline(pid: int) -> list[str]:
    raw = _read(f"/proc/{pid}/cmdline")
    return raw.split("\0")[:-1] if raw.endswith("\0") else raw.split("\0")


def parents() -> dict[int, int]:
    """pid -> parent pid, for every process this checker can see."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out[int(entry)] = stat_fields(int(entry))[1]
            except (ProcessGone, ValueError, IndexError):
                pass
    return out


def descendants(pid: int) -> list[int]:
    """Every process below `pid` in the process tree (breadth first)."""
    children: dict[int, list[int]] = {}
    for child, parent in parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


class Mount:
    """One line of /proc/PID/mountinfo (proc(5))."""

    __slots__ = ("id", "parent", "dev", "root", "point", "options", "optional", "fstype",
                 "source")

    def __init__(self, line: str):
        head, _, tail = line.partition(" - ")
        f = head.split()
        self.id, self.parent, self.dev, self.root, self.point = int(f[0]), int(f[1]), f[2], \
            _unescape(f[3]), _unescape(f[4])
        self.options = f[5]
        self.optional = f[6:]
        t = tail.split()
        self.fstype, self.source = t[0], t[1] if len(t) > 1 else ""

    @property
    def shared(self) -> bool:
        return any(o.startswith("shared:") for o in self.optional)

    def __repr__(self):
        return f"{self.fstype} on {self.point}"


def _unescape(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def mountinfo(pid: int) -> list[Mount]:
    """The mount table as `pid` sees it: mount points relative to its root."""
    return [Mount(line) for line in _read(f"/proc/{pid}/mountinfo").splitlines() if line]


def cgroup_v2(pid: int) -> str | None:
    """The process's cgroup in the unified hierarchy ("0::/path"), as this checker sees it."""
    for line in _read(f"/proc/{pid}/cgroup").splitlines():
        hid, _, rest = line.partition(":")
        if hid == "0":
            return rest.partition(":")[2]
    return None


def same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
