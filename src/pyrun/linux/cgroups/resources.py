"""Conversions between OCI's resource values (pyrun.config.model.Resources) and what the
cgroup files take, as runc converts them (libcontainer/cgroups: fs for v1, fs2 for v2).

The drivers read a Resources object by its attribute names; they never import the config.
"""


def v2_cpu_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000), runc's formula."""
    return 1 + ((shares - 2) * 9999) // 262142


def v2_io_weight(blkio_weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), runc's formula."""
    return 1 + ((blkio_weight - 10) * 9999) // 990


def limit_text(value: int) -> str:
    """OCI's -1 ("no limit") as cgroup files spell it."""
    return "max" if value == -1 else str(value)
