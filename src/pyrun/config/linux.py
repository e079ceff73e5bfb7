"""The `linux` section of config.json: namespaces, devices, resources and the device
allow-list, into the model."""

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
    unique_type,
)
from pyrun.config.model import (
    DEVICE_TYPES,
    NAMESPACE_TYPES,
    PROPAGATIONS,
    Device,
    DeviceRule,
    Linux,
    Namespace,
    Resources,
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
    lx.sysctl = {k: string(f"linux.sysctl.{k}", v) for k, v in sysctl.items()}
    lx.cgroups_path = string("linux.cgroupsPath", value.get("cgroupsPath", ""))
    resources = obj("linux.resources", value.get("resources", {}))
    lx.resources = parse_resources(resources, "linux.resources")
    lx.device_rules = each("linux.resources.devices", resources.get("devices", []),
                            _device_rule)
    lx.seccomp = value.get("seccomp")
    lx.uid_mappings = array("linux.uidMappings", value.get("uidMappings", []))
    lx.gid_mappings = array("linux.gidMappings", value.get("gidMappings", []))
    lx.personality = value.get("personality")
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
        string(f"{path}.unified.{key}", text)
        if not key or "/" in key or key.startswith(".") or "." not in key:
            fail(f"{path}.unified", f'"{key}" is not a cgroup file name')
    m, c, b = f"{path}.memory", f"{path}.cpu", f"{path}.blockIO"
    return Resources(
        memory_limit=opt_int(m, memory, "limit", -1),
        memory_reservation=opt_int(m, memory, "reservation", -1),
        memory_swap=opt_int(m, memory, "swap", -1),
        memory_swappiness=opt_int(m, memory, "swappiness", 0, 100),
        memory_disable_oom_killer=opt_bool(m, memory, "disableOOMKiller"),
        cpu_shares=opt_int(c, cpu, "shares", 2, 262144),
        cpu_quota=opt_int(c, cpu, "quota", -1),
        cpu_period=opt_int(c, cpu, "period", 1000, 1_000_000),
        cpu_realtime_runtime=opt_int(c, cpu, "realtimeRuntime", -1),
        cpu_realtime_period=opt_int(c, cpu, "realtimePeriod", 0),
        cpu_cpus=opt_str(c, cpu, "cpus"),
        cpu_mems=opt_str(c, cpu, "mems"),
        cpu_idle=opt_int(c, cpu, "idle", 0, 1),
        pids_limit=opt_int(f"{path}.pids", pids, "limit", -1),
        blkio_weight=opt_int(b, blkio, "weight", 10, 1000),
        blkio_leaf_weight=opt_int(b, blkio, "leafWeight", 10, 1000),
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
