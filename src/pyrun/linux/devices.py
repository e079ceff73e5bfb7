"""Device nodes and the standard links in a container's /dev.

runc's default set: null zero full random urandom tty, plus the config's `linux.devices`,
plus /dev/fd, /dev/std{in,out,err} and /dev/ptmx links. All created through fds resolved
inside the rootfs (pyrun.linux.paths), never through host path strings.
"""

import os
import stat

from pyrun.linux import paths
from pyrun.linux import syscalls as real_syscalls


class Node:
    """One device node to create: kind is c (char), b (block), u (unbuffered char), p (fifo)."""

    __slots__ = ("gid", "kind", "major", "minor", "mode", "path", "uid")

    def __init__(self, path, kind, major=0, minor=0, mode=0o666, uid=0, gid=0):
        self.path = path
        self.kind = kind
        self.major = major
        self.minor = minor
        self.mode = mode
        self.uid = uid
        self.gid = gid


DEFAULT_NODES = (
    Node("/dev/null", "c", 1, 3),
    Node("/dev/zero", "c", 1, 5),
    Node("/dev/full", "c", 1, 7),
    Node("/dev/random", "c", 1, 8),
    Node("/dev/urandom", "c", 1, 9),
    Node("/dev/tty", "c", 5, 0),
)

DEFAULT_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_FILE_TYPE = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_node(rootfd: int, node: Node, sc=real_syscalls) -> None:
    """mknod inside the root; an existing entry of that name is replaced."""
    parent, name = os.path.split(node.path)
    pfd = paths.make_dirs(rootfd, parent, sc=sc)
    try:
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        dev = os.makedev(node.major, node.minor) if node.kind != "p" else 0
        os.mknod(name, _FILE_TYPE[node.kind] | (node.mode & 0o7777), dev, dir_fd=pfd)
        os.chown(name, node.uid, node.gid, dir_fd=pfd, follow_symlinks=False)
    finally:
        os.close(pfd)


def create_link(rootfd: int, target: str, link: str, sc=real_syscalls) -> None:
    parent, name = os.path.split(link)
    pfd = paths.make_dirs(rootfd, parent, sc=sc)
    try:
        try:
            os.symlink(target, name, dir_fd=pfd)
        except FileExistsError:
            pass
    finally:
        os.close(pfd)


def populate_dev(rootfd: int, extra: list[Node], sc=real_syscalls) -> None:
    """Create the default nodes, then the configured ones (which may override a default),
    then the standard links."""
    configured = {n.path for n in extra}
    for node in DEFAULT_NODES:
        if node.path not in configured:
            create_node(rootfd, node, sc)
    for node in extra:
        create_node(rootfd, node, sc)
    for target, link in DEFAULT_LINKS:
        create_link(rootfd, target, link, sc)
