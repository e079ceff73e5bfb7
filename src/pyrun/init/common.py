"""What the init's modules share: the command line's options, and dying with one line."""

import os

from pyrun.errors import PyrunError
from pyrun.linux.sync import Channel


class InitOptions:
    """What the command line and the parent add to the config (never a copy of it)."""

    __slots__ = ("fifo_fd", "host_proc_fd", "rootfs_fd", "rootfs_parent_fd", "bind_sources",
                 "no_pivot", "no_new_keyring", "preserve_fds", "cgroup_mounts", "close_fds",
                 "seccomp", "placement", "born_in_cgroup")

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
        # how the init enters its cgroup (pyrun.linux.cgroups.base.Placement), and whether
        # the intermediate's fork already put it in the v2 part
        self.placement = placement
        self.born_in_cgroup = False


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
