"""The resource limits of a cgroup, independent of the cgroup version.

Fields hold OCI's values (config.json's `linux.resources`, or `pyrun update`); None means
"leave as it is". The v1 and v2 drivers translate them to their files with runc's
conversions (`v2_cpu_weight`, `v2_io_weight`, swap as memory+swap in OCI).
"""


class ThrottleDevice:
    __slots__ = ("major", "minor", "rate")

    def __init__(self, major: int, minor: int, rate: int):
        self.major = major
        self.minor = minor
        self.rate = rate


class WeightDevice:
    __slots__ = ("major", "minor", "weight", "leaf_weight")

    def __init__(self, major: int, minor: int, weight=None, leaf_weight=None):
        self.major = major
        self.minor = minor
        self.weight = weight
        self.leaf_weight = leaf_weight


class Resources:
    __slots__ = (
        "memory_limit", "memory_reservation", "memory_swap", "memory_swappiness",
        "memory_disable_oom_killer",
        "cpu_shares", "cpu_quota", "cpu_period", "cpu_realtime_runtime", "cpu_realtime_period",
        "cpu_cpus", "cpu_mems", "cpu_idle",
        "pids_limit",
        "blkio_weight", "blkio_leaf_weight", "blkio_weight_devices", "throttle_read_bps",
        "throttle_write_bps", "throttle_read_iops", "throttle_write_iops",
        "hugepage_limits", "unified",
    )

    def __init__(self, **values):
        for name in self.__slots__:
            setattr(self, name, values.pop(name, None))
        if values:
            raise TypeError(f"unknown resources: {sorted(values)}")

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, [], {}) for name in self.__slots__)


def v2_cpu_weight(shares: int) -> int:
    """cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000), runc's formula."""
    return 1 + ((shares - 2) * 9999) // 262142


def v2_io_weight(blkio_weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), runc's formula."""
    return 1 + ((blkio_weight - 10) * 9999) // 990


def limit_text(value: int) -> str:
    """OCI's -1 ("no limit") as cgroup files spell it."""
    return "max" if value == -1 else str(value)
