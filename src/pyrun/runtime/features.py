"""`pyrun features`: what this runtime implements, in the runtime-spec's features.md
format (as `runc features`), so that engines can tell before they ask. Every entry here
is something pyrun does; what it refuses is absent or marked disabled."""

import json

from pyrun import OCI_VERSION, __version__
from pyrun.config.model import CAPABILITY_NUMBERS, HOOK_NAMES, NAMESPACE_TYPES
from pyrun.linux import seccomp
from pyrun.linux.mounts import FLAG_OPTIONS, PROPAGATION_OPTIONS, RECURSIVE_OPTIONS

EXTENSION_MOUNT_OPTIONS = ["tmpcopyup"]


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_NAMES),
        "mountOptions": sorted([*FLAG_OPTIONS, *PROPAGATION_OPTIONS, *RECURSIVE_OPTIONS,
                                *EXTENSION_MOUNT_OPTIONS]),
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": [f"CAP_{name}" for name in CAPABILITY_NUMBERS],
            # systemd: slice:prefix:name paths, while systemd itself is not running
            "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(seccomp.supported_actions()),
                "operators": sorted(seccomp.OPERATORS),
                "archs": sorted(seccomp.supported_architectures()),
                "knownFlags": list(seccomp.FLAGS),
                "supportedFlags": seccomp.supported_flags(),
            },
            # what this build can apply (as runc reports it): whether the host runs the
            # LSM is another matter (an AppArmor profile where it does not is refused)
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
            "intelRdt": {"enabled": False},
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": seccomp.version(),
            "org.pyrun.version": __version__,
        },
    }


def show() -> str:
    return json.dumps(features(), indent=4)
