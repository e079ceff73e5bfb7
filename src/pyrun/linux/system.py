"""Per-namespace system identity and tunables: hostname, domainname, sysctl."""

from pyrun.linux import syscalls as real_syscalls


def set_hostname(name: str, sc=real_syscalls) -> None:
    sc.sethostname(name)


def set_domainname(name: str, sc=real_syscalls) -> None:
    sc.setdomainname(name)


def sysctl_path(key: str) -> str:
    """'net.ipv4.ip_forward' -> /proc/sys/net/ipv4/ip_forward (the key may use / too)."""
    return "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key


def set_sysctl(key: str, value: str, sc=real_syscalls) -> None:
    sc.write_file(sysctl_path(key), value)
