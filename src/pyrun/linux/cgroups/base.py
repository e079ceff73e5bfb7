"""What both drivers share: errors, file access, and the loop that empties a cgroup."""

import _signal
import errno
import os
import time

from pyrun.errors import PyrunError


class CgroupError(PyrunError):
    """A cgroup operation failed: `what` names the file or path."""


def write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(path, e.strerror or str(e)) from None


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise CgroupError(path, e.strerror or str(e)) from None


def read_int(path: str, default: int = 0) -> int:
    """An integer file; 'max' and a missing file give `default`."""
    try:
        text = read(path)
    except CgroupError:
        return default
    return default if text == "max" else int(text)


def read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file (memory.stat, cpu.stat, memory.events): 'key value' lines."""
    out = {}
    try:
        text = read(path)
    except CgroupError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def wait_for(predicate, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CgroupError(what, f"not reached after {timeout:g} s")
        time.sleep(0.005)


def read_pids(procs_file: str) -> list[int]:
    try:
        with open(procs_file) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def remove_dir(path: str, timeout: float = 5.0) -> None:
    """rmdir a cgroup; a just-killed process leaves it a moment later (EBUSY until then)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(path, e.strerror or str(e)) from None
            time.sleep(0.005)


def subtree_pids(top: str) -> list[int]:
    """The pids in `top`'s cgroup.procs and in every cgroup below it."""
    pids = []
    for directory, _subdirs, _files in os.walk(top):
        pids += read_pids(os.path.join(directory, "cgroup.procs"))
    return pids


def remove_tree(top: str) -> None:
    """rmdir `top` and the cgroups below it, deepest first (a container may make its own)."""
    for directory, _subdirs, _files in os.walk(top, topdown=False):
        remove_dir(directory)


class Placement:
    """How a new process enters a container's cgroup without a migration's cost.

    Moving another process in (its pid into cgroup.procs) takes the kernel's global
    cgroup_threadgroup_rwsem for writing: an RCU grace period, 2-20 ms here, and every
    cgroup mkdir meanwhile waits on it. Instead the process is born in the cgroup v2
    directory (`clone_fd`: clone3's CLONE_INTO_CGROUP, see pyrun.linux.syscalls), and
    moves itself into each v1 hierarchy by writing "0" to its `tasks` (`task_fds`): a
    single thread moving itself skips that lock (0.3 ms for ten hierarchies). Should
    clone3 be refused (Linux before 5.7), the child writes itself into the v2 cgroup.procs
    instead (`procs_fd`: the slow way, still right). The fds are opened by pyrun, as root
    on the host, before the fork: the child may be in a user namespace by then."""

    __slots__ = ("clone_fd", "procs_fd", "task_fds", "late_fds", "born_inside")

    def __init__(self, clone_fd: int = -1, procs_fd: int = -1, task_fds=(), late_fds=()):
        self.clone_fd = clone_fd
        self.procs_fd = procs_fd
        self.task_fds = list(task_fds)
        # v1's memory hierarchy, joined as late as the init may (join_late; see CgroupEntry
        # in pyrun.init.container): the pages pyrun's Python touches while it builds the
        # rootfs are not the container's, and a tight memory limit must not fail on them
        # (`make min-memory`: 444 KiB; joined first, 700)
        self.late_fds = list(late_fds)
        self.born_inside = False  # set in a child that clone3 put in the v2 cgroup

    def without_clone(self) -> "Placement":
        """For a child whose parent may not clone into the cgroup (the root of a user
        namespace may not write its cgroup.procs): it writes itself in instead."""
        if self.clone_fd >= 0:
            os.close(self.clone_fd)
            self.clone_fd = -1
        return self

    def fds(self) -> list[int]:
        return [fd for fd in (self.clone_fd, self.procs_fd, *self.task_fds, *self.late_fds)
                if fd >= 0]

    def join_self(self) -> None:
        """In the child, first thing: into every hierarchy it was not born in."""
        v2 = [] if self.born_inside or self.procs_fd < 0 else [self.procs_fd]
        for fd in self.task_fds + v2:
            os.write(fd, b"0")

    def join_late(self) -> None:
        """In the child, once its setup is done (see late_fds); then closes them all."""
        for fd in self.late_fds:
            os.write(fd, b"0")
        self.close()

    def close(self) -> None:
        for fd in self.fds():
            os.close(fd)
        self.clone_fd, self.procs_fd, self.task_fds, self.late_fds = -1, -1, [], []


def open_v2_placement(directory: str, task_fds=()) -> Placement:
    flags = os.O_CLOEXEC
    clone_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | flags)
    try:
        procs_fd = os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY | flags)
    except BaseException:
        os.close(clone_fd)
        raise
    return Placement(clone_fd, procs_fd, task_fds)


def levels(mountpoint: str, path: str) -> list[str]:
    """Every directory from the top of `path` down to it: /m/a, /m/a/b, /m/a/b/c."""
    out, current = [], mountpoint
    for part in [p for p in path.split("/") if p]:
        current = os.path.join(current, part)
        out.append(current)
    return out


def owned_levels(mountpoint: str, path: str) -> list[str]:
    """The levels of `path` a create may count as its own when it makes them: all but the
    top one of a deeper path, which is a root shared by many containers (pyrun's /pyrun,
    an engine's /docker, a slice) and stays, as runc leaves it: removing it would race
    with every create under it."""
    all_levels = levels(mountpoint, path)
    return all_levels[1:] if len(all_levels) > 1 else all_levels


def remove_made(made: list[str], own: list[str]) -> None:
    """Remove what create made: the container's own directories (`own`) with whatever
    cgroups it made below them, then the levels above them that create made too, deepest
    first and only while empty (plain rmdir: one now holding another container's cgroup
    stays). A create racing with this retries its mkdir (make_dir)."""
    for d in own:
        if d in made:
            remove_tree(d)
    for d in sorted((d for d in made if d not in own), key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass  # not empty (another container's below), busy, or gone already


def make_dir(path: str) -> bool:
    """mkdir one level; True if this call made it, False if it was there. A parent that
    vanished meanwhile (a delete removing the levels it made) is FileNotFoundError, for
    the caller to start again from the top."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        if not os.path.isdir(path):  # a cgroupsPath naming a control file
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", path) from None
        return False


def signal_all(procs, sig: int) -> None:
    for pid in procs():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_until_empty(procs, timeout: float = 5.0) -> None:
    """SIGKILL every process until none is left (new ones may fork while we loop)."""
    deadline = time.monotonic() + timeout
    while pids := procs():
        signal_all(lambda: pids, _signal.SIGKILL)
        if time.monotonic() > deadline:
            raise CgroupError("cgroup", f"processes {pids} survive SIGKILL")
        time.sleep(0.005)
