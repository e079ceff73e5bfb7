"""Resource limits (setrlimit), by their OCI names."""

import resource


# OCI name -> resource module constant (RLIMIT_RTTIME etc. exist on Linux).
def number(name: str) -> int:
    """'RLIMIT_NOFILE' -> resource.RLIMIT_NOFILE; KeyError if this Python lacks it."""
    value = getattr(resource, name, None)
    if value is None:
        raise KeyError(name)
    return value


def set_limit(name: str, soft: int, hard: int) -> None:
    """setrlimit; OCI's 2**64-1 means unlimited. Raises OSError naming the limit."""
    soft = resource.RLIM_INFINITY if soft >= 2**64 - 1 else soft
    hard = resource.RLIM_INFINITY if hard >= 2**64 - 1 else hard
    try:
        resource.setrlimit(number(name), (soft, hard))
    except (ValueError, OSError) as e:
        # Raising a hard limit needs CAP_SYS_RESOURCE: say which limit failed and why.
        reason = "not permitted (raising a hard limit needs CAP_SYS_RESOURCE)" \
            if isinstance(e, (ValueError, PermissionError)) else (e.strerror or str(e))
        raise OSError(getattr(e, "errno", 1) or 1, f"setrlimit {name}: {reason}") from None
