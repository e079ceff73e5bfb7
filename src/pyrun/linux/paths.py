"""Resolving paths inside a container's rootfs without ever leaving it.

A rootfs is untrusted: `/etc` may be a symlink to `/../../host/etc`. Every path a container
config names is resolved with openat2(RESOLVE_IN_ROOT) relative to an fd on the rootfs, so
symlinks and `..` are resolved as if the rootfs were `/`. Mounts then target the resolved
object through its `/proc/self/fd/N` magic link, never through a path string.
"""

import os

from pyrun.linux import syscalls as real_syscalls

O_PATH = os.O_PATH | os.O_CLOEXEC


def fd_path(fd: int) -> str:
    """A path that names exactly the object behind `fd` (for mount(2) and friends)."""
    return f"/proc/self/fd/{fd}"


def open_in_root(rootfd: int, path: str, flags: int = O_PATH, sc=real_syscalls) -> int:
    return sc.openat2(rootfd, path, flags | os.O_CLOEXEC, 0, sc.RESOLVE_IN_ROOT)


def make_dirs(rootfd: int, path: str, mode: int = 0o755, sc=real_syscalls) -> int:
    """mkdir -p of `path` inside the root; returns an O_PATH fd on the final directory."""
    fd = os.dup(rootfd)
    walked = ""
    try:
        for part in [p for p in path.split("/") if p]:
            walked += "/" + part
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass
            # Re-resolve from the root: `part` may be a symlink, which must stay inside.
            next_fd = open_in_root(rootfd, walked, O_PATH | os.O_DIRECTORY, sc)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_file(rootfd: int, path: str, sc=real_syscalls) -> int:
    """Create `path` as an empty file (if missing) inside the root; returns an O_PATH fd."""
    parent, name = os.path.split(path.rstrip("/"))
    pfd = make_dirs(rootfd, parent, sc=sc)
    try:
        try:
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644,
                         dir_fd=pfd)
            os.close(fd)
        except FileExistsError:
            pass
    finally:
        os.close(pfd)
    return open_in_root(rootfd, path, O_PATH, sc)


def make_mountpoint(rootfd: int, path: str, is_dir: bool, sc=real_syscalls) -> int:
    """The object to mount on, created if missing: a directory, or a file for a file bind."""
    if is_dir:
        return make_dirs(rootfd, path, sc=sc)
    try:
        return open_in_root(rootfd, path, O_PATH, sc)
    except FileNotFoundError:
        return make_file(rootfd, path, sc=sc)
