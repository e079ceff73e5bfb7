"""config.json into the model (pyrun.config.model), validated: the top level, the
process, mounts and hooks here; the `linux` section in config/linux.py.

config/ is the one place that knows config.json's field names. Every error names the JSON
path (`process.user.uid: expected an integer, got "x"`). Unknown fields are ignored, as the
specification asks. Fields that later work will implement are refused with a clear
"not supported yet".
"""

import os
import stat

from pyrun import fastjson
from pyrun.config.fields import (
    absolute,
    boolean,
    clean_path,
    each,
    expect,
    fail,
    integer,
    obj,
    string,
    strings,
)
from pyrun.config.linux import is_mapped, parse_linux
from pyrun.config.model import (
    HOOK_NAMES,
    Config,
    Hook,
    Linux,
    Mount,
    Root,
)
from pyrun.config.process import parse_process
from pyrun.errors import ConfigError, NotSupportedYet


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
    cfg.hostname = uts_name("hostname", doc.get("hostname", ""))
    cfg.domainname = uts_name("domainname", doc.get("domainname", ""))
    cfg.hooks = parse_hooks(doc.get("hooks", {}))
    cfg.hooks_json = doc.get("hooks", {}) if cfg.hooks else {}
    annotations = obj("annotations", doc.get("annotations", {}))
    cfg.annotations = {string("annotations", k): string(f"annotations.{k}", v)
                       for k, v in annotations.items()}
    cfg.linux = parse_linux(doc.get("linux", {}))
    if cfg.linux.seccomp is not None:
        cfg.seccomp_json = doc["linux"]["seccomp"]
    _check_coherence(cfg)
    return cfg


MAX_CONFIG_BYTES = 8 << 20  # Docker's and podman's configs are tens of kilobytes


HOOK_TIMEOUT_MAX = 2**31 - 1  # seconds (68 years): what a timer can be given
UTS_NAME_MAX = 64  # bytes: the kernel's __NEW_UTS_LEN (sethostname's EINVAL above it)


def uts_name(path: str, value) -> str:
    string(path, value)
    if len(value.encode()) > UTS_NAME_MAX:
        fail(path, f"longer than {UTS_NAME_MAX} bytes (the kernel's limit)")
    return value


def load(bundle: str, *, need_process: bool = True) -> Config:
    """Read and validate `<bundle>/config.json`: a regular file of at most 8 MiB (a fifo
    would hang pyrun, /dev/zero grow it until it dies)."""
    path = os.path.join(bundle, "config.json")
    doc = parse_json(_read_bounded(path), "config.json")
    return parse(doc, bundle, need_process=need_process)


def _read_bounded(path: str) -> bytes:
    try:
        # O_NONBLOCK: opening a fifo does not wait for a writer (and it is refused next)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(path, "no such file (is --bundle right?)") from None
    except OSError as e:
        raise ConfigError(path, e.strerror or str(e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(path, "not a regular file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(path, f"larger than {MAX_CONFIG_BYTES >> 20} MiB")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_CONFIG_BYTES:  # grew while we read
                raise ConfigError(path, f"larger than {MAX_CONFIG_BYTES >> 20} MiB")
        return b"".join(chunks)
    except OSError as e:
        raise ConfigError(path, e.strerror or str(e)) from None
    finally:
        os.close(fd)


def parse_json(raw: bytes, what: str):
    """JSON text to Python values; an error names `what` (a file, a flag)."""
    try:
        return fastjson.loads(raw)
    except RecursionError:
        raise ConfigError(what, "nested too deeply to parse") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(what, f"not valid JSON: {e}") from None


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
    # As runc ("invalid rootfs"): the rootfs is the directory named, not where a symlink
    # leads (out of the bundle, perhaps). Symlinks above the bundle are the host's affair.
    named = full if os.path.isabs(path) else \
        os.path.join(os.path.realpath(bundle), os.path.relpath(full, bundle))
    if os.path.realpath(full) != os.path.normpath(named):
        fail("root.path", f"{full}: a symlink (to {os.path.realpath(full)}), not a directory")
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
                timeout=integer(f"{where}.timeout", value["timeout"], 1, HOOK_TIMEOUT_MAX)
                if "timeout" in value
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
    _check_user_namespace(cfg)
    if lx.time_offsets and not lx.owns("time"):
        fail("linux.timeOffsets", 'needs a new time namespace (add {"type": "time"} to '
                                  "linux.namespaces)")
    if lx.intel_rdt is not None:
        raise NotSupportedYet("config.json: linux.intelRdt")


def _check_user_namespace(cfg: Config) -> None:
    """runc's rules: mappings need a user namespace and a new one needs mappings; the
    process's ids must be mapped, or the switch to them fails with a bare EINVAL."""
    lx = cfg.linux
    user = lx.namespace("user")
    mappings = lx.uid_mappings or lx.gid_mappings
    if mappings and user is None:
        fail("linux.uidMappings", 'needs a user namespace (add {"type": "user"} to '
                                  "linux.namespaces)")
    if user is None:
        return
    if user.path:
        if mappings:
            fail("linux.uidMappings", "the joined user namespace (linux.namespaces) has "
                                      "its own mappings: give none")
        return
    for field, given in (("linux.uidMappings", lx.uid_mappings),
                         ("linux.gidMappings", lx.gid_mappings)):
        if not given:
            fail(field, "a new user namespace needs mappings")
    if cfg.process is None:
        return
    u = cfg.process.user
    checks = [("process.user.uid", u.uid, lx.uid_mappings, "linux.uidMappings"),
              ("process.user.gid", u.gid, lx.gid_mappings, "linux.gidMappings")]
    checks += [(f"process.user.additionalGids[{i}]", gid, lx.gid_mappings,
                "linux.gidMappings") for i, gid in enumerate(u.additional_gids)]
    for field, wanted, given, mapped_by in checks:
        if not is_mapped(given, wanted):
            fail(field, f"{wanted} is not mapped by {mapped_by}")


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
