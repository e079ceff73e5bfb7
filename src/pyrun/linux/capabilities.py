"""Process capabilities: the bounding set, effective/permitted/inheritable, and ambient.

Uses python-prctl's C core `_prctl` directly: its `prctl` module builds hundreds of wrapper
objects at import (~5 ms, a sixth of a whole `pyrun run`). Ambient capabilities come from
the shim: python-prctl 1.8 has no PR_CAP_AMBIENT.
"""

# Imported here, not in the functions: they run after pivot_root or setns into the
# container's mount namespace, where Python can no longer find extension modules.
import _prctl

from pyrun.linux import syscalls as real_syscalls

# Capability numbers (include/uapi/linux/capability.h), by name without the CAP_ prefix.
NUMBERS = {
    name: number for number, name in enumerate((
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ))
}


def number(name: str) -> int:
    """'CAP_SYS_ADMIN' (any case) -> 21; KeyError if unknown."""
    return NUMBERS[name.upper().removeprefix("CAP_")]


def last_cap() -> int:
    """The highest capability this kernel knows (it may know fewer or more than NUMBERS).
    Read once, on the first call: the init calls it after pivot_root or chroot too,
    where /proc may not be mounted."""
    global _last_cap
    if _last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _last_cap = int(f.read())
    return _last_cap


_last_cap = None


def drop_bounding(keep: set[int]) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if cap not in keep and _prctl.prctl(_prctl.PR_CAPBSET_READ, cap):
            _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)


def set_keepcaps(on: bool) -> None:
    """Keep permitted capabilities across the setuid away from root."""
    _prctl.prctl(_prctl.PR_SET_KEEPCAPS, 1 if on else 0)


def set_process_caps(effective: set[int], permitted: set[int], inheritable: set[int]) -> None:
    """capset(2): exactly these sets, every other capability cleared."""
    every = range(last_cap() + 1)
    _prctl.set_caps(
        sorted(effective), sorted(permitted), sorted(inheritable),
        [c for c in every if c not in effective],
        [c for c in every if c not in permitted],
        [c for c in every if c not in inheritable],
    )


def set_ambient(ambient: set[int], permitted: set[int], inheritable: set[int],
                sc=real_syscalls) -> set[int]:
    """Raise the ambient capabilities the kernel allows: those also permitted and
    inheritable (capabilities(7)). runc's own template asks for ambient capabilities
    without inheritable ones, and runc skips those; so do we. Returns what was raised."""
    sc.cap_ambient_clear_all()
    raised = ambient & permitted & inheritable
    for cap in sorted(raised):
        sc.cap_ambient_raise(cap)
    return raised


def set_no_new_privs() -> None:
    _prctl.prctl(_prctl.PR_SET_NO_NEW_PRIVS, 1)
