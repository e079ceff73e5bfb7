"""Device nodes and the standard links in a container's /dev.

The nodes come from the caller (pyrun.config.defaults.dev_nodes: the default set null
zero full random urandom tty, plus the config's `linux.devices`), as objects with the
config's attributes (path, type, major, minor, file_mode, uid, gid). The /dev/fd,
/dev/std{in,out,err} and /dev/ptmx links are this module's. All are made through fds
resolved inside the rootfs (pyrun.linux.paths), never through host path strings.
"""

import os
import stat

from pyrun.linux import paths
from pyrun.linux import syscalls as real_syscalls

DEFAULT_LINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_FILE_TYPE = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_node(rootfd: int, path: str, kind: str, major: int, minor: int, mode: int,
                uid: int, gid: int, sc=real_syscalls) -> None:
    """mknod inside the root; an existing entry of that name is replaced. `kind` is c
    (char), b (block), u (unbuffered char) or p (fifo)."""
    parent, name = os.path.split(path)
    pfd = paths.make_dirs(rootfd, parent, sc=sc)
    try:
        try:
            os.unlink(name, dir_fd=pfd)
        except FileNotFoundError:
            pass
        dev = os.makedev(major, minor) if kind != "p" else 0
        sc.mknod(name, _FILE_TYPE[kind] | (mode & 0o7777), dev, dir_fd=pfd)
        sc.chown(name, uid, gid, dir_fd=pfd)
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


def bind_node(rootfd: int, path: str, sc=real_syscalls) -> None:
    """The host's node at `path` bound onto an empty file at `path` in the root: what a
    user namespace, where mknod(2) is not permitted, gets instead (runc does the same)."""
    fd = paths.make_file(rootfd, path, sc=sc)
    try:
        sc.mount(path, paths.fd_path(fd), None, sc.MS_BIND)
    finally:
        os.close(fd)


def populate_dev(rootfd: int, nodes, sc=real_syscalls, bind: bool = False) -> None:
    """Create `nodes` (mode 0666 and owner 0 where they say None), or with `bind` bind
    the host's, then the links."""
    for d in nodes:
        if bind:
            bind_node(rootfd, d.path, sc)
        else:
            create_node(rootfd, d.path, d.type, d.major, d.minor,
                        0o666 if d.file_mode is None else d.file_mode, d.uid or 0,
                        d.gid or 0, sc)
    for target, link in DEFAULT_LINKS:
        create_link(rootfd, target, link, sc)
