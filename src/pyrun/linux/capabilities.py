"""Process capabilities: the bounding set, effective/permitted/inheritable, and ambient.

Capabilities are numbers here (the config's names are turned into numbers by
pyrun.config.model.capability_number); every call goes through `sc`
(pyrun.linux.syscalls), so a unit test can record them.
"""

from pyrun.linux import syscalls as real_syscalls


def last_cap() -> int:
    """The highest capability this kernel knows (it may know fewer or more than the
    config's names). Read once, on the first call: the init calls it after pivot_root or
    chroot too, where /proc may not be mounted."""
    global _last_cap
    if _last_cap is None:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            _last_cap = int(f.read())
    return _last_cap


_last_cap = None


def drop_bounding(keep: set[int], sc=real_syscalls) -> None:
    """Drop every capability not in `keep` from the bounding set (needs CAP_SETPCAP)."""
    for cap in range(last_cap() + 1):
        if cap not in keep and sc.capbset_read(cap):
            sc.capbset_drop(cap)


def set_keepcaps(on: bool, sc=real_syscalls) -> None:
    """Keep permitted capabilities across the setuid away from root."""
    sc.set_keepcaps(on)


def set_process_caps(effective: set[int], permitted: set[int], inheritable: set[int],
                     sc=real_syscalls) -> None:
    """capset(2): exactly these sets, every other capability cleared."""
    sc.capset(sorted(effective), sorted(permitted), sorted(inheritable), last_cap())


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


def set_no_new_privs(sc=real_syscalls) -> None:
    sc.set_no_new_privs()
