"""The whole of the container init for a full config, recorded without root: every system
call (tests/fakes.py) and every message to pyrun, in order. The order is the runtime
spec's (runtime.md "Lifecycle", config.md) and runc's:

    namespaces made (by the intermediate); into our cgroup (v1's memory later); loopback up
    the mount table: / rslave, the rootfs bound, the config's mounts in order (before the
      cgroup mount: the rest of our cgroup, then our own cgroup namespace), /dev nodes
    prestart/createRuntime (pyrun's), createContainer (ours), then pivot_root
    the terminal, hostname, domainname, sysctl
    masked paths, read-only paths, read-only root, the root's propagation
    rlimits, oom_score_adj, keyring, bounding set, uid/gid, cwd, capabilities, NNP
    "created", the wait for start, startContainer, execve
"""

import os
import re
import resource
import stat

import pytest

from pyrun import config
from pyrun.init.common import InitOptions
from pyrun.init.container import run_container_init
from pyrun.linux import capabilities, syscalls
from pyrun.linux.network import SIOCGIFFLAGS, SIOCSIFFLAGS
from pyrun.linux.syscalls import CLONE_NEWCGROUP, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REMOUNT
from pyrun.linux.tty import TIOCSCTTY
from tests.fakes import FakeSyscalls


class FakeChannel:
    """pyrun's side of the sync channel, writing its messages into the same log."""

    def __init__(self, log: list):
        self.log = log

    def request_runtime_hooks(self) -> dict:
        self.log.append(("chan", "run runtime hooks"))
        return {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 42,
                "bundle": "/b"}

    def send_console(self, fd):
        self.log.append(("chan", "console"))

    def send_created(self):
        self.log.append(("chan", "created"))


def full_config(bundle, hook_out) -> dict:
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f'cat >> {hook_out}; echo >> {hook_out}']}
    return {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "box",
        "domainname": "example.org",
        "process": {
            "terminal": True,
            "consoleSize": {"height": 24, "width": 80},
            "user": {"uid": 1000, "gid": 1001, "additionalGids": [5], "umask": 0o27},
            "args": ["/bin/sh", "-c", "true"],
            "env": ["PATH=/bin", "A=1"],
            "cwd": "/work",
            "capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN"],
                             "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                             "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
            "noNewPrivileges": True,
            "oomScoreAdj": 100,
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/data", "type": "bind", "source": str(bundle / "data"),
             "options": ["rbind", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                                 "cgroup")],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            "sysctl": {"net.ipv4.ip_forward": "1"},
            "maskedPaths": ["/proc/version"],
            "readonlyPaths": ["/proc/sys"],
            "rootfsPropagation": "rprivate",
        },
        "hooks": {"createContainer": [hook], "startContainer": [hook]},
    }


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """Run the init of the full config through the fakes; the log and the fixture paths."""
    monkeypatch.setattr(capabilities, "_last_cap", 40)  # CAP_CHECKPOINT_RESTORE, Linux 5.9
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "data").mkdir()
    hook_out = tmp_path / "hooks.out"
    cfg = config.parse(full_config(bundle, hook_out), str(bundle))
    fifo = tmp_path / "exec.fifo"  # a plain file stands in: the "start" never blocks
    fifo.write_text("")
    directory = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    opts = InitOptions(
        fifo_fd=os.open(fifo, os.O_PATH | os.O_CLOEXEC),
        host_proc_fd=os.open("/proc", directory),
        rootfs_fd=os.open(bundle / "rootfs", directory),
        rootfs_parent_fd=os.open(bundle, directory),
        cgroup_mounts=[("", "/sys/fs/cgroup/pyrun/c1", 2)])
    sc = FakeSyscalls()
    run_container_init(cfg, FakeChannel(sc.log), opts, sc)
    return [describe(entry, bundle) for entry in sc.log], hook_out, fifo


FLAG_NAMES = {value: name for name, value in vars(syscalls).items()
              if name.startswith("MS_") and name != "MS_MGC_VAL"}
READ_ONLY_REMOUNT = MS_REMOUNT | MS_BIND | MS_RDONLY


def describe(entry, bundle) -> str:
    """One log entry as a line: the bundle's path shown as $bundle, mount flags by name,
    and a read-only remount as such (it keeps whatever flags the mount had)."""
    name, *args = entry
    args = [a.replace(str(bundle), "$bundle") if isinstance(a, str) else a for a in args]
    if name == "mount":
        source, target, fstype, flags, data = args
        if flags & READ_ONLY_REMOUNT == READ_ONLY_REMOUNT:
            return f"remount read-only {target}"
        names = "|".join(n for bit, n in sorted(FLAG_NAMES.items()) if flags & bit) or "0"
        return f"mount {source} {target} {fstype} {names}" + (f" {data}" if data else "")
    if name == "mknod":
        path, mode, device = args
        kind = "b" if stat.S_ISBLK(mode) else "c"
        return f"mknod {path} {kind} {os.major(device)}:{os.minor(device)} {mode & 0o777:o}"
    if name == "execve":
        return f"execve {args[0]} {args[1]}"
    return " ".join([name, *map(str, args)])


def test_container_init_makes_every_call_in_the_spec_order(recorded):
    lines, _, _ = recorded
    dev_nodes = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                 ("urandom", 1, 9), ("tty", 5, 0), ("fuse", 10, 229)]
    expected = [
        "setsid", "umask 0",
        f"ioctl {SIOCGIFFLAGS}", f"ioctl {SIOCSIFFLAGS}",  # lo up
        # the mount table, host side
        "mount None / None MS_REC|MS_SLAVE",
        "mount $bundle/rootfs $bundle/rootfs None MS_BIND|MS_REC",
        "mount proc $bundle/rootfs/proc proc 0",
        "mount tmpfs $bundle/rootfs/dev tmpfs MS_NOSUID mode=755",
        f"unshare {CLONE_NEWCGROUP}",  # wholly in our cgroup by then (CgroupEntry)
        "mount cgroup2 $bundle/rootfs/sys/fs/cgroup cgroup2 "
        "MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC",
        "mount $bundle/data $bundle/rootfs/data None MS_BIND|MS_REC",
        "remount read-only $bundle/rootfs/data",
        *[line for name, major, minor in dev_nodes for line in (
            f"mknod $bundle/rootfs/dev/{name} c {major}:{minor} 666",
            f"chown $bundle/rootfs/dev/{name} 0 0")],
        "chan run runtime hooks",  # prestart, createRuntime; then createContainer, here
        # into the rootfs
        "fchdir $bundle/rootfs", "pivot_root . .", "fchdir /",
        "mount None . None MS_REC|MS_SLAVE", f"umount2 . {MNT_DETACH}", "chdir /",
        # the terminal
        "mount /dev/pts/N /dev/console None MS_BIND", "chan console",
        f"ioctl {TIOCSCTTY}", "dup2 0", "dup2 1", "dup2 2", "fchown 0 1000 -1",
        # identity, then the rootfs made final
        "sethostname box", "setdomainname example.org",
        "write_file /proc/sys/net/ipv4/ip_forward 1",
        "mount /dev/null /proc/version None MS_BIND",
        "mount /proc/sys /proc/sys None MS_BIND|MS_REC", "remount read-only /proc/sys",
        "remount read-only /",
        "mount None / None MS_REC|MS_PRIVATE",
        # the process
        f"setrlimit {resource.RLIMIT_NOFILE} (512, 1024)",
        "write_file /proc/self/oom_score_adj 100",
        "keyctl_join_session_keyring None",
        *[f"capbset_drop {cap}" for cap in range(41) if cap not in (0, 5)],  # CHOWN, KILL
        "chdir /work",  # as root, while it still may
        "set_keepcaps True", "setgroups [5]", "setresgid 1001 1001 1001",
        "setresuid 1000 1000 1000", "set_keepcaps False",
        "capset [5] [5] [5]", "cap_ambient_clear_all", "cap_ambient_raise 5",
        "set_no_new_privs", f"umask {0o27}",
        "chan created",  # then the wait for start, and startContainer
        "reset_signals", "execve /bin/sh ['/bin/sh', '-c', 'true']",
    ]
    lines = [re.sub(r"^mount /dev/pts/\d+ ", "mount /dev/pts/N ", line) for line in lines]
    assert lines == expected


def test_container_init_runs_both_container_hooks_with_the_state(recorded):
    _, hook_out, fifo = recorded
    created, started = hook_out.read_text().splitlines()
    assert '"status":"creating"' in created and '"id":"c1"' in created
    assert '"status":"created"' in started
    assert fifo.read_text() == "0"  # the init told `start` it got there
