"""Thin Python wrappers over the cffi shim (csrc/): each raises OSError(errno, text, path).

Constants are the kernel's ABI numbers (include/uapi): stable forever, so they live here
rather than in the shim.
"""

import os

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

# openat2(2) resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def _check(ret: int, op: str, path: str | None = None) -> int:
    if ret < 0:
        err = ffi.errno
        raise OSError(err, f"{op}: {os.strerror(err)}", path)
    return ret


def _c(s: str | None):
    return ffi.NULL if s is None else s.encode()


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(lib.pyrun_mount(_c(source), target.encode(), _c(fstype), flags, _c(data)),
           "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(lib.pyrun_umount2(target.encode(), flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(lib.pyrun_pivot_root(new_root.encode(), put_old.encode()), "pivot_root", new_root)


def unshare(flags: int) -> None:
    _check(lib.pyrun_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(lib.pyrun_setns(fd, nstype), "setns")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(lib.pyrun_setdomainname(raw, len(raw)), "setdomainname")


def personality(persona: int) -> int:
    return _check(lib.pyrun_personality(persona), "personality")


def keyctl_join_session_keyring(name: str | None) -> int:
    return _check(lib.pyrun_keyctl_join_session_keyring(_c(name)), "keyctl")


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    return _check(lib.pyrun_openat2(dirfd, path.encode(), flags, mode, resolve), "openat2", path)


# bpf(2) commands, program and attach types (include/uapi/linux/bpf.h)
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
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
        raise OSError(err, f"bpf(BPF_PROG_LOAD): {reason}")
    return ret


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    import struct

    # union bpf_attr, BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
    attr = struct.pack("=IIII", target_fd, prog_fd, attach_type, flags).ljust(128, b"\0")
    buf = ffi.new("char[]", attr)
    _check(lib.pyrun_bpf(BPF_PROG_ATTACH, buf, 128), "bpf(BPF_PROG_ATTACH)")


def cap_ambient_raise(cap: int) -> None:
    _check(lib.pyrun_cap_ambient_raise(cap), "prctl(PR_CAP_AMBIENT_RAISE)")


def cap_ambient_clear_all() -> None:
    _check(lib.pyrun_cap_ambient_clear_all(), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
