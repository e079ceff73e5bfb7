"""config.json into the model (pyrun.config.model), validated.

This is the one module that knows config.json's field names. Every error names the JSON
path (`process.user.uid: expected an integer, got "x"`). Unknown fields are ignored, as the
specification asks. Fields that later work will implement are refused with a clear
"not supported yet".
"""

import os

from pyrun import fastjson
from pyrun.config.model import (
    CAPABILITY_NUMBERS,
    CAPABILITY_SETS,
    DEVICE_TYPES,
    HOOK_NAMES,
    NAMESPACE_TYPES,
    PROPAGATIONS,
    RLIMIT_NAMES,
    Config,
    Device,
    DeviceRule,
    Hook,
    Linux,
    Mount,
    Namespace,
    Process,
    Resources,
    Rlimit,
    Root,
    ThrottleDevice,
    User,
    WeightDevice,
)
from pyrun.errors import ConfigError, NotSupportedYet, warn

UINT32_MAX = 2**32 - 1


# ---------------------------------------------------------------------------------------
# Typed access to the JSON tree. Each getter names the full JSON path when it fails.


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f'"{value}"' if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _fail(path: str, message: str):
    raise ConfigError(f"config.json: {path}", message)


def _expect(path: str, value, ok: bool, wanted: str):
    if not ok:
        _fail(path, f"expected {wanted}, got {_kind(value)}")
    return value


def _obj(path, value) -> dict:
    return _expect(path, value, isinstance(value, dict), "an object")


def _str(path, value) -> str:
    return _expect(path, value, isinstance(value, str), "a string")


def _bool(path, value) -> bool:
    return _expect(path, value, isinstance(value, bool), "a boolean")


def _int(path, value, lo=None, hi=None) -> int:
    _expect(path, value, isinstance(value, int) and not isinstance(value, bool), "an integer")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        _fail(path, f"{value} is out of range [{lo}, {hi}]")
    return value


def _list(path, value) -> list:
    return _expect(path, value, isinstance(value, list), "a list")


def _strs(path, value) -> list[str]:
    return _each(path, value, _str)


def _each(path, value, parse_item) -> list:
    """parse_item(f"{path}[i]", item) for each item of a JSON list."""
    return [parse_item(f"{path}[{i}]", v) for i, v in enumerate(_list(path, value))]


def _clean_path(path: str) -> str:
    """'//dev/../dev/' -> '/dev': one leading slash (normpath keeps two), no '..' above /."""
    return "/" + os.path.normpath("/" + path).lstrip("/")


def _abs(path, value) -> str:
    _str(path, value)
    if not value.startswith("/"):
        _fail(path, f'"{value}" must be an absolute path')
    return value


# ---------------------------------------------------------------------------------------
# Sections


def parse(doc, bundle: str, *, need_process: bool = True) -> Config:
    """Validate a decoded config.json; `bundle` is the absolute bundle directory."""
    doc = _expect("(top level)", doc, isinstance(doc, dict), "an object")
    cfg = Config(bundle)
    if "ociVersion" not in doc:
        _fail("ociVersion", "missing")
    cfg.oci_version = _str("ociVersion", doc["ociVersion"])
    cfg.root = _root(doc.get("root"), bundle)
    cfg.mounts = _each("mounts", doc.get("mounts", []), _mount)
    if doc.get("process") is not None:
        cfg.process = parse_process(doc["process"], "process")
        cfg.process_json = doc["process"]  # kept in state.json: exec starts from it
    elif need_process:
        _fail("process", "missing (needed to create a container)")
    cfg.hostname = _str("hostname", doc.get("hostname", ""))
    cfg.domainname = _str("domainname", doc.get("domainname", ""))
    cfg.hooks = parse_hooks(doc.get("hooks", {}))
    cfg.hooks_json = doc.get("hooks", {}) if cfg.hooks else {}
    annotations = _obj("annotations", doc.get("annotations", {}))
    cfg.annotations = {k: _str(f"annotations.{k}", v) for k, v in annotations.items()}
    cfg.linux = _linux(doc.get("linux", {}))
    _check_coherence(cfg)
    return cfg


def load(bundle: str, *, need_process: bool = True) -> Config:
    """Read and validate `<bundle>/config.json`."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(path, "no such file (is --bundle right?)") from None
    except OSError as e:
        raise ConfigError(path, e.strerror or str(e)) from None
    try:
        doc = fastjson.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError("config.json", f"not valid JSON: {e}") from None
    return parse(doc, bundle, need_process=need_process)


def _root(value, bundle: str) -> Root:
    if value is None:
        _fail("root", "missing")
    _obj("root", value)
    if "path" not in value:
        _fail("root.path", "missing")
    path = _str("root.path", value["path"])
    if not path:
        _fail("root.path", "empty")
    full = os.path.normpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        what = "not a directory" if os.path.exists(full) else "no such directory"
        _fail("root.path", f"{full}: {what}")
    return Root(full, _bool("root.readonly", value.get("readonly", False)))


def _mount(path: str, value) -> Mount:
    _obj(path, value)
    if "destination" not in value:
        _fail(f"{path}.destination", "missing")
    dest = _str(f"{path}.destination", value["destination"])
    if not dest:
        _fail(f"{path}.destination", "empty")
    return Mount(
        # The runtime spec (1.1) reads a relative destination as relative to "/", as runc.
        destination=_clean_path(dest),
        type=_str(f"{path}.type", value.get("type", "")),
        source=_str(f"{path}.source", value.get("source", "")),
        options=_strs(f"{path}.options", value.get("options", [])),
    )


def parse_process(value, path: str = "process") -> Process:
    """Validate a `process` object (config.json's, or `exec --process` JSON)."""
    _obj(path, value)
    args = _strs(f"{path}.args", value.get("args", []))
    if not args:
        _fail(f"{path}.args", "must name a program to run")
    if not args[0]:
        _fail(f"{path}.args[0]", "empty program name")
    env = _strs(f"{path}.env", value.get("env", []))
    for i, entry in enumerate(env):
        if "=" not in entry or entry.startswith("="):
            _fail(f"{path}.env[{i}]", f'"{entry}" is not NAME=value')
    if "cwd" not in value:
        _fail(f"{path}.cwd", "missing")
    size = value.get("consoleSize")
    console_size = None
    if size is not None:
        _obj(f"{path}.consoleSize", size)
        console_size = (_int(f"{path}.consoleSize.height", size.get("height", 0), 0, 65535),
                        _int(f"{path}.consoleSize.width", size.get("width", 0), 0, 65535))
    oom = value.get("oomScoreAdj")
    return Process(
        args=args,
        env=env,
        cwd=_abs(f"{path}.cwd", value["cwd"]),
        user=_user(f"{path}.user", value.get("user", {})),
        terminal=_bool(f"{path}.terminal", value.get("terminal", False)),
        console_size=console_size,
        capabilities=parse_capabilities(value.get("capabilities"), f"{path}.capabilities"),
        rlimits=_rlimits(f"{path}.rlimits", value.get("rlimits", [])),
        no_new_privileges=_bool(f"{path}.noNewPrivileges", value.get("noNewPrivileges", False)),
        oom_score_adj=None if oom is None else _int(f"{path}.oomScoreAdj", oom, -1000, 1000),
        apparmor_profile=_str(f"{path}.apparmorProfile", value.get("apparmorProfile", "")),
        selinux_label=_str(f"{path}.selinuxLabel", value.get("selinuxLabel", "")),
    )


def _user(path: str, value) -> User:
    _obj(path, value)
    umask = value.get("umask")
    gids = _list(f"{path}.additionalGids", value.get("additionalGids", []))
    if "username" in value:
        raise NotSupportedYet(f"config.json: {path}.username (Windows only)")
    return User(
        uid=_int(f"{path}.uid", value.get("uid", 0), 0, UINT32_MAX),
        gid=_int(f"{path}.gid", value.get("gid", 0), 0, UINT32_MAX),
        umask=None if umask is None else _int(f"{path}.umask", umask, 0, 0o7777),
        additional_gids=[_int(f"{path}.additionalGids[{i}]", g, 0, UINT32_MAX)
                         for i, g in enumerate(gids)],
    )


def parse_capabilities(value, path: str = "process.capabilities") -> dict | None:
    """Unknown names are dropped with a warning: the spec says runtimes SHOULD NOT fail
    on capabilities they cannot grant, and MUST log them."""
    if value is None:
        return None
    _obj(path, value)
    caps = {}
    for name in CAPABILITY_SETS:
        known = []
        for i, cap in enumerate(_strs(f"{path}.{name}", value.get(name, []))):
            if cap.upper().startswith("CAP_") and cap[4:].upper() in CAPABILITY_NUMBERS:
                known.append(cap.upper())
            else:
                warn(f'config.json: {path}.{name}[{i}]: unknown capability "{cap}" ignored')
        caps[name] = known
    return caps


def _unique_type(where: str, item, allowed, seen: set, noun: str) -> str:
    """The `type` of a list entry: one of `allowed`, and not one `seen` before."""
    _obj(where, item)
    kind = _str(f"{where}.type", item.get("type"))
    if kind not in allowed:
        _fail(f"{where}.type", f'unknown {noun} "{kind}"')
    if kind in seen:
        _fail(f"{where}.type", f'{noun} "{kind}" given twice')
    seen.add(kind)
    return kind


def _rlimits(path: str, value) -> list[Rlimit]:
    seen = set()
    limits = []
    for i, item in enumerate(_list(path, value)):
        where = f"{path}[{i}]"
        kind = _unique_type(where, item, RLIMIT_NAMES, seen, "rlimit")
        soft = _int(f"{where}.soft", item.get("soft"), 0, 2**64 - 1)
        hard = _int(f"{where}.hard", item.get("hard"), 0, 2**64 - 1)
        if soft > hard:
            _fail(where, f"{kind}: soft limit {soft} is above hard limit {hard}")
        limits.append(Rlimit(kind, soft, hard))
    return limits


def parse_hooks(value, path: str = "hooks") -> dict[str, list[Hook]]:
    """`hooks` (config.json's, or as kept in state.json): {hook kind: [Hook]}, kinds
    with no entry left out."""
    _obj(path, value)
    hooks = {}
    for name in HOOK_NAMES:
        entries = _each(f"{path}.{name}", value.get(name, []), _hook)
        if entries:
            hooks[name] = entries
    return hooks


def _hook(where: str, value) -> Hook:
    _obj(where, value)
    return Hook(path=_abs(f"{where}.path", value.get("path")),
                args=_strs(f"{where}.args", value.get("args", [])),
                env=_strs(f"{where}.env", value.get("env", [])),
                timeout=_int(f"{where}.timeout", value["timeout"], 1) if "timeout" in value
                else None)


def _linux(value) -> Linux:
    _obj("linux", value)
    lx = Linux()
    lx.namespaces = _namespaces(value.get("namespaces", []))
    lx.devices = _each("linux.devices", value.get("devices", []), _device)
    lx.masked_paths = _each("linux.maskedPaths", value.get("maskedPaths", []), _abs)
    lx.readonly_paths = _each("linux.readonlyPaths", value.get("readonlyPaths", []), _abs)
    prop = _str("linux.rootfsPropagation", value.get("rootfsPropagation", ""))
    if prop not in PROPAGATIONS:
        _fail("linux.rootfsPropagation", f'unknown propagation "{prop}"')
    lx.rootfs_propagation = prop
    sysctl = _obj("linux.sysctl", value.get("sysctl", {}))
    lx.sysctl = {k: _str(f"linux.sysctl.{k}", v) for k, v in sysctl.items()}
    lx.cgroups_path = _str("linux.cgroupsPath", value.get("cgroupsPath", ""))
    resources = _obj("linux.resources", value.get("resources", {}))
    lx.resources = parse_resources(resources, "linux.resources")
    lx.device_rules = _each("linux.resources.devices", resources.get("devices", []),
                            _device_rule)
    lx.seccomp = value.get("seccomp")
    lx.uid_mappings = _list("linux.uidMappings", value.get("uidMappings", []))
    lx.gid_mappings = _list("linux.gidMappings", value.get("gidMappings", []))
    lx.personality = value.get("personality")
    lx.mount_label = _str("linux.mountLabel", value.get("mountLabel", ""))
    lx.intel_rdt = value.get("intelRdt")
    return lx


def _namespaces(value) -> list[Namespace]:
    namespaces = []
    seen = set()
    for i, item in enumerate(_list("linux.namespaces", value)):
        where = f"linux.namespaces[{i}]"
        kind = _unique_type(where, item, NAMESPACE_TYPES, seen, "namespace type")
        path = _str(f"{where}.path", item.get("path", ""))
        if path and not path.startswith("/"):
            _fail(f"{where}.path", f'"{path}" must be an absolute path')
        if path and not os.path.exists(path):
            _fail(f"{where}.path", f"{path}: no such file")
        namespaces.append(Namespace(kind, path))
    return namespaces


def _device(path: str, value) -> Device:
    _obj(path, value)
    dev_path = _abs(f"{path}.path", value.get("path"))
    kind = _str(f"{path}.type", value.get("type"))
    if kind not in DEVICE_TYPES:
        _fail(f"{path}.type", f'unknown device type "{kind}" (expected c, b, u or p)')
    needs_numbers = kind != "p"
    if needs_numbers and ("major" not in value or "minor" not in value):
        _fail(path, f"device {dev_path}: major and minor are required for type {kind}")
    mode = value.get("fileMode")
    uid, gid = value.get("uid"), value.get("gid")
    return Device(
        path=_clean_path(dev_path),
        type=kind,
        major=_int(f"{path}.major", value.get("major", 0), 0),
        minor=_int(f"{path}.minor", value.get("minor", 0), 0),
        file_mode=None if mode is None else _int(f"{path}.fileMode", mode, 0, 0o7777),
        uid=None if uid is None else _int(f"{path}.uid", uid, 0, UINT32_MAX),
        gid=None if gid is None else _int(f"{path}.gid", gid, 0, UINT32_MAX),
    )


def parse_resources(value, path: str = "linux.resources") -> Resources:
    """`linux.resources` (or `pyrun update --resources` JSON), less the device rules."""
    _obj(path, value)
    for key in ("network", "rdma"):
        if value.get(key):
            raise NotSupportedYet(f"config.json: {path}.{key}")
    memory = _obj(f"{path}.memory", value.get("memory") or {})
    cpu = _obj(f"{path}.cpu", value.get("cpu") or {})
    pids = _obj(f"{path}.pids", value.get("pids") or {})
    blkio = _obj(f"{path}.blockIO", value.get("blockIO") or {})
    unified = _obj(f"{path}.unified", value.get("unified") or {})
    for key, text in unified.items():
        _str(f"{path}.unified.{key}", text)
        if not key or "/" in key or key.startswith(".") or "." not in key:
            _fail(f"{path}.unified", f'"{key}" is not a cgroup file name')
    m, c, b = f"{path}.memory", f"{path}.cpu", f"{path}.blockIO"
    return Resources(
        memory_limit=_opt_int(m, memory, "limit", -1),
        memory_reservation=_opt_int(m, memory, "reservation", -1),
        memory_swap=_opt_int(m, memory, "swap", -1),
        memory_swappiness=_opt_int(m, memory, "swappiness", 0, 100),
        memory_disable_oom_killer=_opt_bool(m, memory, "disableOOMKiller"),
        cpu_shares=_opt_int(c, cpu, "shares", 2, 262144),
        cpu_quota=_opt_int(c, cpu, "quota", -1),
        cpu_period=_opt_int(c, cpu, "period", 1000, 1_000_000),
        cpu_realtime_runtime=_opt_int(c, cpu, "realtimeRuntime", -1),
        cpu_realtime_period=_opt_int(c, cpu, "realtimePeriod", 0),
        cpu_cpus=_opt_str(c, cpu, "cpus"),
        cpu_mems=_opt_str(c, cpu, "mems"),
        cpu_idle=_opt_int(c, cpu, "idle", 0, 1),
        pids_limit=_opt_int(f"{path}.pids", pids, "limit", -1),
        blkio_weight=_opt_int(b, blkio, "weight", 10, 1000),
        blkio_leaf_weight=_opt_int(b, blkio, "leafWeight", 10, 1000),
        blkio_weight_devices=_each(f"{b}.weightDevice", blkio.get("weightDevice", []),
                                   _weight_device),
        throttle_read_bps=_throttles(b, blkio, "throttleReadBpsDevice"),
        throttle_write_bps=_throttles(b, blkio, "throttleWriteBpsDevice"),
        throttle_read_iops=_throttles(b, blkio, "throttleReadIOPSDevice"),
        throttle_write_iops=_throttles(b, blkio, "throttleWriteIOPSDevice"),
        hugepage_limits=_each(f"{path}.hugepageLimits", value.get("hugepageLimits", []),
                              _hugepage_limit),
        unified=dict(unified),
    )


def _opt_int(path, obj, key, lo=None, hi=None):
    return None if obj.get(key) is None else _int(f"{path}.{key}", obj[key], lo, hi)


def _opt_str(path, obj, key):
    return None if obj.get(key) is None else _str(f"{path}.{key}", obj[key])


def _opt_bool(path, obj, key):
    return None if obj.get(key) is None else _bool(f"{path}.{key}", obj[key])


def _device_numbers(path, value) -> tuple[int, int]:
    _obj(path, value)
    return (_int(f"{path}.major", value.get("major"), 0),
            _int(f"{path}.minor", value.get("minor"), 0))


def _weight_device(path, value) -> WeightDevice:
    major, minor = _device_numbers(path, value)
    return WeightDevice(major, minor, _opt_int(path, value, "weight", 10, 1000),
                        _opt_int(path, value, "leafWeight", 10, 1000))


def _throttles(path, blkio, key) -> list[ThrottleDevice]:
    def one(where, value):
        major, minor = _device_numbers(where, value)
        return ThrottleDevice(major, minor, _int(f"{where}.rate", value.get("rate"), 0))

    return _each(f"{path}.{key}", blkio.get(key, []), one)


def _hugepage_limit(path, value) -> tuple[str, int]:
    _obj(path, value)
    size = _str(f"{path}.pageSize", value.get("pageSize"))
    if not size[:-2].isdigit() or size[-2:] not in ("KB", "MB", "GB"):
        _fail(f"{path}.pageSize", f'"{size}" is not a page size like "2MB"')
    return size, _int(f"{path}.limit", value.get("limit"), 0)


def _device_rule(path: str, value) -> DeviceRule:
    _obj(path, value)
    if "allow" not in value:
        _fail(f"{path}.allow", "missing")
    kind = _str(f"{path}.type", value.get("type", "a"))
    if kind not in ("a", "c", "b"):
        _fail(f"{path}.type", f'"{kind}" is not a, c or b')
    access = _str(f"{path}.access", value.get("access", "rwm"))
    if not access or set(access) - set("rwm"):
        _fail(f"{path}.access", f'"{access}" is not made of r, w and m')
    major, minor = value.get("major"), value.get("minor")
    return DeviceRule(
        allow=_bool(f"{path}.allow", value["allow"]),
        kind=kind,
        major=None if major is None or major == -1 else _int(f"{path}.major", major, 0),
        minor=None if minor is None or minor == -1 else _int(f"{path}.minor", minor, 0),
        access=access,
    )


def _check_coherence(cfg: Config) -> None:
    """Rules that span fields (the runtime spec's "MUST generate an error" cases)."""
    lx = cfg.linux
    # As runc: a uts namespace must be listed (new, or joined: a pod's, whose name it sets).
    if cfg.hostname and not lx.namespace("uts"):
        _fail("hostname", 'needs a uts namespace (add {"type": "uts"} to linux.namespaces)')
    if cfg.domainname and not lx.namespace("uts"):
        _fail("domainname", "needs a uts namespace")
    for key in lx.sysctl:
        _check_sysctl(lx, key)
    mount_ns = lx.namespace("mount")
    if mount_ns is None or mount_ns.path:
        _refuse_mount_changes(cfg)
    if lx.uid_mappings or lx.gid_mappings or lx.namespace("user"):
        raise NotSupportedYet("config.json: linux.namespaces: user namespaces")
    if lx.namespace("time"):
        raise NotSupportedYet("config.json: linux.namespaces: time namespace")
    if lx.seccomp is not None:
        raise NotSupportedYet("config.json: linux.seccomp")
    if lx.personality is not None:
        raise NotSupportedYet("config.json: linux.personality")
    if lx.intel_rdt is not None:
        raise NotSupportedYet("config.json: linux.intelRdt")
    if cfg.process and cfg.process.apparmor_profile:
        raise NotSupportedYet("config.json: process.apparmorProfile")
    if (cfg.process and cfg.process.selinux_label) or lx.mount_label:
        raise NotSupportedYet("config.json: SELinux labels")


def _refuse_mount_changes(cfg: Config) -> None:
    """Without a new mount namespace the mount table is the caller's (or the joined
    namespace's owner's): pyrun chroots into the rootfs as it is and changes no mount, so
    every field that would need a mount is an error rather than a change to the host."""
    why = "needs a new mount namespace (add {\"type\": \"mount\"} to linux.namespaces)"
    lx = cfg.linux
    for field, given in (("mounts", cfg.mounts), ("linux.maskedPaths", lx.masked_paths),
                         ("linux.readonlyPaths", lx.readonly_paths),
                         ("linux.devices", lx.devices),
                         ("linux.rootfsPropagation", lx.rootfs_propagation),
                         ("root.readonly", cfg.root.readonly)):
        if given:
            _fail(field, why)


# sysctl prefixes that belong to a namespace (runc's list): only allowed when the container
# has its own namespace of that kind, so it can never change the host's settings.
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _check_sysctl(lx: Linux, key: str) -> None:
    where = f"linux.sysctl.{key}"
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if not lx.namespace("ipc"):
            _fail(where, "needs an ipc namespace")
        return
    if key.startswith("net."):
        if not lx.namespace("network"):
            _fail(where, "needs a network namespace")
        return
    if key in ("kernel.hostname", "kernel.domainname"):
        if not lx.namespace("uts"):
            _fail(where, "needs a uts namespace")
        return
    _fail(where, "not namespaced: changing it would change the host")
