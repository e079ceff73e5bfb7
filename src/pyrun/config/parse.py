"""config.json into the model (pyrun.config.model), validated: the top level, the
process, mounts and hooks here; the `linux` section in config/linux.py.

config/ is the one place that knows config.json's field names. Every error names the JSON
path (`process.user.uid: expected an integer, got "x"`). Unknown fields are ignored, as the
specification asks. Fields that later work will implement are refused with a clear
"not supported yet".
"""

import os

from pyrun import fastjson
from pyrun.config.fields import (
    UINT32_MAX,
    absolute,
    array,
    boolean,
    clean_path,
    each,
    expect,
    fail,
    integer,
    obj,
    string,
    strings,
    unique_type,
)
from pyrun.config.linux import parse_linux
from pyrun.config.model import (
    CAPABILITY_NUMBERS,
    CAPABILITY_SETS,
    HOOK_NAMES,
    RLIMIT_NAMES,
    Config,
    Hook,
    Linux,
    Mount,
    Process,
    Rlimit,
    Root,
    User,
)
from pyrun.errors import ConfigError, NotSupportedYet, warn


def parse(doc, bundle: str, *, need_process: bool = True) -> Config:
    """Validate a decoded config.json; `bundle` is the absolute bundle directory."""
    doc = expect("(top level)", doc, isinstance(doc, dict), "an object")
    cfg = Config(bundle)
    if "ociVersion" not in doc:
        fail("ociVersion", "missing")
    cfg.oci_version = string("ociVersion", doc["ociVersion"])
    cfg.root = _root(doc.get("root"), bundle)
    cfg.mounts = each("mounts", doc.get("mounts", []), _mount)
    if doc.get("process") is not None:
        cfg.process = parse_process(doc["process"], "process")
        cfg.process_json = doc["process"]  # kept in state.json: exec starts from it
    elif need_process:
        fail("process", "missing (needed to create a container)")
    cfg.hostname = string("hostname", doc.get("hostname", ""))
    cfg.domainname = string("domainname", doc.get("domainname", ""))
    cfg.hooks = parse_hooks(doc.get("hooks", {}))
    cfg.hooks_json = doc.get("hooks", {}) if cfg.hooks else {}
    annotations = obj("annotations", doc.get("annotations", {}))
    cfg.annotations = {k: string(f"annotations.{k}", v) for k, v in annotations.items()}
    cfg.linux = parse_linux(doc.get("linux", {}))
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
        fail("root", "missing")
    obj("root", value)
    if "path" not in value:
        fail("root.path", "missing")
    path = string("root.path", value["path"])
    if not path:
        fail("root.path", "empty")
    full = os.path.normpath(os.path.join(bundle, path))
    if not os.path.isdir(full):
        what = "not a directory" if os.path.exists(full) else "no such directory"
        fail("root.path", f"{full}: {what}")
    return Root(full, boolean("root.readonly", value.get("readonly", False)))


def _mount(path: str, value) -> Mount:
    obj(path, value)
    if "destination" not in value:
        fail(f"{path}.destination", "missing")
    dest = string(f"{path}.destination", value["destination"])
    if not dest:
        fail(f"{path}.destination", "empty")
    return Mount(
        # The runtime spec (1.1) reads a relative destination as relative to "/", as runc.
        destination=clean_path(dest),
        type=string(f"{path}.type", value.get("type", "")),
        source=string(f"{path}.source", value.get("source", "")),
        options=strings(f"{path}.options", value.get("options", [])),
    )


def parse_process(value, path: str = "process") -> Process:
    """Validate a `process` object (config.json's, or `exec --process` JSON)."""
    obj(path, value)
    args = strings(f"{path}.args", value.get("args", []))
    if not args:
        fail(f"{path}.args", "must name a program to run")
    if not args[0]:
        fail(f"{path}.args[0]", "empty program name")
    env = strings(f"{path}.env", value.get("env", []))
    for i, entry in enumerate(env):
        if "=" not in entry or entry.startswith("="):
            fail(f"{path}.env[{i}]", f'"{entry}" is not NAME=value')
    if "cwd" not in value:
        fail(f"{path}.cwd", "missing")
    size = value.get("consoleSize")
    console_size = None
    if size is not None:
        obj(f"{path}.consoleSize", size)
        console_size = (integer(f"{path}.consoleSize.height", size.get("height", 0), 0, 65535),
                        integer(f"{path}.consoleSize.width", size.get("width", 0), 0, 65535))
    oom = value.get("oomScoreAdj")
    return Process(
        args=args,
        env=env,
        cwd=absolute(f"{path}.cwd", value["cwd"]),
        user=_user(f"{path}.user", value.get("user", {})),
        terminal=boolean(f"{path}.terminal", value.get("terminal", False)),
        console_size=console_size,
        capabilities=parse_capabilities(value.get("capabilities"), f"{path}.capabilities"),
        rlimits=_rlimits(f"{path}.rlimits", value.get("rlimits", [])),
        no_new_privileges=boolean(f"{path}.noNewPrivileges", value.get("noNewPrivileges", False)),
        oom_score_adj=None if oom is None else integer(f"{path}.oomScoreAdj", oom, -1000, 1000),
        apparmor_profile=string(f"{path}.apparmorProfile", value.get("apparmorProfile", "")),
        selinux_label=string(f"{path}.selinuxLabel", value.get("selinuxLabel", "")),
    )


def _user(path: str, value) -> User:
    obj(path, value)
    umask = value.get("umask")
    gids = array(f"{path}.additionalGids", value.get("additionalGids", []))
    if "username" in value:
        raise NotSupportedYet(f"config.json: {path}.username (Windows only)")
    return User(
        uid=integer(f"{path}.uid", value.get("uid", 0), 0, UINT32_MAX),
        gid=integer(f"{path}.gid", value.get("gid", 0), 0, UINT32_MAX),
        umask=None if umask is None else integer(f"{path}.umask", umask, 0, 0o7777),
        additional_gids=[integer(f"{path}.additionalGids[{i}]", g, 0, UINT32_MAX)
                         for i, g in enumerate(gids)],
    )


def parse_capabilities(value, path: str = "process.capabilities") -> dict | None:
    """Unknown names are dropped with a warning: the spec says runtimes SHOULD NOT fail
    on capabilities they cannot grant, and MUST log them."""
    if value is None:
        return None
    obj(path, value)
    caps = {}
    for name in CAPABILITY_SETS:
        known = []
        for i, cap in enumerate(strings(f"{path}.{name}", value.get(name, []))):
            if cap.upper().startswith("CAP_") and cap[4:].upper() in CAPABILITY_NUMBERS:
                known.append(cap.upper())
            else:
                warn(f'config.json: {path}.{name}[{i}]: unknown capability "{cap}" ignored')
        caps[name] = known
    return caps


def _rlimits(path: str, value) -> list[Rlimit]:
    seen = set()
    limits = []
    for i, item in enumerate(array(path, value)):
        where = f"{path}[{i}]"
        kind = unique_type(where, item, RLIMIT_NAMES, seen, "rlimit")
        soft = integer(f"{where}.soft", item.get("soft"), 0, 2**64 - 1)
        hard = integer(f"{where}.hard", item.get("hard"), 0, 2**64 - 1)
        if soft > hard:
            fail(where, f"{kind}: soft limit {soft} is above hard limit {hard}")
        limits.append(Rlimit(kind, soft, hard))
    return limits


def parse_hooks(value, path: str = "hooks") -> dict[str, list[Hook]]:
    """`hooks` (config.json's, or as kept in state.json): {hook kind: [Hook]}, kinds
    with no entry left out."""
    obj(path, value)
    hooks = {}
    for name in HOOK_NAMES:
        entries = each(f"{path}.{name}", value.get(name, []), _hook)
        if entries:
            hooks[name] = entries
    return hooks


def _hook(where: str, value) -> Hook:
    obj(where, value)
    return Hook(path=absolute(f"{where}.path", value.get("path")),
                args=strings(f"{where}.args", value.get("args", [])),
                env=strings(f"{where}.env", value.get("env", [])),
                timeout=integer(f"{where}.timeout", value["timeout"], 1) if "timeout" in value
                else None)


def _check_coherence(cfg: Config) -> None:
    """Rules that span fields (the runtime spec's "MUST generate an error" cases)."""
    lx = cfg.linux
    # As runc: a uts namespace must be listed (new, or joined: a pod's, whose name it sets).
    if cfg.hostname and not lx.namespace("uts"):
        fail("hostname", 'needs a uts namespace (add {"type": "uts"} to linux.namespaces)')
    if cfg.domainname and not lx.namespace("uts"):
        fail("domainname", "needs a uts namespace")
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
            fail(field, why)


# sysctl prefixes that belong to a namespace (runc's list): only allowed when the container
# has its own namespace of that kind, so it can never change the host's settings.
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _check_sysctl(lx: Linux, key: str) -> None:
    where = f"linux.sysctl.{key}"
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if not lx.namespace("ipc"):
            fail(where, "needs an ipc namespace")
        return
    if key.startswith("net."):
        if not lx.namespace("network"):
            fail(where, "needs a network namespace")
        return
    if key in ("kernel.hostname", "kernel.domainname"):
        if not lx.namespace("uts"):
            fail(where, "needs a uts namespace")
        return
    fail(where, "not namespaced: changing it would change the host")
