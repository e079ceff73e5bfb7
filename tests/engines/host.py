"""The host side of the engine tests: keep the engines' state off the host, and check from
outside (mount table, /proc, cgroupfs) what they and pyrun leave behind.

Containers engines write a few files at fixed host paths whatever their flags say:
containerd's runc shim puts its sockets in /run/containerd/s (and `ctr` its fifos in
/run/containerd/fifo), dockerd 20.10 makes /run/docker/plugins and writes /etc/docker/key.json, the
containerd that dockerd starts makes /opt/containerd, podman keeps a blob cache in
/var/lib/containers/cache. The test session therefore runs in a mount namespace of its own
(made by `private_mount_namespace`) where each of those paths is covered by a bind mount of a
directory under the session's temporary directory: the engines write there, and the host's
paths are never touched. A path that does not exist on the host needs a mount point, made
for the session and removed afterwards.
"""

import ctypes
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")

# Paths engines write to whatever their root/state/exec-root flags say (see module docstring).
# The default state roots of the runtimes are covered too: podman does not pass its
# --runtime-flag root=... on to every runtime call (see engines.Podman), so pyrun (and runc
# or crun when they stand in, PYRUN=/usr/sbin/runc) keep podman's containers there. So is
# where pyrun keeps seccomp programs: podman's conmon passes its runtime only PATH, not
# the PYRUN_SECCOMP_CACHE the test session sets (tests/conftest.py).
SHADOWED = ("/run/containerd", "/run/docker", "/var/lib/containers", "/etc/docker",
            "/opt/containerd", "/run/pyrun", "/run/runc", "/run/crun", "/run/pyrun-seccomp")

# Paths that must be no different after the session (their existence and their entries).
# /run/pyrun is pyrun's default --root; the rest are the engines' defaults.
WATCHED = (
    "/run/pyrun", "/run/runc", "/run/crun", "/var/lib/docker", "/var/run/docker.pid",
    "/var/run/docker.sock", "/var/lib/containerd", "/opt/containerd", "/run/containers",
    "/run/libpod", "/var/lib/cni", "/run/cni", "/etc/cni/net.d", "/etc/containers/networks",
    "/run/netns", *SHADOWED,
)

# Process names of the engines and everything they start.
ENGINE_COMMS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
                "docker-proxy", "docker-init", "conmon", "podman", "pyrun", "ctr", "docker")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
MNT_DETACH = 2


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def private_mount_namespace() -> None:
    """Move this (single-threaded) process into a new mount namespace, private from `/` down:
    nothing mounted from here on (by us, the engines, pyrun) is seen by the host, and all of
    it goes away with the last process of the namespace."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / rprivate")


def bind(source: str | Path, target: str | Path) -> None:
    _check(_libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None),
           f"bind {source} on {target}")


def umount(target: str | Path, detach: bool = False) -> None:
    _check(_libc.umount2(str(target).encode(), MNT_DETACH if detach else 0), f"umount {target}")


class Shadows:
    """Bind mounts of empty directories under `base` over the SHADOWED host paths."""

    def __init__(self, base: Path):
        self.base = base
        self.mounted: list[str] = []
        self.made: list[str] = []  # mount points this session had to create on the host

    def cover(self, paths=SHADOWED) -> None:
        for path in paths:
            if not os.path.isdir(path):
                # makedirs, remembering each level made so that undo removes exactly those
                missing = []
                p = path
                while not os.path.exists(p):
                    missing.append(p)
                    p = os.path.dirname(p)
                for p in reversed(missing):
                    os.mkdir(p, 0o755)
                    self.made.append(p)
            shadow = self.base / path.strip("/")
            shadow.mkdir(parents=True, exist_ok=True)
            bind(shadow, path)
            self.mounted.append(path)

    def written(self) -> dict[str, list[str]]:
        """What the engines wrote to each covered path (for the report)."""
        out = {}
        for path in self.mounted:
            shadow = self.base / path.strip("/")
            entries = sorted(str(p.relative_to(shadow)) for p in shadow.rglob("*"))
            if entries:
                out[path] = entries
        return out

    def undo(self) -> None:
        for path in reversed(self.mounted):
            try:
                umount(path)
            except OSError:
                umount(path, detach=True)
        self.mounted.clear()
        for path in reversed(self.made):
            os.rmdir(path)
        self.made.clear()


def watched_state() -> dict[str, tuple | None]:
    """For each WATCHED path: None if absent, else (is dir, sorted entries)."""
    out = {}
    for path in WATCHED:
        if not os.path.lexists(path):
            out[path] = None
        elif os.path.isdir(path):
            out[path] = (True, tuple(sorted(os.listdir(path))))
        else:
            out[path] = (False, ())
    return out


def mountinfo(pid: str | int = "self") -> list[tuple[str, str, str, str]]:
    """(mount id, mount point, options, fs type) of each mount `pid` sees."""
    rows = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            rows.append((fields[0], _unescape(fields[4]), fields[5], fields[sep + 1]))
    return rows


def _unescape(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_under(base: Path) -> list[str]:
    prefix = str(base).rstrip("/") + "/"
    return [point for _, point, _, _ in mountinfo() if (point + "/").startswith(prefix)]


def unmount_all_under(base: Path) -> list[str]:
    """Unmount everything mounted at or below `base`, deepest first; returns what it found."""
    found = mounts_under(base)
    for point in sorted(set(found), key=len, reverse=True):
        for _ in range(found.count(point)):
            try:
                umount(point)
            except OSError:
                try:
                    umount(point, detach=True)
                except OSError:
                    pass
    return found


# -- processes ------------------------------------------------------------------------------

def comm_of(pid: int | str) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def cmdline_of(pid: int | str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def engine_processes() -> dict[int, str]:
    """pid -> command line of every live process that belongs to an engine or to pyrun
    (zombies have an empty command line and are not counted: they are already dead).
    The launcher runs pyrun as `python3 -IS .../pyrun`, so command lines are matched too."""
    out = {}
    for pid in all_pids():
        comm = comm_of(pid)
        argv = cmdline_of(pid)
        if not argv or comm is None:
            continue
        names = {comm, os.path.basename(argv[0])}
        names.update(os.path.basename(a) for a in argv[1:2])
        if names & set(ENGINE_COMMS):
            out[pid] = " ".join(argv)
    return out


def is_gone(pid: int) -> bool:
    """Exited: no /proc entry, or a zombie not yet reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):  # reaped before or during the read
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def proc_environ(pid: int) -> list[str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return [e.decode(errors="replace") for e in f.read().split(b"\0") if e]


def children_of(pid: int) -> list[int]:
    kids = []
    for p in all_pids():
        try:
            with open(f"/proc/{p}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(p)
        except (OSError, ValueError, IndexError):
            continue
    return kids


def descendants_of(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


# -- cgroups --------------------------------------------------------------------------------

def cgroup_v2_only() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def cgroup_of(pid: int, controller: str) -> Path:
    """The directory of `pid`'s cgroup for `controller` (v1), or its v2 cgroup on a pure v2
    host, as this process sees cgroupfs."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    if cgroup_v2_only():
        path = next(p for _, ctrls, p in lines if ctrls == "")
        return CGROUP_ROOT / path.lstrip("/")
    for _, ctrls, path in lines:
        if controller in ctrls.split(","):
            mount = CGROUP_ROOT / ctrls if (CGROUP_ROOT / ctrls).is_dir() else \
                CGROUP_ROOT / controller
            return mount / path.lstrip("/")
    raise LookupError(f"pid {pid} has no {controller} cgroup")


def memory_limit_file(pid: int) -> Path:
    d = cgroup_of(pid, "memory")
    return d / ("memory.max" if cgroup_v2_only() else "memory.limit_in_bytes")


def pids_limit_file(pid: int) -> Path:
    return cgroup_of(pid, "pids") / "pids.max"


def oom_kills(pid: int) -> int:
    """How many processes the kernel's OOM killer killed in `pid`'s memory cgroup
    (oom_kill in memory.oom_control on v1, memory.events on v2)."""
    d = cgroup_of(pid, "memory")
    name = "memory.events" if cgroup_v2_only() else "memory.oom_control"
    for line in (d / name).read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    raise LookupError(f"no oom_kill in {d / name}")


def freezer_state(pid: int) -> str:
    """'FROZEN'/'THAWED' (v1 freezer.state) or '1'/'0' (v2 cgroup.freeze) of `pid`'s cgroup."""
    if cgroup_v2_only():
        return (cgroup_of(pid, "") / "cgroup.freeze").read_text().strip()
    return (cgroup_of(pid, "freezer") / "freezer.state").read_text().strip()


def cgroup_dirs() -> set[str]:
    """Every cgroup directory (relative to /sys/fs/cgroup) of every mounted hierarchy."""
    out = set()
    for top in CGROUP_ROOT.iterdir():
        if not top.is_dir() or top.is_symlink():
            continue
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                out.add(os.path.relpath(os.path.join(dirpath, d), CGROUP_ROOT))
    return out


def cgroups_named(words) -> list[str]:
    """cgroup directories whose last component contains any of `words` (container ids)."""
    words = [w for w in words if w]
    return sorted(d for d in cgroup_dirs() if any(w in os.path.basename(d) for w in words))


def remove_cgroup_tree(path: Path) -> None:
    """rmdir a cgroup and its (empty) descendants, deepest first."""
    for dirpath, _, _ in sorted(os.walk(path), key=lambda t: len(t[0]), reverse=True):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def run(cmd, timeout=60, check=False, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with text output captured through files: a container an engine starts
    may inherit the client's stdio and would keep a pipe (and the test) waiting."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        kw.setdefault("stdin", subprocess.DEVNULL)
        result = subprocess.run(cmd, stdout=out, stderr=err, text=True, timeout=timeout, **kw)
        out.seek(0)
        err.seek(0)
        result.stdout, result.stderr = out.read(), err.read()
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
    return result
