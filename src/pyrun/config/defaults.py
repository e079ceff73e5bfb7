"""What every container gets whatever its config says, and `pyrun spec`'s template.

The device nodes a container's /dev holds, and the device allow-list of its cgroup: runc's
(libcontainer/specconv AllowedDevices), applied after the config's own rules, so that a
config without rules still gets a deny-all with these few exceptions.
"""

from pyrun.config.model import Config
from pyrun.config.model_linux import Device, DeviceRule
from pyrun.errors import NotSupportedYet

# The nodes the runtime spec says every container has (config-linux.md, "Default Devices").
DEFAULT_DEVICES = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
)

# runc's allow-list, less /dev/net/tun, which newer runc dropped too: mknod of any node
# (opening it is another matter), and the nodes every container has.
DEFAULT_DEVICE_RULES = (
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
    """Deny everything, then the config's rules, the defaults, and the created nodes.
    Rules apply in order and the last match wins, as the kernel's v1 controller reads them
    (and runc's emulator, which also starts from deny-all)."""
    rules = [DeviceRule(False)]
    rules += configured
    rules += DEFAULT_DEVICE_RULES
    rules += [DeviceRule(True, kind, major, minor) for kind, major, minor in created]
    return rules


def created_nodes(cfg: Config) -> list[tuple[str, int, int]]:
    """(type, major, minor) of the device nodes the config makes (fifos need no rule)."""
    return [("b" if d.type == "b" else "c", d.major, d.minor)
            for d in cfg.linux.devices if d.type != "p"]


def device_allow_list(cfg: Config) -> list[DeviceRule]:
    """The container's allow-list: its rules, runc's defaults, and the nodes it creates."""
    return effective_rules(cfg.linux.device_rules, created_nodes(cfg))


def dev_nodes(cfg: Config) -> list[Device]:
    """The nodes to make in /dev: the defaults (unless the config gives one at the same
    path), then the config's own."""
    configured = {d.path for d in cfg.linux.devices}
    return [d for d in DEFAULT_DEVICES if d.path not in configured] + cfg.linux.devices


def default_spec(rootless: bool = False) -> dict:
    """`pyrun spec`: runc's template (the hostname aside), so that what tools and
    tutorials do to `runc spec`'s output works on pyrun's."""
    if rootless:
        raise NotSupportedYet("spec --rootless (user namespaces)")
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {name: list(caps) for name in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }
