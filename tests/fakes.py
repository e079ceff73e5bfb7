"""The one recording fake of pyrun.linux.syscalls, for unit tests without root.

Every call the init makes through `sc` is recorded, in order, in `log` as a tuple
(name, *arguments); the calls that change the mount table (mount, umount2, pivot_root)
are also kept in `calls`, so a test of one mount sequence can compare just those.

Nothing privileged or process-wide happens: mounts, ids, capabilities, chroot/chdir,
setsid, dup2 and execve are only written down. openat2 emulates RESOLVE_IN_ROOT with a
plain os.open below the directory behind `dirfd` (no symlinks needed here), so paths
resolve inside a scratch rootfs. A target `/proc/self/fd/N` is recorded as the path
behind N at the time of the call, so tests can compare with real tmp_path locations.
"""

import os

from pyrun.linux import syscalls as real_syscalls

MOUNT_TABLE_CALLS = ("mount", "mount_setattr", "umount2", "pivot_root")


def _fd_target(target):
    if isinstance(target, str) and target.startswith("/proc/self/fd/"):
        return os.readlink(target)
    return target


class FakeSyscalls:
    def __init__(self, bounding=range(41)):
        self.log: list[tuple] = []
        self.calls: list[tuple] = []
        self.opened: list[str] = []
        self.bounding = set(bounding)  # what capbset_read reports as still present

    def _record(self, name, *args):
        entry = (name, *args)
        self.log.append(entry)
        if name in MOUNT_TABLE_CALLS:
            self.calls.append(entry)

    def names(self) -> list[str]:
        """The sequence of call names, for order checks."""
        return [entry[0] for entry in self.log]

    # --- the mount table
    def mount(self, source, target, fstype, flags=0, data=None):
        self._record("mount", _fd_target(source), _fd_target(target), fstype, flags, data)

    def mount_setattr(self, path, flags, attr_set, attr_clr):
        self._record("mount_setattr", _fd_target(path), flags, attr_set, attr_clr)

    def umount2(self, target, flags=0):
        self._record("umount2", target, flags)

    def pivot_root(self, new_root, put_old):
        self._record("pivot_root", new_root, put_old)

    def openat2(self, dirfd, path, flags, mode=0, resolve=0):
        assert resolve == self.RESOLVE_IN_ROOT
        root = os.readlink(f"/proc/self/fd/{dirfd}")
        self.opened.append(path)
        return os.open(os.path.join(root, path.lstrip("/")), flags, mode)

    # --- namespaces, identity
    def unshare(self, flags):
        self._record("unshare", flags)

    def setns(self, fd, nstype=0):
        self._record("setns", nstype)

    def sethostname(self, name):
        self._record("sethostname", name)

    def setdomainname(self, name):
        self._record("setdomainname", name)

    def keyctl_join_session_keyring(self, name):
        self._record("keyctl_join_session_keyring", name)
        return 1

    # --- files in the rootfs that need privilege
    def mknod(self, name, mode, device, dir_fd):
        self._record("mknod", os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name),
                     mode, device)

    def chown(self, name, uid, gid, dir_fd):
        self._record("chown", os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name),
                     uid, gid)

    def fchown(self, fd, uid, gid):
        self._record("fchown", fd, uid, gid)

    def write_file(self, path, text):
        self._record("write_file", path, text)

    # --- the process as a whole
    def chroot(self, path):
        self._record("chroot", path)

    def chdir(self, path):
        self._record("chdir", path)

    def fchdir(self, fd):
        self._record("fchdir", _fd_target(f"/proc/self/fd/{fd}"))

    def setsid(self):
        self._record("setsid")

    def umask(self, mask):
        self._record("umask", mask)
        return 0o022

    def setgroups(self, gids):
        self._record("setgroups", list(gids))

    def setresgid(self, rgid, egid, sgid):
        self._record("setresgid", rgid, egid, sgid)

    def setresuid(self, ruid, euid, suid):
        self._record("setresuid", ruid, euid, suid)

    def setrlimit(self, kind, limits):
        self._record("setrlimit", kind, tuple(limits))

    def ioctl(self, fd, request, arg=0):
        self._record("ioctl", request)
        return arg  # SIOCGIFFLAGS: the flags come back as they were given

    def dup2(self, fd, fd2):
        self._record("dup2", fd2)

    def execve(self, path, argv, env):
        self._record("execve", path, list(argv), dict(env))

    def reset_signals(self):
        self._record("reset_signals")

    def set_pdeathsig(self, sig):
        self._record("set_pdeathsig", sig)

    def set_child_subreaper(self):
        self._record("set_child_subreaper")

    # --- capabilities
    def capbset_read(self, cap):
        return cap in self.bounding

    def capbset_drop(self, cap):
        self.bounding.discard(cap)
        self._record("capbset_drop", cap)

    def set_keepcaps(self, on):
        self._record("set_keepcaps", on)

    def capset(self, effective, permitted, inheritable, last_cap):
        self._record("capset", list(effective), list(permitted), list(inheritable))

    def set_no_new_privs(self):
        self._record("set_no_new_privs")

    def cap_ambient_clear_all(self):
        self._record("cap_ambient_clear_all")

    def cap_ambient_raise(self, cap):
        self._record("cap_ambient_raise", cap)

    # --- scheduling, seccomp
    def ioprio_set_self(self, io_class, level):
        self._record("ioprio_set_self", io_class, level)

    def sched_setattr_self(self, policy, flags, nice, priority, runtime, deadline, period):
        self._record("sched_setattr_self", policy, flags, nice, priority)

    def personality(self, persona):
        self._record("personality", persona)
        return 0

    def sched_setaffinity(self, pid, cpus):
        self._record("sched_setaffinity", pid, sorted(cpus))

    def seccomp_load(self, filt):
        self._record("seccomp_load")
        return None


for _name in dir(real_syscalls):
    if _name.isupper():
        setattr(FakeSyscalls, _name, getattr(real_syscalls, _name))
