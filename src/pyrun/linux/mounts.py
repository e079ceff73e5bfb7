"""Everything about the container's mount table, in the order init uses it:

    make_root_private -> bind_rootfs -> mount_entry (each config mount) -> pivot_root or
    move_root -> mask_path / readonly_path -> remount_root_readonly -> set_root_propagation

Functions take plain arguments and a `sc` syscalls object (the real one by default), so a
unit test can pass a recorder and check the exact sequence without root.
"""

import errno
import os
import stat

from pyrun.linux import paths
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux import syscalls as sc_
from pyrun.linux.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_DIRSYNC,
    MS_LAZYTIME,
    MS_MANDLOCK,
    MS_MOVE,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
)

# option -> (flags to set, flags to clear). As mount(8) and runc read them.
FLAG_OPTIONS = {
    "defaults": (0, 0),
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME),
    "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
    "nosymfollow": (MS_NOSYMFOLLOW, 0), "symfollow": (0, MS_NOSYMFOLLOW),
    "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
}
PROPAGATION_OPTIONS = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
# The recursive options (runc's, mount(8)'s X-mount... spelled with an r): the flag, on
# the mount and every mount below it, through mount_setattr(2) with AT_RECURSIVE.
# option -> (attributes to set, attributes to clear).
RECURSIVE_OPTIONS = {
    "rro": (sc_.MOUNT_ATTR_RDONLY, 0), "rrw": (0, sc_.MOUNT_ATTR_RDONLY),
    "rnosuid": (sc_.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, sc_.MOUNT_ATTR_NOSUID),
    "rnodev": (sc_.MOUNT_ATTR_NODEV, 0), "rdev": (0, sc_.MOUNT_ATTR_NODEV),
    "rnoexec": (sc_.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, sc_.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (sc_.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, sc_.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (sc_.MOUNT_ATTR_NOSYMFOLLOW, 0),
    "rsymfollow": (0, sc_.MOUNT_ATTR_NOSYMFOLLOW),
    # the atime mode is one field: clearing it whole, then setting one mode
    "rrelatime": (sc_.MOUNT_ATTR_RELATIME, sc_.MOUNT_ATTR__ATIME),
    "rnoatime": (sc_.MOUNT_ATTR_NOATIME, sc_.MOUNT_ATTR__ATIME),
    "rstrictatime": (sc_.MOUNT_ATTR_STRICTATIME, sc_.MOUNT_ATTR__ATIME),
    # runc's: leaving a mode is clearing its bits (relatime's are none)
    "ratime": (0, sc_.MOUNT_ATTR_NOATIME), "rnorelatime": (0, sc_.MOUNT_ATTR_RELATIME),
    "rnostrictatime": (0, sc_.MOUNT_ATTR_STRICTATIME),
}
# Options runc knows that pyrun does not implement yet: refused, never silently dropped.
UNSUPPORTED_OPTIONS = {"idmap", "ridmap"}
# Flags a bind remount keeps from the mount it changes: statvfs(3) ST_* bit -> MS_* flag.
# (The same bits, but for relatime: ST_RELATIME is 0x1000, MS_RELATIME 1 << 21.)
KEPT_ON_REMOUNT = {
    0x2: MS_NOSUID, 0x4: MS_NODEV, 0x8: MS_NOEXEC, 0x400: MS_NOATIME, 0x800: MS_NODIRATIME,
    0x1000: MS_RELATIME,
}


class MountOptions:
    __slots__ = ("data", "flags", "propagation", "copy_up", "attr_set", "attr_clr")

    def __init__(self, flags: int, propagation: int, data: str, copy_up: bool = False,
                 attr_set: int = 0, attr_clr: int = 0):
        self.flags = flags
        self.propagation = propagation
        self.data = data
        # The recursive options, for mount_setattr(2) once the mount is made.
        self.attr_set = attr_set
        self.attr_clr = attr_clr
        # tmpcopyup (runc's extension, which podman --read-only sends): a tmpfs starts
        # with a copy of what the directory it covers held.
        self.copy_up = copy_up

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & MS_BIND)


class UnsupportedOption(ValueError):
    pass


def parse_options(options: list[str]) -> MountOptions:
    """Split OCI mount options into mount(2) flags, a propagation, and fs data (the rest)."""
    flags = 0
    propagation = 0
    data = []
    copy_up = False
    attr_set = attr_clr = 0
    for opt in options:
        if opt == "tmpcopyup":
            copy_up = True
        elif opt in RECURSIVE_OPTIONS:
            set_bits, clear_bits = RECURSIVE_OPTIONS[opt]
            attr_set, attr_clr = (attr_set & ~clear_bits) | set_bits, \
                (attr_clr & ~set_bits) | clear_bits
        elif opt in FLAG_OPTIONS:
            set_bits, clear_bits = FLAG_OPTIONS[opt]
            flags = (flags | set_bits) & ~clear_bits
        elif opt in PROPAGATION_OPTIONS:
            propagation = PROPAGATION_OPTIONS[opt]
        elif opt in UNSUPPORTED_OPTIONS:
            raise UnsupportedOption(opt)
        else:
            data.append(opt)
    return MountOptions(flags, propagation, ",".join(data), copy_up, attr_set, attr_clr)


def make_root_private(propagation: int = MS_PRIVATE | MS_REC, sc=real_syscalls) -> None:
    """Stop mounts we make from propagating to the host (and the host's from reaching us)."""
    sc.mount(None, "/", None, propagation)


def bind_rootfs(rootfs: str, sc=real_syscalls) -> None:
    """pivot_root needs the new root to be a mount point: bind it onto itself."""
    sc.mount(rootfs, rootfs, None, MS_BIND | MS_REC)


def mount_entry(rootfd: int, destination: str, fstype: str, source: str,
                opts: MountOptions, sc=real_syscalls) -> None:
    """Mount one config entry at `destination`, resolved inside the rootfs."""
    if opts.is_bind:
        is_dir = os.path.isdir(source)
        if not is_dir and not os.path.exists(source):
            raise FileNotFoundError(2, "bind source does not exist", source)
    else:
        is_dir = True
    os.close(paths.make_mountpoint(rootfd, destination, is_dir, sc=sc))
    if opts.is_bind:
        on_path(rootfd, destination, sc.mount, source, None, opts.flags & (MS_BIND | MS_REC), sc=sc)
        # A bind mount ignores every other flag: they take a second, remounting call.
        extra = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if extra:
            on_path(rootfd, destination, sc.mount, None, None, MS_REMOUNT | MS_BIND | extra,
                    sc=sc)
    elif opts.copy_up and fstype == "tmpfs":
        covered = paths.open_in_root(rootfd, destination, os.O_RDONLY | os.O_DIRECTORY, sc)
        try:
            on_path(rootfd, destination, sc.mount, source or fstype, fstype,
                    opts.flags & ~(MS_REMOUNT | MS_RDONLY), opts.data or None, sc=sc)
            top = paths.open_in_root(rootfd, destination, os.O_RDONLY | os.O_DIRECTORY, sc)
            try:
                copy_tree(covered, top)
            finally:
                os.close(top)
        finally:
            os.close(covered)
        if opts.flags & MS_RDONLY:  # read-only only once filled
            on_path(rootfd, destination, sc.mount, None, None,
                    MS_REMOUNT | (opts.flags & ~MS_REMOUNT), opts.data or None, sc=sc)
    else:
        on_path(rootfd, destination, sc.mount, source or fstype, fstype,
                opts.flags & ~MS_REMOUNT, opts.data or None, sc=sc)
    if opts.attr_set or opts.attr_clr:
        on_path(rootfd, destination,
                lambda _, target: set_tree_attributes(target, opts.attr_set, opts.attr_clr, sc),
                None, sc=sc)
    if opts.propagation:
        on_path(rootfd, destination, sc.mount, None, None, opts.propagation, sc=sc)


def set_tree_attributes(target: str, attr_set: int, attr_clr: int, sc=real_syscalls):
    """The recursive options on the mount at `target` and every mount below it."""
    try:
        sc.mount_setattr(target, sc.AT_RECURSIVE, attr_set, attr_clr)
    except OSError as e:
        if e.errno == errno.ENOSYS:
            raise OSError(e.errno, "recursive mount options (rro, ...) need "
                                   "mount_setattr(2), Linux 5.12 or later") from None
        raise


def copy_tree(src_fd: int, dst_fd: int) -> None:
    """Copy the tree under the directory `src_fd` into `dst_fd`: files, directories,
    symlinks and nodes, with their modes and owners (what runc's copy-up keeps). Through
    fds: `src_fd` is a directory a tmpfs now covers, which no path reaches any more."""
    for entry in os.scandir(src_fd):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=dst_fd)
            sub_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=src_fd)
            sub_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dst_fd)
            try:
                copy_tree(sub_src, sub_dst)
            finally:
                os.close(sub_src)
                os.close(sub_dst)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src_fd, dst_fd, name, stat.S_IMODE(st.st_mode))
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst_fd)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst_fd)


def _copy_file(src_fd: int, dst_fd: int, name: str, mode: int) -> None:
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
    try:
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode,
                      dir_fd=dst_fd)
        try:
            while chunk := os.read(src, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
        finally:
            os.close(dst)
    finally:
        os.close(src)


def on_path(rootfd: int, path: str, call, source, *args, sc=real_syscalls):
    """Run `call(source, target, *args)` on `path` freshly resolved inside the root.

    Resolved again for every call: after a mount, an fd taken before it names the covered
    directory, not the new mount on top.
    """
    fd = paths.open_in_root(rootfd, path, sc=sc)
    try:
        return call(source, paths.fd_path(fd), *args)
    finally:
        os.close(fd)


def pivot_root(new_root_fd: int, sc=real_syscalls) -> None:
    """Make the mount behind `new_root_fd` the root and detach the old one (the host's)
    from this namespace. An fd, not a path: in a user namespace, the directories above
    the rootfs may be closed to the container's root.

    pivot_root(".", ".") stacks the old root on top of the new one; we then unmount it.
    Making it a slave first keeps the unmount from propagating back to the host.
    """
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.fchdir(new_root_fd)
        sc.pivot_root(".", ".")
        sc.fchdir(old_root)
        sc.mount(None, ".", None, MS_SLAVE | MS_REC)
        sc.umount2(".", MNT_DETACH)
        sc.chdir("/")
    finally:
        os.close(old_root)


def hide_host_proc_and_sys(rootfs: str, sc=real_syscalls) -> None:
    """--no-pivot leaves the host's mounts in this mount namespace, under the chroot. The
    kernel lets a new proc or sysfs be mounted only where one is already fully visible in
    the namespace (mnt_already_visible): left there, the host's would let root in the
    container mount a fresh /proc and read what maskedPaths hide. So detach every proc and
    sysfs mount outside the rootfs first (or cover it, where that is refused), as runc."""
    rootfs = os.path.realpath(rootfs)
    with open("/proc/self/mountinfo") as f:
        found = [line.split()[4] for line in f if line.split(" - ", 1)[1].split()[0]
                 in ("proc", "sysfs")]
    for point in sorted(found, key=len, reverse=True):  # the deepest first
        if point == rootfs or point.startswith(rootfs + "/"):
            continue
        sc.mount(None, point, None, MS_SLAVE | MS_REC)  # the unmount must not reach the host
        try:
            sc.umount2(point, MNT_DETACH)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.EPERM):
                raise
            sc.mount("tmpfs", point, "tmpfs", 0, None)


def move_root(rootfs_fd: int, sc=real_syscalls) -> None:
    """--no-pivot: move the rootfs mount over / and chroot (for ramdisk roots, where
    pivot_root fails)."""
    sc.fchdir(rootfs_fd)
    sc.mount(paths.fd_path(rootfs_fd), "/", None, MS_MOVE)
    sc.chroot(".")
    sc.chdir("/")


def mask_path(path: str, sc=real_syscalls) -> None:
    """Hide `path` (inside the new root): /dev/null over a file, an empty ro tmpfs over a dir."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        sc.mount("tmpfs", path, "tmpfs", MS_RDONLY, None)
    else:
        sc.mount("/dev/null", path, None, MS_BIND)


def readonly_path(path: str, sc=real_syscalls) -> None:
    """Make `path` (inside the new root) read-only: bind it onto itself, remount ro."""
    if not os.path.lexists(path):
        return
    sc.mount(path, path, None, MS_BIND | MS_REC)
    remount_readonly(path, sc)


def remount_readonly(path: str, sc=real_syscalls) -> None:
    st_flags = os.statvfs(path).f_flag
    kept = 0
    for st_bit, ms_flag in KEPT_ON_REMOUNT.items():
        if st_flags & st_bit:
            kept |= ms_flag
    sc.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def set_root_propagation(propagation: int, sc=real_syscalls) -> None:
    sc.mount(None, "/", None, propagation)


def mount_cgroup_tree(rootfd: int, destination: str, opts: MountOptions,
                      hierarchies: list[tuple[str, str, int]], own_namespace: bool,
                      sc=real_syscalls) -> None:
    """A config mount of type "cgroup": the container's own cgroups, never the host's tree.

    `hierarchies` lists (name, host directory of the container's cgroup, version).
    Pure v2 with a cgroup namespace: mount cgroup2 (the kernel shows the namespace root).
    Otherwise bind each of the container's cgroup directories: on v1 into a tmpfs with one
    directory per hierarchy (cpu, memory, ...), as a v1 host lays them out.
    """
    flags = opts.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
    if len(hierarchies) == 1 and hierarchies[0][2] == 2:
        os.close(paths.make_dirs(rootfd, destination, sc=sc))
        if own_namespace:
            on_path(rootfd, destination, sc.mount, "cgroup2", "cgroup2", flags, None, sc=sc)
        else:
            _bind_dir(rootfd, destination, hierarchies[0][1], flags, sc)
        return
    tree_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount_entry(rootfd, destination, "tmpfs", "tmpfs",
                MountOptions(tree_flags, 0, "mode=755"), sc=sc)
    for name, host_dir, _version in hierarchies:
        target = f"{destination}/{name}"
        os.close(paths.make_dirs(rootfd, target, sc=sc))
        _bind_dir(rootfd, target, host_dir, flags, sc)
    if flags & MS_RDONLY:
        on_path(rootfd, destination, sc.mount, None, None,
                MS_REMOUNT | MS_RDONLY | tree_flags, sc=sc)


def _bind_dir(rootfd: int, target: str, host_dir: str, flags: int, sc) -> None:
    on_path(rootfd, target, sc.mount, host_dir, None, MS_BIND, sc=sc)
    if flags:
        on_path(rootfd, target, sc.mount, None, None, MS_REMOUNT | MS_BIND | flags, sc=sc)
