"""What the init's modules share: the command line's options, forking into the
container's cgroup, entering a root with chroot, and dying with one line."""

import errno
import os

from pyrun.errors import PyrunError, wrap
from pyrun.linux import capabilities
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


class InitOptions:
    """What the command line and the parent add to the config (never a copy of it)."""

    __slots__ = ("fifo_fd", "host_proc_fd", "rootfs_fd", "rootfs_parent_fd", "bind_sources",
                 "no_pivot", "no_new_keyring", "preserve_fds", "cgroup_mounts", "close_fds",
                 "seccomp", "placement")

    def __init__(self, fifo_fd, host_proc_fd, rootfs_fd=-1, rootfs_parent_fd=-1,
                 no_pivot=False, no_new_keyring=False, preserve_fds=0, cgroup_mounts=(),
                 close_fds=(), seccomp=None, placement=None):
        self.fifo_fd = fifo_fd  # O_PATH on exec.fifo, opened by P: the init's view may lack it
        # The host's /proc, to reopen the fifo through once the rootfs is entered (the
        # container may have no /proc). Closed before anything of the container's runs.
        self.host_proc_fd = host_proc_fd
        # O_PATH on the rootfs and on its parent, opened by the intermediate in the new
        # mount namespace, while still the host's root (see intermediate.py).
        self.rootfs_fd = rootfs_fd
        self.rootfs_parent_fd = rootfs_parent_fd
        self.bind_sources: dict[int, int] = {}  # in a user namespace: mount index -> O_PATH
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds  # fds 3 .. 3+N-1 stay open in the container
        self.cgroup_mounts = list(cgroup_mounts)  # (name, host dir, version) for "cgroup"
        self.close_fds = list(close_fds)  # P's fds the children must not keep (the lock)
        # linux.seccomp compiled by P (pyrun.linux.seccomp.Filter), loaded by the process
        self.seccomp = seccomp
        # how the init enters its cgroup (pyrun.linux.cgroups.base.Placement)
        self.placement = placement


# clone3 without CLONE_INTO_CGROUP: a kernel before 5.7 refuses the flag, before any
# process is made. (A refusal after that, of the cgroup, would leave a new pid namespace
# unable to fork again: its first process failed. Hence no clone3 by a user namespace's
# root, who may not write the cgroup: Placement.without_clone.)
KERNEL_WITHOUT_CLONE_INTO_CGROUP = (errno.ENOSYS, errno.E2BIG, errno.EINVAL)


def fork_into(placement, sc=real_syscalls) -> int:
    """fork(), the child born in the container's cgroup v2 directory when it can be
    (it then writes itself only into the v1 hierarchies, see Placement.join_self);
    otherwise a plain fork, and the child writes itself into cgroup.procs too."""
    if placement is not None and placement.clone_fd >= 0:
        try:
            pid = sc.fork_into_cgroup(placement.clone_fd)
        except OSError as e:
            if e.errno not in KERNEL_WITHOUT_CLONE_INTO_CGROUP:
                raise PyrunError("fork into the container's cgroup", e.strerror) from None
        else:
            placement.born_inside = pid == 0
            return pid
    return os.fork()


def join_cgroup(placement, late_too: bool = True) -> None:
    """First thing in a child given a placement: into the container's cgroup, so that
    every pid from here on is the container's; and its memory too, unless `late_too` is
    False (the init: then join_cgroup_late once its setup is done)."""
    if placement is not None:
        with wrap("join cgroup"):
            placement.join_self()
            if late_too:
                placement.join_late()


def join_cgroup_late(placement) -> None:
    if placement is not None:
        with wrap("join cgroup (memory)"):
            placement.join_late()


def chroot_into(root_fd: int, sc=real_syscalls) -> None:
    """Make the directory `root_fd` our root and cwd (the caller wraps the error). Reads
    what later steps need from the host's /proc first: that root may have none mounted."""
    capabilities.last_cap()
    sc.fchdir(root_fd)
    sc.chroot(".")
    sc.chdir("/")


def report_and_exit(chan: Channel, err: BaseException):
    """Send why we give up to P, as one line, and exit; never returns."""
    if isinstance(err, PyrunError):
        message = err.message
    elif isinstance(err, OSError):
        message = f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")
    else:
        message = f"{type(err).__name__}: {err}"
    try:
        chan.send_error(message)
    finally:
        os._exit(1)
