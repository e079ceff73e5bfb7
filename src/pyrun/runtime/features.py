"""`pyrun features`: what this runtime implements, in the runtime-spec's features.md
format (as `runc features`), so that engines can tell before they ask. Every entry here
is something pyrun does; what it refuses is absent or marked disabled."""

import json

from pyrun import OCI_VERSION
from pyrun.config.model import CAPABILITY_NUMBERS, HOOK_NAMES
from pyrun.linux.mounts import FLAG_OPTIONS, PROPAGATION_OPTIONS

HOOKS = list(HOOK_NAMES)
NAMESPACES = ["cgroup", "ipc", "mount", "network", "pid", "uts"]  # user, time: not yet


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": sorted([*FLAG_OPTIONS, *PROPAGATION_OPTIONS]),
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": [f"CAP_{name}" for name in CAPABILITY_NUMBERS],
            # systemd: slice:prefix:name paths, while systemd itself is not running
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
        },
    }


def show() -> str:
    return json.dumps(features(), indent=4)
