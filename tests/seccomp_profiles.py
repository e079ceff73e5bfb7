"""Seccomp profiles for the tests, as the plain objects pyrun.linux.seccomp takes.

`docker_default()` turns Docker's profile (tests/data/seccomp/docker-default.json, Docker's
own format) into an OCI profile the way Docker does (moby/profiles seccomp_linux.go,
setupSeccomp): the archMap entry of this machine's architecture, and only the rules whose
`includes`/`excludes` (architecture, capabilities, minimum kernel) fit.
"""

import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "seccomp"

# Docker's default capabilities (moby daemon/pkg/oci/caps/defaults.go).
DOCKER_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)
# uname -m -> (Docker's architecture name, OCI architecture)
MACHINES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
}


@dataclass
class Arg:
    index: int
    value: int
    op: str
    value_two: int = 0


@dataclass
class Rule:
    names: list[str]
    action: str
    errno_ret: int | None = None
    args: list[Arg] = field(default_factory=list)


@dataclass
class Profile:
    default_action: str = "SCMP_ACT_ALLOW"
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    listener_path: str = ""
    listener_metadata: str = ""
    syscalls: list[Rule] = field(default_factory=list)


def deny(*names: str, errno_ret: int | None = None, args=()) -> Profile:
    """Everything allowed but `names`, which fail with EPERM (or errno_ret)."""
    return Profile(syscalls=[Rule(list(names), "SCMP_ACT_ERRNO", errno_ret, list(args))])


def _kernel_at_least(version: str) -> bool:
    def numbers(text):
        return tuple(int(part) for part in text.split("-")[0].split(".")[:2])

    return numbers(os.uname().release) >= numbers(version)


def _fits(cond: dict | None, arch: str, caps, include: bool) -> bool:
    """Docker's `includes` (all must hold) or `excludes` (any one excludes)."""
    if not cond:
        return True
    tests = []
    if cond.get("arches"):
        tests.append(arch in cond["arches"])
    if cond.get("caps"):
        held = [cap in caps for cap in cond["caps"]]
        tests.append(all(held) if include else any(held))
    if cond.get("minKernel"):
        tests.append(_kernel_at_least(cond["minKernel"]))
    return all(tests) if include else not any(tests)


def docker_default(caps=DOCKER_CAPS) -> Profile:
    return engine_profile(DATA / "docker-default.json", caps)


def engine_profile(path: Path, caps=DOCKER_CAPS) -> Profile:
    """A profile in Docker's and podman's format, as those engines turn it into OCI's."""
    doc = json.loads(path.read_text())
    arch, oci_arch = MACHINES[platform.machine()]
    architectures = []
    for entry in doc.get("archMap", []):
        if entry["architecture"] == oci_arch:
            architectures = [oci_arch, *entry.get("subArchitectures", [])]
    rules = [
        Rule(call["names"], call["action"], call.get("errnoRet"),
             [Arg(a["index"], a["value"], a["op"], a.get("valueTwo", 0))
              for a in call.get("args") or []])
        for call in doc["syscalls"]
        if _fits(call.get("includes"), arch, caps, True)
        and _fits(call.get("excludes"), arch, caps, False)
    ]
    return Profile(doc["defaultAction"], doc.get("defaultErrnoRet"), architectures,
                   syscalls=rules)


def to_oci(profile: Profile) -> dict:
    """The profile as config.json's `linux.seccomp`."""
    doc = {"defaultAction": profile.default_action,
           "architectures": list(profile.architectures),
           "syscalls": [{"names": list(rule.names), "action": rule.action,
                         **({"errnoRet": rule.errno_ret} if rule.errno_ret is not None else {}),
                         "args": [{"index": a.index, "value": a.value, "valueTwo": a.value_two,
                                   "op": a.op} for a in rule.args]}
                        for rule in profile.syscalls]}
    if profile.default_errno_ret is not None:
        doc["defaultErrnoRet"] = profile.default_errno_ret
    if profile.flags:
        doc["flags"] = list(profile.flags)
    if profile.listener_path:
        doc["listenerPath"] = profile.listener_path
    if profile.listener_metadata:
        doc["listenerMetadata"] = profile.listener_metadata
    return doc
