"""The device allow-list of a cgroup: which device nodes the container may open or mknod.

Rules apply in order, the last match wins, as the kernel's v1 devices controller (and
runc) read them. Every container also gets runc's default allowed devices, and an allow
rule for each device its config creates.
"""


class DeviceRule:
    """allow/deny; kind 'a' (all), 'c' or 'b'; major/minor None for '*'; access of 'rwm'."""

    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(self, allow: bool, kind: str = "a", major=None, minor=None, access="rwm"):
        self.allow = allow
        self.kind = kind
        self.major = major
        self.minor = minor
        self.access = access

    def v1_line(self) -> str:
        """The devices.allow / devices.deny syntax: 'c 1:3 rwm', or 'a' for everything."""
        if self.kind == "a":
            return "a"
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.kind} {major}:{minor} {self.access}"

    def __repr__(self):
        return f"{'allow' if self.allow else 'deny'} {self.v1_line()}"


# runc's defaults (libcontainer/specconv AllowedDevices), less /dev/net/tun, which newer
# runc dropped too: mknod of any node (opening it is another matter), and the nodes every
# container has.
DEFAULT_ALLOWED = (
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 1, 3),    # /dev/null
    DeviceRule(True, "c", 1, 8),    # /dev/random
    DeviceRule(True, "c", 1, 7),    # /dev/full
    DeviceRule(True, "c", 5, 0),    # /dev/tty
    DeviceRule(True, "c", 1, 5),    # /dev/zero
    DeviceRule(True, "c", 1, 9),    # /dev/urandom
    DeviceRule(True, "c", 5, 1),    # /dev/console
    DeviceRule(True, "c", 136, None),  # /dev/pts/*
    DeviceRule(True, "c", 5, 2),    # /dev/ptmx
)


def effective_rules(configured: list[DeviceRule], created: list[tuple[str, int, int]]):
    """Deny everything, then the config's rules, the defaults, and the created nodes."""
    rules = [DeviceRule(False)]
    rules += configured
    rules += DEFAULT_ALLOWED
    rules += [DeviceRule(True, kind, major, minor) for kind, major, minor in created]
    return rules
