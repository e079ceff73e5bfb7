"""The system calls the container's init makes, as one object (this module) that the
kernel-facing modules take as `sc`, so that a unit test can pass a recording fake
(tests/fakes.py) and check the exact sequence without root.

Two kinds of wrapper, each raising OSError(errno, strerror, path) on failure:
  * over the cffi shim (csrc/), for what Python 3.11's stdlib lacks: mount, pivot_root,
    unshare, setns, openat2, keyctl, bpf, ambient capabilities;
  * over the stdlib (os, _prctl, resource, _socket), for every call that needs privilege
    or changes the calling process as a whole (its root, cwd, ids, limits, capabilities,
    controlling terminal, stdio): those too must go through `sc`, or a test of the init
    would change the test runner itself.
Plain file operations inside a rootfs (mkdir, symlink, open) stay direct.

The OSError's text is strerror alone: the step that failed is named by the caller's
`pyrun.errors.wrap`. Constants are the kernel's ABI numbers (include/uapi): stable
forever, so they live here rather than in the shim.
"""

import _socket
import os
import resource

# _prctl is python-prctl's C core: its `prctl` module builds hundreds of wrapper objects
# at import (~5 ms). Imported here, at the top: the init calls these after pivot_root,
# where Python can no longer find extension modules.
import _prctl

from pyrun._shim import ffi, lib

# unshare(2) / setns(2) / clone(2) flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# umount2(2) flags
MNT_DETACH = 0x2

# mount_setattr(2): what to change (include/uapi/linux/mount.h), and on which mounts
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the atime mode, a field of its own
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_RECURSIVE = 0x8000
AT_FDCWD = -100

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def _check(ret: int, path: str | None = None) -> int:
    """The call's result, or OSError(errno, its text, path): the caller names the step."""
    if ret < 0:
        err = ffi.errno
        raise OSError(err, os.strerror(err), path)
    return ret


def _c(s: str | None):
    return ffi.NULL if s is None else s.encode()


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(lib.pyrun_mount(_c(source), target.encode(), _c(fstype), flags, _c(data)), target)


def mount_setattr(path: str, flags: int, attr_set: int, attr_clr: int) -> None:
    _check(lib.pyrun_mount_setattr(AT_FDCWD, path.encode(), flags, attr_set, attr_clr), path)


def umount2(target: str, flags: int = 0) -> None:
    _check(lib.pyrun_umount2(target.encode(), flags), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(lib.pyrun_pivot_root(new_root.encode(), put_old.encode()), new_root)


def fork_into_cgroup(cgroup_fd: int) -> int:
    """os.fork(), the child born in the cgroup v2 directory `cgroup_fd` (Linux 5.7): no
    migration, no RCU grace period (see pyrun.linux.cgroups)."""
    return _check(lib.pyrun_fork_into_cgroup(cgroup_fd))


def unshare(flags: int) -> None:
    _check(lib.pyrun_unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(lib.pyrun_setns(fd, nstype))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(lib.pyrun_setdomainname(raw, len(raw)))


def personality(persona: int) -> int:
    return _check(lib.pyrun_personality(persona))


def keyctl_join_session_keyring(name: str | None) -> int:
    return _check(lib.pyrun_keyctl_join_session_keyring(_c(name)))


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    return _check(lib.pyrun_openat2(dirfd, path.encode(), flags, mode, resolve), path)


# bpf(2) commands, program and attach types (include/uapi/linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


def _address(buf) -> int:
    return int(ffi.cast("uintptr_t", buf))


def bpf_prog_load(prog_type: int, insns: bytes, license: str = "Apache") -> int:
    """Load an eBPF program; returns its fd. The kernel's verifier log is in the error."""
    code = ffi.new("char[]", insns)
    lic = ffi.new("char[]", license.encode())
    log = ffi.new("char[]", 65536)
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
    # log_size, log_buf, kern_version, prog_flags (then zeros up to 128 bytes).
    import struct

    attr = struct.pack("=IIQQIIQII", prog_type, len(insns) // 8, _address(code),
                       _address(lic), 1, 65536, _address(log), 0, 0).ljust(128, b"\0")
    buf = ffi.new("char[]", attr)
    ret = lib.pyrun_bpf(BPF_PROG_LOAD, buf, 128)
    if ret < 0:
        err = ffi.errno
        detail = [line for line in ffi.string(log).decode(errors="replace").splitlines()
                  if line.strip() and not line.startswith("processed ")]
        reason = os.strerror(err) + (f" ({detail[-1]})" if detail else "")
        raise OSError(err, reason)
    return ret


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    import struct

    # union bpf_attr, BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
    attr = struct.pack("=IIII", target_fd, prog_fd, attach_type, flags).ljust(128, b"\0")
    buf = ffi.new("char[]", attr)
    _check(lib.pyrun_bpf(BPF_PROG_ATTACH, buf, 128))


def ioprio_set_self(io_class: int, level: int) -> None:
    _check(lib.pyrun_ioprio_set_self(io_class, level))


def sched_setattr_self(policy: int, flags: int, nice: int, priority: int, runtime: int,
                       deadline: int, period: int) -> None:
    _check(lib.pyrun_sched_setattr_self(policy, flags, nice, priority, runtime, deadline,
                                        period))


def bpf_prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    import struct

    # union bpf_attr, BPF_PROG_DETACH: target_fd, attach_bpf_fd, attach_type
    attr = struct.pack("=III", target_fd, prog_fd, attach_type).ljust(128, b"\0")
    _check(lib.pyrun_bpf(BPF_PROG_DETACH, ffi.new("char[]", attr), 128))


def bpf_prog_query(target_fd: int, attach_type: int, max_progs: int = 64) -> list[int]:
    """The ids of the programs attached to `target_fd` for `attach_type`."""
    import struct

    ids = ffi.new("uint32_t[]", max_progs)
    # union bpf_attr, BPF_PROG_QUERY: target_fd, attach_type, query_flags, attach_flags,
    # prog_ids (a pointer), prog_cnt (in: room, out: how many)
    attr = struct.pack("=IIIIQI", target_fd, attach_type, 0, 0, _address(ids),
                       max_progs).ljust(128, b"\0")
    buf = ffi.new("char[]", attr)
    _check(lib.pyrun_bpf(BPF_PROG_QUERY, buf, 128))
    count = struct.unpack_from("=I", ffi.buffer(buf), 24)[0]
    return [ids[i] for i in range(min(count, max_progs))]


def bpf_prog_get_fd_by_id(prog_id: int) -> int:
    import struct

    attr = struct.pack("=I", prog_id).ljust(128, b"\0")
    return _check(lib.pyrun_bpf(BPF_PROG_GET_FD_BY_ID, ffi.new("char[]", attr), 128))


def cap_ambient_raise(cap: int) -> None:
    _check(lib.pyrun_cap_ambient_raise(cap))


def cap_ambient_clear_all() -> None:
    _check(lib.pyrun_cap_ambient_clear_all())


# --- process-wide and privileged calls from the stdlib (see the module docstring)


def sethostname(name: str) -> None:
    _socket.sethostname(name)


def mknod(name: str, mode: int, device: int, dir_fd: int) -> None:
    os.mknod(name, mode, device, dir_fd=dir_fd)


def chown(name: str, uid: int, gid: int, dir_fd: int) -> None:
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)


def fchown(fd: int, uid: int, gid: int) -> None:
    os.fchown(fd, uid, gid)


def chroot(path: str) -> None:
    os.chroot(path)


def chdir(path: str) -> None:
    os.chdir(path)


def fchdir(fd: int) -> None:
    os.fchdir(fd)


def setsid() -> None:
    os.setsid()


def umask(mask: int) -> int:
    return os.umask(mask)


def setgroups(gids: list[int]) -> None:
    os.setgroups(gids)


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    os.setresgid(rgid, egid, sgid)


def setresuid(ruid: int, euid: int, suid: int) -> None:
    os.setresuid(ruid, euid, suid)


def setrlimit(kind: int, limits: tuple[int, int]) -> None:
    resource.setrlimit(kind, limits)


def write_file(path: str, text: str) -> None:
    """A one-value kernel file: /proc/sys/..., /proc/self/oom_score_adj, ..."""
    with open(path, "w") as f:
        f.write(text)


def ioctl(fd: int, request: int, arg=0):
    import fcntl

    return fcntl.ioctl(fd, request, arg)


def dup2(fd: int, fd2: int) -> None:
    os.dup2(fd, fd2)


def execve(path: str, argv: list[str], env: dict[str, str]):
    os.execve(path, argv, env)


def reset_signals() -> None:
    """Default dispositions and no blocked signal, as a program expects to start with:
    Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive execve."""
    import _signal  # the C core of `signal`, without its enum import

    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def set_pdeathsig(sig: int) -> None:
    _prctl.prctl(_prctl.PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    _prctl.prctl(_prctl.PR_SET_CHILD_SUBREAPER, 1)


def capbset_read(cap: int) -> bool:
    return bool(_prctl.prctl(_prctl.PR_CAPBSET_READ, cap))


def capbset_drop(cap: int) -> None:
    _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)


def set_keepcaps(on: bool) -> None:
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 1 if on else 0)


def capset(effective: list[int], permitted: list[int], inheritable: list[int],
           last_cap: int) -> None:
    """capset(2): exactly these sets, every other capability up to `last_cap` cleared."""
    every = range(last_cap + 1)
    _prctl.set_caps(effective, permitted, inheritable,
                    [c for c in every if c not in effective],
                    [c for c in every if c not in permitted],
                    [c for c in every if c not in inheritable])


def set_no_new_privs() -> None:
    _prctl.prctl(_prctl.PR_SET_NO_NEW_PRIVS, 1)


def sched_setaffinity(pid: int, cpus: set[int]) -> None:
    os.sched_setaffinity(pid, cpus)


def seccomp_load(filt) -> int | None:
    """Load a compiled filter (pyrun.linux.seccomp.Filter) into this process; returns its
    notify fd, if it has one. Here so that a test's fake can stand in for the load."""
    return filt.load()
