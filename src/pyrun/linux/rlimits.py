"""Resource limits (setrlimit), by their OCI names."""

import errno
import resource

from pyrun.linux import syscalls as real_syscalls

UNLIMITED = 2**64 - 1  # OCI's spelling of RLIM_INFINITY


def number(name: str) -> int:
    """'RLIMIT_NOFILE' -> resource.RLIMIT_NOFILE; KeyError if this Python lacks it."""
    value = getattr(resource, name, None)
    if value is None:
        raise KeyError(name)
    return value


def set_limit(name: str, soft: int, hard: int, sc=real_syscalls) -> None:
    """setrlimit. Raises OSError saying why when raising a hard limit (the caller names
    the limit)."""
    soft = resource.RLIM_INFINITY if soft >= UNLIMITED else soft
    hard = resource.RLIM_INFINITY if hard >= UNLIMITED else hard
    try:
        sc.setrlimit(number(name), (soft, hard))
    except (ValueError, OSError) as e:
        # Raising a hard limit needs CAP_SYS_RESOURCE: say which limit failed and why.
        reason = "not permitted (raising a hard limit needs CAP_SYS_RESOURCE)" \
            if isinstance(e, (ValueError, PermissionError)) else (e.strerror or str(e))
        raise OSError(getattr(e, "errno", None) or errno.EPERM, reason) from None
