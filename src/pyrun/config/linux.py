"""The `linux` section of config.json into the model (pyrun.config.model_linux):
namespaces, id mappings, devices, resources and the device allow-list, seccomp,
personality, time offsets."""

import os

from pyrun.config.fields import (
    UINT32_MAX,
    absolute,
    array,
    boolean,
    clean_path,
    each,
    fail,
    integer,
    obj,
    opt_bool,
    opt_int,
    opt_str,
    string,
    strings,
    unique_type,
)
from pyrun.config.model import DEVICE_TYPES, NAMESPACE_TYPES, PROPAGATIONS
from pyrun.config.model_linux import (
    Device,
    DeviceRule,
    IdMapping,
    Linux,
    Namespace,
    Personality,
    Resources,
    Seccomp,
    SeccompArg,
    SyscallRule,
    ThrottleDevice,
    WeightDevice,
)
from pyrun.errors import NotSupportedYet


def parse_linux(value) -> Linux:
    obj("linux", value)
    lx = Linux()
    lx.namespaces = _namespaces(value.get("namespaces", []))
    lx.devices = each("linux.devices", value.get("devices", []), _device)
    lx.masked_paths = each("linux.maskedPaths", value.get("maskedPaths", []), absolute)
    lx.readonly_paths = each("linux.readonlyPaths", value.get("readonlyPaths", []), absolute)
    prop = string("linux.rootfsPropagation", value.get("rootfsPropagation", ""))
    if prop not in PROPAGATIONS:
        fail("linux.rootfsPropagation", f'unknown propagation "{prop}"')
    lx.rootfs_propagation = prop
    sysctl = obj("linux.sysctl", value.get("sysctl", {}))
    lx.sysctl = {string("linux.sysctl", k): string(f"linux.sysctl.{k}", v)
                 for k, v in sysctl.items()}
    lx.cgroups_path = string("linux.cgroupsPath", value.get("cgroupsPath", ""))
    resources = obj("linux.resources", value.get("resources", {}))
    lx.resources = parse_resources(resources, "linux.resources")
    lx.device_rules = parse_device_rules(resources.get("devices", []))
    if value.get("seccomp") is not None:
        lx.seccomp = parse_seccomp(value["seccomp"])
    lx.uid_mappings = _id_mappings("linux.uidMappings", value.get("uidMappings", []))
    lx.gid_mappings = _id_mappings("linux.gidMappings", value.get("gidMappings", []))
    lx.time_offsets = _time_offsets("linux.timeOffsets", value.get("timeOffsets", {}))
    if value.get("personality") is not None:
        lx.personality = _personality("linux.personality", value["personality"])
    lx.mount_label = string("linux.mountLabel", value.get("mountLabel", ""))
    lx.intel_rdt = value.get("intelRdt")
    return lx


def _namespaces(value) -> list[Namespace]:
    namespaces = []
    seen = set()
    for i, item in enumerate(array("linux.namespaces", value)):
        where = f"linux.namespaces[{i}]"
        kind = unique_type(where, item, NAMESPACE_TYPES, seen, "namespace type")
        path = string(f"{where}.path", item.get("path", ""))
        if path and not path.startswith("/"):
            fail(f"{where}.path", f'"{path}" must be an absolute path')
        if path and not os.path.exists(path):
            fail(f"{where}.path", f"{path}: no such file")
        namespaces.append(Namespace(kind, path))
    return namespaces


def _device(path: str, value) -> Device:
    obj(path, value)
    dev_path = absolute(f"{path}.path", value.get("path"))
    kind = string(f"{path}.type", value.get("type"))
    if kind not in DEVICE_TYPES:
        fail(f"{path}.type", f'unknown device type "{kind}" (expected c, b, u or p)')
    needs_numbers = kind != "p"
    if needs_numbers and ("major" not in value or "minor" not in value):
        fail(path, f"device {dev_path}: major and minor are required for type {kind}")
    mode = value.get("fileMode")
    uid, gid = value.get("uid"), value.get("gid")
    return Device(
        path=clean_path(dev_path),
        type=kind,
        major=integer(f"{path}.major", value.get("major", 0), 0),
        minor=integer(f"{path}.minor", value.get("minor", 0), 0),
        file_mode=None if mode is None else integer(f"{path}.fileMode", mode, 0, 0o7777),
        uid=None if uid is None else integer(f"{path}.uid", uid, 0, UINT32_MAX),
        gid=None if gid is None else integer(f"{path}.gid", gid, 0, UINT32_MAX),
    )


def parse_resources(value, path: str = "linux.resources") -> Resources:
    """`linux.resources` (or `pyrun update --resources` JSON), less the device rules."""
    obj(path, value)
    for key in ("network", "rdma"):
        if value.get(key):
            raise NotSupportedYet(f"config.json: {path}.{key}")
    memory = obj(f"{path}.memory", value.get("memory") or {})
    cpu = obj(f"{path}.cpu", value.get("cpu") or {})
    pids = obj(f"{path}.pids", value.get("pids") or {})
    blkio = obj(f"{path}.blockIO", value.get("blockIO") or {})
    unified = obj(f"{path}.unified", value.get("unified") or {})
    for key, text in unified.items():
        string(f"{path}.unified", key)
        string(f"{path}.unified.{key}", text)
        if not key or "/" in key or key.startswith(".") or "." not in key:
            fail(f"{path}.unified", f'"{key}" is not a cgroup file name')
    m, c, b = f"{path}.memory", f"{path}.cpu", f"{path}.blockIO"
    return Resources(
        memory_limit=opt_int(m, memory, "limit", -1, zero_is_unset=True),
        memory_reservation=opt_int(m, memory, "reservation", -1, zero_is_unset=True),
        memory_swap=opt_int(m, memory, "swap", -1, zero_is_unset=True),
        memory_swappiness=opt_int(m, memory, "swappiness", 0, 100),
        memory_disable_oom_killer=opt_bool(m, memory, "disableOOMKiller"),
        cpu_shares=opt_int(c, cpu, "shares", 2, 262144, zero_is_unset=True),
        cpu_quota=opt_int(c, cpu, "quota", -1, zero_is_unset=True),
        cpu_period=opt_int(c, cpu, "period", 1000, 1_000_000, zero_is_unset=True),
        cpu_realtime_runtime=opt_int(c, cpu, "realtimeRuntime", -1, zero_is_unset=True),
        cpu_realtime_period=opt_int(c, cpu, "realtimePeriod", 0, zero_is_unset=True),
        cpu_cpus=opt_str(c, cpu, "cpus"),
        cpu_mems=opt_str(c, cpu, "mems"),
        cpu_idle=opt_int(c, cpu, "idle", 0, 1),
        pids_limit=opt_int(f"{path}.pids", pids, "limit", -1, zero_is_unset=True),
        blkio_weight=opt_int(b, blkio, "weight", 10, 1000, zero_is_unset=True),
        blkio_leaf_weight=opt_int(b, blkio, "leafWeight", 10, 1000, zero_is_unset=True),
        blkio_weight_devices=each(f"{b}.weightDevice", blkio.get("weightDevice", []),
                                   _weight_device),
        throttle_read_bps=_throttles(b, blkio, "throttleReadBpsDevice"),
        throttle_write_bps=_throttles(b, blkio, "throttleWriteBpsDevice"),
        throttle_read_iops=_throttles(b, blkio, "throttleReadIOPSDevice"),
        throttle_write_iops=_throttles(b, blkio, "throttleWriteIOPSDevice"),
        hugepage_limits=each(f"{path}.hugepageLimits", value.get("hugepageLimits", []),
                              _hugepage_limit),
        unified=dict(unified),
    )


def _device_numbers(path, value) -> tuple[int, int]:
    obj(path, value)
    return (integer(f"{path}.major", value.get("major"), 0),
            integer(f"{path}.minor", value.get("minor"), 0))


def _weight_device(path, value) -> WeightDevice:
    major, minor = _device_numbers(path, value)
    return WeightDevice(major, minor, opt_int(path, value, "weight", 10, 1000),
                        opt_int(path, value, "leafWeight", 10, 1000))


def _throttles(path, blkio, key) -> list[ThrottleDevice]:
    def one(where, value):
        major, minor = _device_numbers(where, value)
        return ThrottleDevice(major, minor, integer(f"{where}.rate", value.get("rate"), 0))

    return each(f"{path}.{key}", blkio.get(key, []), one)


def _hugepage_limit(path, value) -> tuple[str, int]:
    obj(path, value)
    size = string(f"{path}.pageSize", value.get("pageSize"))
    if not size[:-2].isdigit() or size[-2:] not in ("KB", "MB", "GB"):
        fail(f"{path}.pageSize", f'"{size}" is not a page size like "2MB"')
    return size, integer(f"{path}.limit", value.get("limit"), 0)


def parse_device_rules(value, path: str = "linux.resources.devices") -> list[DeviceRule]:
    """`linux.resources.devices` (config.json's, `update -r`'s, or as state.json keeps the
    applied list)."""
    return each(path, value, _device_rule)


def device_rules_json(rules: list[DeviceRule]) -> list[dict]:
    """The rules as `linux.resources.devices` spells them (for state.json)."""
    return [{"allow": r.allow, "type": r.kind, "access": r.access,
             **({"major": r.major} if r.major is not None else {}),
             **({"minor": r.minor} if r.minor is not None else {})} for r in rules]


def _device_rule(path: str, value) -> DeviceRule:
    obj(path, value)
    if "allow" not in value:
        fail(f"{path}.allow", "missing")
    kind = string(f"{path}.type", value.get("type", "a"))
    if kind not in ("a", "c", "b"):
        fail(f"{path}.type", f'"{kind}" is not a, c or b')
    access = string(f"{path}.access", value.get("access", "rwm"))
    if not access or set(access) - set("rwm"):
        fail(f"{path}.access", f'"{access}" is not made of r, w and m')
    major, minor = value.get("major"), value.get("minor")
    return DeviceRule(
        allow=boolean(f"{path}.allow", value["allow"]),
        kind=kind,
        major=None if major is None or major == -1 else integer(f"{path}.major", major, 0),
        minor=None if minor is None or minor == -1 else integer(f"{path}.minor", minor, 0),
        access=access,
    )


# --- security: user namespace mappings, seccomp, personality, time offsets

MAX_ID_MAPPINGS = 340  # lines a uid_map or gid_map may hold (user_namespaces(7))


def _id_mappings(path: str, value) -> list[IdMapping]:
    """Mappings whose ranges overlap, inside or outside, are refused here: the kernel
    refuses the whole map (EINVAL) and would say only that."""
    mappings = []
    for i, item in enumerate(array(path, value)):
        where = f"{path}[{i}]"
        obj(where, item)
        inside = integer(f"{where}.containerID", item.get("containerID"), 0, UINT32_MAX)
        outside = integer(f"{where}.hostID", item.get("hostID"), 0, UINT32_MAX)
        size = integer(f"{where}.size", item.get("size"), 1, UINT32_MAX)
        for end, which in ((inside, "containerID"), (outside, "hostID")):
            if end + size > UINT32_MAX + 1:
                fail(where, f"{which} {end} + size {size} goes past 4294967295")
        for j, other in enumerate(mappings):
            for mine, theirs, which in ((inside, other.container_id, "containerID"),
                                        (outside, other.host_id, "hostID")):
                if mine < theirs + other.size and theirs < mine + size:
                    fail(where, f"{which} range overlaps {path}[{j}]")
        mappings.append(IdMapping(inside, outside, size))
    if len(mappings) > MAX_ID_MAPPINGS:
        fail(path, f"{len(mappings)} mappings: the kernel takes at most {MAX_ID_MAPPINGS}")
    return mappings


def is_mapped(mappings: list[IdMapping], container_id: int) -> bool:
    return any(m.container_id <= container_id < m.container_id + m.size for m in mappings)


TIME_CLOCKS = ("monotonic", "boottime")  # the clocks a time namespace offsets (time_namespaces(7))


def _time_offsets(path: str, value) -> dict[str, tuple[int, int]]:
    offsets = {}
    for clock, offset in obj(path, value).items():
        if clock not in TIME_CLOCKS:
            fail(f"{path}.{clock}", f'unknown clock (expected {" or ".join(TIME_CLOCKS)})')
        where = f"{path}.{clock}"
        obj(where, offset)
        offsets[clock] = (integer(f"{where}.secs", offset.get("secs", 0), -(2**63), 2**63 - 1),
                          integer(f"{where}.nanosecs", offset.get("nanosecs", 0), 0,
                                  999_999_999))
    return offsets


PERSONALITY_DOMAINS = ("LINUX", "LINUX32")


def _personality(path: str, value) -> Personality:
    obj(path, value)
    domain = string(f"{path}.domain", value.get("domain"))
    if domain not in PERSONALITY_DOMAINS:
        fail(f"{path}.domain", f'"{domain}" is not LINUX or LINUX32')
    flags = strings(f"{path}.flags", value.get("flags", []))
    if flags:
        raise NotSupportedYet(f"config.json: {path}.flags")  # as runc: no flag is defined
    return Personality(domain, flags)


def parse_seccomp(value, path: str = "linux.seccomp") -> Seccomp:
    """The shape of `linux.seccomp` (config.json's, or as state.json keeps it for exec);
    which names this libseccomp and kernel take is checked when it is compiled
    (pyrun.linux.seccomp), before anything is made."""
    obj(path, value)
    errno_ret = value.get("defaultErrnoRet")
    metadata = string(f"{path}.listenerMetadata", value.get("listenerMetadata", ""))
    listener = string(f"{path}.listenerPath", value.get("listenerPath", ""))
    if metadata and not listener:
        fail(f"{path}.listenerMetadata", "needs linux.seccomp.listenerPath")
    if listener and not listener.startswith("/"):
        fail(f"{path}.listenerPath", f'"{listener}" must be an absolute path')
    return Seccomp(
        default_action=string(f"{path}.defaultAction", value.get("defaultAction")),
        default_errno_ret=None if errno_ret is None else
        integer(f"{path}.defaultErrnoRet", errno_ret, 0, 0xFFFF),
        architectures=strings(f"{path}.architectures", value.get("architectures", [])),
        flags=strings(f"{path}.flags", value.get("flags", [])),
        listener_path=listener,
        listener_metadata=metadata,
        syscalls=each(f"{path}.syscalls", value.get("syscalls", []), _syscall_rule),
    )


def _syscall_rule(where: str, value) -> SyscallRule:
    obj(where, value)
    errno_ret = value.get("errnoRet")
    return SyscallRule(
        names=strings(f"{where}.names", value.get("names", [])),
        action=string(f"{where}.action", value.get("action")),
        errno_ret=None if errno_ret is None else
        integer(f"{where}.errnoRet", errno_ret, 0, 0xFFFF),
        args=each(f"{where}.args", value.get("args", []), _seccomp_arg),
    )


def _seccomp_arg(where: str, value) -> SeccompArg:
    obj(where, value)
    return SeccompArg(index=integer(f"{where}.index", value.get("index"), 0, 5),
                      value=integer(f"{where}.value", value.get("value", 0), 0, 2**64 - 1),
                      value_two=integer(f"{where}.valueTwo", value.get("valueTwo", 0), 0,
                                        2**64 - 1),
                      op=string(f"{where}.op", value.get("op")))
