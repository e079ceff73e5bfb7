"""The three ways a runtime can take its own host down, each checked from outside:

1. pivot_root (or any mount) without a mount namespace of the container's own: it would
   replace the caller's root. pyrun chroots then, and changes no mount.
2. Cleaning up a cgroup pyrun did not make: killing "every process in the cgroup" of a
   cgroupsPath naming a shared cgroup kills bystanders. pyrun refuses a cgroup that holds
   processes, and removes only what it made.
3. Joining a frozen cgroup: the process stops for good. pyrun refuses a frozen cgroup.

The cases that could hurt the machine if pyrun regressed run pyrun inside a throwaway mount
namespace (unshare -m), so that a regression fails the test instead of the host.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pyrun.linux.cgroups import detect
from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import can_make_user_namespaces, is_gone, state_of

pytestmark = pytest.mark.cgroups  # `make vm-test` runs them on pure cgroup v2 too

CGROUP_ROOT = Path("/sys/fs/cgroup")
V2 = detect() == "v2"


# --- a cgroup made by someone else ---------------------------------------------------------------

def hierarchy_dirs() -> list[Path]:
    """The root of every cgroup hierarchy this host mounts (cgroup2 included)."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] in ("cgroup", "cgroup2"):
                roots.append(Path(left.split()[4]))
    return roots


class ForeignCgroup:
    """A cgroup made by the test (as another program would), at the same path in every
    hierarchy, optionally holding a victim process that pyrun must never touch."""

    def __init__(self, path: str):
        self.path = path
        self.dirs = [root / path.lstrip("/") for root in hierarchy_dirs()]
        self.victim = None

    def make(self):
        for d in self.dirs:
            new = [p for p in reversed([d, *d.parents]) if not p.exists()]
            for p in new:
                p.mkdir()
                if not V2 and (p / "cpuset.cpus").exists():  # v1: empty until copied down
                    for name in ("cpuset.cpus", "cpuset.mems"):
                        (p / name).write_text((p.parent / name).read_text())
        return self

    def add_victim(self):
        self.victim = subprocess.Popen(["sleep", "300"])
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(self.victim.pid))
        return self.victim

    def freeze(self):
        if V2:
            (self.dirs[0] / "cgroup.freeze").write_text("1")
        else:
            (CGROUP_ROOT / "freezer" / self.path.lstrip("/") / "freezer.state").write_text(
                "FROZEN")

    def thaw(self):
        if V2:
            (self.dirs[0] / "cgroup.freeze").write_text("0")
        else:
            state = CGROUP_ROOT / "freezer" / self.path.lstrip("/") / "freezer.state"
            if state.exists():
                state.write_text("THAWED")

    def remove(self):
        self.thaw()
        if self.victim is not None:
            self.victim.kill()
            self.victim.wait()
        for d in self.dirs:
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@pytest.fixture
def foreign_cgroup(container_id):
    group = ForeignCgroup(f"/pyrun/{container_id}-foreign").make()
    yield group
    group.remove()


def config_in(cgroup: ForeignCgroup, args=("sleep", "100")) -> dict:
    config = default_config(args=args)
    config["linux"]["cgroupsPath"] = cgroup.path
    return config


@pytest.mark.parametrize("command", ["create", "run"])
def test_a_cgroup_holding_processes_is_refused_and_its_processes_survive(
        pyrun, make_bundle, container_id, foreign_cgroup, command):
    victim = foreign_cgroup.add_victim()
    # A create that would fail anyway (no such program) must not "clean up" the cgroup.
    bundle = make_bundle(config=config_in(foreign_cgroup, args=("/no/such/program",)))
    result = pyrun(command, "-b", bundle, container_id)
    assert result.returncode == 1
    assert "container's cgroup is not empty: 1 process(es) found" in result.stderr
    assert victim.poll() is None, "pyrun killed a process it did not start"
    assert all(d.is_dir() for d in foreign_cgroup.dirs), "pyrun removed a cgroup it did not make"
    assert all(str(victim.pid) in (d / "cgroup.procs").read_text().split()
               for d in foreign_cgroup.dirs)


def test_a_process_in_a_sub_cgroup_counts_too(pyrun, make_bundle, container_id,
                                              foreign_cgroup):
    # On v2 a parent's cgroup.procs is empty while its children hold processes, and
    # cgroup.kill would reach them all.
    sub = ForeignCgroup(foreign_cgroup.path + "/leaf").make()
    try:
        victim = sub.add_victim()
        result = pyrun("run", "-b", make_bundle(config=config_in(foreign_cgroup)), container_id)
        assert result.returncode == 1
        assert "container's cgroup is not empty" in result.stderr
        assert victim.poll() is None
    finally:
        sub.remove()


def test_an_empty_cgroup_made_by_someone_else_is_used_and_kept(pyrun, make_bundle,
                                                               container_id, foreign_cgroup):
    bundle = make_bundle(config=config_in(foreign_cgroup))
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    pid = state_of(pyrun, container_id)["pid"]
    assert str(pid) in (foreign_cgroup.dirs[0] / "cgroup.procs").read_text().split()
    deleted = pyrun("delete", "--force", container_id)
    assert deleted.returncode == 0, deleted.stderr
    assert is_gone(pid)
    assert all(d.is_dir() for d in foreign_cgroup.dirs), "pyrun removed a cgroup it did not make"


@pytest.mark.parametrize("command", ["create", "run"])
def test_a_frozen_cgroup_is_refused(pyrun, make_bundle, container_id, foreign_cgroup, command):
    foreign_cgroup.freeze()
    bundle = make_bundle(config=config_in(foreign_cgroup))
    started = time.monotonic()
    result = pyrun(command, "-b", bundle, container_id, timeout=20)
    assert result.returncode == 1
    assert "container's cgroup unexpectedly frozen" in result.stderr
    assert time.monotonic() - started < 10
    procs = [(d / "cgroup.procs").read_text().split() for d in foreign_cgroup.dirs]
    assert procs == [[] for _ in procs], "a process was moved into the frozen cgroup"


def test_the_own_cgroup_is_refused(pyrun, make_bundle, container_id):
    # "." is pyrun's own cgroup: it holds pyrun (and here the test runner). Taking it
    # would freeze and kill them at pause and delete.
    config = default_config()
    config["linux"]["cgroupsPath"] = "."
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 1
    # (Or refused earlier: as the root cgroup, where pyrun runs in a cgroup namespace's
    # root, or where its cgroups differ between v1 hierarchies.)
    assert any(reason in result.stderr for reason in (
        "container's cgroup is not empty", "must not be the root cgroup",
        "relative linux.cgroupsPath")), result.stderr


# --- no mount namespace --------------------------------------------------------------------------

def no_mount_namespace_config(args) -> dict:
    """A config whose container shares the caller's mount namespace: nothing to mount."""
    config = default_config(args=args)
    config["linux"]["namespaces"] = [{"type": t} for t in ("pid", "uts", "ipc", "network")]
    config["mounts"] = []
    config["root"]["readonly"] = False
    del config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"]
    return config


def test_without_a_mount_namespace_the_callers_mounts_and_root_are_unchanged(
        make_bundle, container_id, state_root, tmp_path):
    bundle = make_bundle(config=no_mount_namespace_config(["sh", "-c", "ls /; echo $$"]))
    # The caller is a shell in a throwaway mount namespace (a slave of the host's, so a
    # regression cannot reach the host): its mount table and root before and after.
    script = (
        'cat /proc/self/mountinfo > "$1/before"; stat -L -c "%d:%i" / > "$1/root-before"; '
        f'{PYRUN} --root "$2" run -b "$3" "$4" > "$1/out" 2> "$1/err"; echo $? > "$1/rc"; '
        'cat /proc/self/mountinfo > "$1/after"; stat -L -c "%d:%i" / > "$1/root-after"'
    )
    subprocess.run(["unshare", "-m", "--propagation", "slave", "sh", "-c", script, "sh",
                    tmp_path, state_root, bundle, container_id], check=True, timeout=30)
    read = lambda name: (tmp_path / name).read_text()  # noqa: E731
    assert read("rc").strip() == "0", read("err")
    assert read("before") == read("after"), "pyrun changed the caller's mount table"
    assert read("root-before") == read("root-after"), "pyrun changed the caller's root"
    listing = read("out").split()
    assert {"bin", "etc", "proc"} <= set(listing), listing  # the container saw the rootfs
    assert listing[-1] == "1"  # as PID 1 of its own pid namespace


def test_exec_without_a_mount_namespace_enters_the_containers_root(pyrun, make_bundle,
                                                                   container_id):
    # No mount namespace to join: exec's process must take the init's root (a chroot),
    # not keep the caller's, where it would run the host's programs on the host's files.
    bundle = make_bundle(config=no_mount_namespace_config(["sleep", "100"]))
    (bundle / "rootfs" / "only-in-the-rootfs").write_text("")
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        result = pyrun("exec", container_id, "sh", "-c", "ls /; pwd")
        assert result.returncode == 0, result.stderr
        listing = result.stdout.split()
        assert "only-in-the-rootfs" in listing, listing
        assert sorted(listing[:-1]) == sorted(os.listdir(bundle / "rootfs")), listing
        assert listing[-1] == "/"
    finally:
        pyrun("delete", "--force", container_id)


@pytest.mark.parametrize(("field", "edit"), [
    ("mounts", lambda c: c.__setitem__("mounts", [{"destination": "/proc", "type": "proc",
                                                   "source": "proc"}])),
    ("linux.maskedPaths", lambda c: c["linux"].__setitem__("maskedPaths", ["/proc/kcore"])),
    ("linux.readonlyPaths", lambda c: c["linux"].__setitem__("readonlyPaths", ["/proc/sys"])),
    ("root.readonly", lambda c: c["root"].__setitem__("readonly", True)),
])
def test_without_a_mount_namespace_mounts_are_refused(pyrun, make_bundle, container_id, field,
                                                      edit):
    config = no_mount_namespace_config(["true"])
    edit(config)
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 1
    assert f"config.json: {field}: needs a new mount namespace" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not can_make_user_namespaces(),
                    reason="runs chrooted: joining a mount namespace sets the root to that "
                           "namespace's own, outside the chroot")
def test_a_joined_mount_namespace_is_not_changed_either(pyrun, make_bundle, container_id,
                                                        tmp_path):
    # Another process's mount namespace, joined by path: not the container's to change.
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "slave", "sleep", "300"])
    try:
        ns = f"/proc/{holder.pid}/ns/mnt"
        for _ in range(100):
            if os.readlink(ns) != os.readlink("/proc/self/ns/mnt"):
                break
            time.sleep(0.01)
        before = Path(f"/proc/{holder.pid}/mountinfo").read_text()
        config = no_mount_namespace_config(["sh", "-c", "ls /bin/busybox"])
        config["linux"]["namespaces"].append({"type": "mount", "path": ns})
        result = pyrun("run", "-b", make_bundle(config=config), container_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "/bin/busybox"
        assert Path(f"/proc/{holder.pid}/mountinfo").read_text() == before
    finally:
        holder.kill()
        holder.wait()


# --- the newcomer's form, and input that must be bounded ----------------------------------

def test_run_of_a_bundle_directory(pyrun, make_bundle, container_id, tmp_path):
    """`pyrun run bundle/`: the id comes from the directory's name (unique if taken)."""
    bundle = make_bundle(config=default_config(args=("echo", "hello")), name=container_id)
    result = pyrun("run", f"{bundle}/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
    (bundle / "config.json").write_text(json.dumps(default_config(args=("sleep", "100"))))
    detached = [pyrun("run", "-d", bundle, cwd=tmp_path) for _ in range(2)]
    ids = [r.stdout.strip() for r in detached]
    assert ids == [container_id, f"{container_id}-2"], [r.stderr for r in detached]
    for cid in ids:
        assert pyrun("delete", "--force", cid).returncode == 0


def bundle_with_config(make_bundle, prepare) -> Path:
    bundle = make_bundle(config=default_config())
    (bundle / "config.json").unlink()
    prepare(bundle / "config.json")
    return bundle


@pytest.mark.parametrize(("name", "prepare", "reason"), [
    ("fifo", os.mkfifo, "not a regular file"),
    ("dev-zero", lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
    ("directory", lambda p: p.mkdir(), "not a regular file"),
    ("huge", lambda p: p.write_bytes(b" " * (9 << 20)), "larger than 8 MiB"),
    ("nested", lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
     "nested too deeply to parse"),
])
def test_a_config_that_is_no_config_is_refused_at_once(pyrun, make_bundle, container_id,
                                                       name, prepare, reason):
    bundle = bundle_with_config(make_bundle, prepare)
    started = time.monotonic()
    result = pyrun("create", "-b", bundle, container_id, timeout=20)
    assert result.returncode == 1
    assert reason in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert time.monotonic() - started < 10


def test_a_nul_in_an_argument_is_refused_naming_it(pyrun, make_bundle, container_id):
    result = pyrun("create", "-b", make_bundle(config=default_config(args=("echo", "a\0b"))),
                   container_id)
    assert result.returncode == 1
    assert "process.args[1]: contains a NUL character" in result.stderr


def test_a_rootfs_symlinked_out_of_the_bundle_is_refused(pyrun, make_bundle, container_id,
                                                         tmp_path, busybox_rootfs):
    bundle = make_bundle(config=default_config(), name="linked")
    shutil.rmtree(bundle / "rootfs")
    (bundle / "rootfs").symlink_to(busybox_rootfs)
    result = pyrun("run", "-b", bundle, container_id)
    assert result.returncode == 1
    assert "root.path" in result.stderr and "a symlink" in result.stderr
