"""runc parity: the details scripts and engines written for runc rely on, one test each,
each checked from outside (cgroup files, the mount table, /proc) where it can be."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from pyrun.linux.cgroups import detect
from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import is_gone, state_of

pytestmark = pytest.mark.vm  # and on pure cgroup v2, where cgroups and devices differ

CGROUP_ROOT = Path("/sys/fs/cgroup")
V2 = detect() == "v2"


def cgroup_dirs(path: str) -> list[Path]:
    """`path` in every mounted hierarchy where it exists."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] in ("cgroup", "cgroup2"):
                roots.append(Path(left.split()[4]))
    return [root / path.lstrip("/") for root in roots if (root / path.lstrip("/")).is_dir()]


def controller_file(container_id: str, controller: str, name: str) -> Path:
    rel = f"pyrun/{container_id}"
    if V2:
        return CGROUP_ROOT / rel / name
    for d in cgroup_dirs(rel):
        if (d / name).exists() and controller in d.parent.parent.name.split(","):
            return d / name
    return next(d / name for d in cgroup_dirs(rel) if (d / name).exists())


@pytest.fixture
def running(pyrun, make_bundle, container_id):
    """A detached `sleep` container, deleted afterwards."""

    def start(config=None, detach=True):
        bundle = make_bundle(config=config or default_config(args=("sleep", "100")),
                             name=f"b-{time.monotonic_ns()}")
        args = ("run", "-d") if detach else ("create",)
        result = pyrun(*args, "-b", bundle, container_id)
        assert result.returncode == 0, result.stderr
        return state_of(pyrun, container_id)["pid"]

    yield start
    pyrun("delete", "--force", container_id)


# --- the command line ---------------------------------------------------------------------

def test_flags_may_follow_the_container_id(pyrun, running, container_id):
    running()
    assert pyrun("update", container_id, "--pids-limit", "77").returncode == 0
    assert controller_file(container_id, "pids", "pids.max").read_text().strip() == "77"
    assert pyrun("kill", container_id, "0", "--all").returncode == 0
    assert pyrun("events", container_id, "--stats").returncode == 0
    assert pyrun("delete", container_id, "--force").returncode == 0
    assert not cgroup_dirs(f"pyrun/{container_id}")


def test_kill_signal_0_checks_the_processes_exist(pyrun, running, container_id):
    running()
    assert pyrun("kill", "-a", container_id, "0").returncode == 0
    assert pyrun("kill", container_id, "0").returncode == 0
    assert state_of(pyrun, container_id)["status"] == "running"


def test_list_and_ps_print_compact_json(pyrun, running, container_id):
    pid = running()
    listed = pyrun("list", "--format", "json").stdout.strip()
    assert listed.startswith('[{"ociVersion":"') and ", " not in listed.split('"bundle"')[0]
    assert json.loads(listed)[0]["id"] == container_id
    assert pyrun("ps", "--format", "json", container_id).stdout.strip() == f"[{pid}]"


# --- update --------------------------------------------------------------------------------

def test_update_resources_with_only_cpus_and_mems(pyrun, running, container_id):
    running()
    cpus = sorted(os.sched_getaffinity(0))[0]
    result = pyrun("update", "-r", "-", container_id,
                   input=json.dumps({"cpu": {"cpus": str(cpus), "mems": "0"}}))
    assert result.returncode == 0, result.stderr
    assert controller_file(container_id, "cpuset", "cpuset.cpus").read_text().strip() == \
        str(cpus)


def test_update_takes_docker_style_zeros_as_unset(pyrun, running, container_id):
    running()
    before = controller_file(container_id, "pids", "pids.max").read_text()
    doc = {"memory": {"limit": 0, "swap": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0},
           "pids": {"limit": 0}, "blockIO": {"weight": 0}}
    result = pyrun("update", "-r", "-", container_id, input=json.dumps(doc))
    assert result.returncode == 1 and "nothing to change" in result.stderr
    assert controller_file(container_id, "pids", "pids.max").read_text() == before


@pytest.mark.skipif(V2, reason="cgroup v1 only (v2 has no realtime knobs)")
def test_update_realtime_period_and_runtime(pyrun, running, container_id):
    running()
    period = controller_file(container_id, "cpu", "cpu.rt_period_us")
    if not period.exists():
        pytest.skip("this kernel has no realtime group scheduling (CONFIG_RT_GROUP_SCHED)")
    assert pyrun("update", "--cpu-rt-period", "900000", "--cpu-rt-runtime", "0",
                 container_id).returncode == 0
    assert period.read_text().strip() == "900000"


def test_update_devices_denies_and_allows_again(pyrun, running, container_id):
    # The host's /dev/kmsg bound in, allowed by the config's rules alone (the default
    # list, and the nodes a config makes, are allowed whatever an update says). Opened
    # write-only and nothing written: that open needs no privilege, only the device rule.
    # (/dev/kmsg, not /dev/loop-control: the v2 VM's kernel has no loop device.)
    config = default_config(args=("sleep", "100"))
    config["mounts"].append({"destination": "/dev/km", "type": "bind",
                             "source": "/dev/kmsg", "options": ["bind"]})
    allowed = {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"}
    config["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}, allowed]}
    running(config)

    def opens() -> bool:
        return pyrun("exec", container_id, "sh", "-c", "true > /dev/km").returncode == 0

    assert opens()
    deny_all = {"devices": [{"allow": False, "access": "rwm"}]}
    assert pyrun("update", "-r", "-", container_id, input=json.dumps(deny_all)).returncode == 0
    assert not opens()
    assert pyrun("exec", container_id, "sh", "-c", "echo x > /dev/null").returncode == 0
    again = {"devices": [{"allow": False, "access": "rwm"}, allowed]}
    assert pyrun("update", "-r", "-", container_id, input=json.dumps(again)).returncode == 0
    assert opens()


# --- exec -----------------------------------------------------------------------------------

def test_exec_into_a_created_container(pyrun, running, container_id):
    running(detach=False)
    result = pyrun("exec", container_id, "echo", "in a created container")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "in a created container"
    assert state_of(pyrun, container_id)["status"] == "created"


def test_exec_exit_status_is_the_processes_or_255(pyrun, running, container_id, tmp_path):
    running()
    assert pyrun("exec", container_id, "sh", "-c", "exit 7").returncode == 7
    result = pyrun("exec", "-d", "--pid-file", tmp_path / "missing" / "pid", container_id,
                   "true")
    assert result.returncode == 255, result.stderr


def test_exec_ignore_paused_runs_once_resumed(pyrun, running, container_id, state_root):
    running()
    assert pyrun("pause", container_id).returncode == 0
    resume = subprocess.Popen(["sh", "-c", 'sleep 0.5; exec "$0" --root "$1" resume "$2"',
                               PYRUN, str(state_root), container_id])
    try:
        result = pyrun("exec", "--ignore-paused", container_id, "echo", "resumed")
    finally:
        resume.wait()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "resumed"


def test_exec_keeps_to_the_device_rules(pyrun, running, container_id):
    config = default_config(args=("sleep", "100"))
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    running(config)
    result = pyrun("exec", "--cap", "CAP_MKNOD", container_id, "sh", "-c",
                   "mknod /tmp/disk b 7 0 && true < /tmp/disk")
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr, result.stderr


def test_exec_joins_every_hierarchy(pyrun, running, container_id, tmp_path):
    running()
    pid_file = tmp_path / "exec.pid"
    assert pyrun("exec", "-d", "--pid-file", pid_file, container_id,
                 "sleep", "100").returncode == 0
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cgroup") as f:
        paths = {line.rstrip("\n").split(":", 2)[2] for line in f}
    assert paths == {f"/pyrun/{container_id}"}, paths


# --- mounts ---------------------------------------------------------------------------------

@pytest.fixture
def tree_with_a_submount(tmp_path):
    """A host directory with a tmpfs mounted below it."""
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(top / "sub")], check=True)
    yield top
    subprocess.run(["umount", str(top / "sub")], check=True)


@pytest.mark.parametrize(("option", "top_ro", "sub_ro"), [("ro", True, False),
                                                          ("rro", True, True)])
def test_rbind_ro_and_rro(pyrun, make_bundle, container_id, tree_with_a_submount, option,
                          top_ro, sub_ro):
    script = ("touch /tree/f 2>/dev/null && echo top-rw || echo top-ro; "
              "touch /tree/sub/f 2>/dev/null && echo sub-rw || echo sub-ro")
    config = default_config(args=("sh", "-c", script))
    config["mounts"].append({"destination": "/tree", "type": "bind",
                             "source": str(tree_with_a_submount), "options": ["rbind", option]})
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["top-ro" if top_ro else "top-rw",
                                     "sub-ro" if sub_ro else "sub-rw"]


def test_a_read_only_dev_is_filled_first(pyrun, make_bundle, container_id):
    config = default_config(args=("sh", "-c", "echo x > /dev/null && ls /dev/pts/ptmx && "
                                  "touch /dev/new 2>&1"))
    config["mounts"][1]["options"].append("ro")  # the /dev tmpfs
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 1, result.stderr  # touch fails: only that
    assert result.stdout.split()[0] == "/dev/pts/ptmx"
    assert "Read-only file system" in result.stdout + result.stderr


def test_no_pivot_leaves_no_way_to_a_fresh_proc(pyrun, make_bundle, container_id):
    caps = ["CAP_SYS_ADMIN", "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    config = default_config(args=("sh", "-c", "mkdir -p /tmp/p && mount -t proc proc /tmp/p "
                                  "&& echo mounted"),
                            capabilities={k: caps for k in ("bounding", "effective",
                                                            "permitted")})
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    result = pyrun("run", "--no-pivot", "-b", make_bundle(config=config), container_id)
    assert "mounted" not in result.stdout, result.stderr


def test_a_cwd_only_root_may_enter(pyrun, make_bundle, container_id):
    config = default_config(args=("pwd",), user={"uid": 1000, "gid": 1000}, cwd="/root")
    bundle = make_bundle(config=config)
    (bundle / "rootfs" / "root").chmod(0o700)
    result = pyrun("run", "-b", bundle, container_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "/root"


# --- events, hooks, cgroups -----------------------------------------------------------------

def test_events_streams_an_oom_and_ends_with_the_container(pyrun, make_bundle, container_id,
                                                          state_root):
    if not (V2 or (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists()):
        pytest.skip("no memory controller")
    config = default_config(args=("sh", "-c", "sleep 1; tail /dev/zero; sleep 1"))
    config["linux"]["resources"] = {"memory": {"limit": 16 * 1024 * 1024}}
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    assert pyrun("run", "-d", "-b", make_bundle(config=config), container_id).returncode == 0
    try:
        result = pyrun("events", "--interval", "60s", container_id, timeout=20)
        events = [json.loads(line)["type"] for line in result.stdout.splitlines()]
        assert "oom" in events, result.stdout
    finally:
        pyrun("delete", "--force", container_id)


def test_hooks_run_in_the_bundle(pyrun, make_bundle, container_id):
    config = default_config(args=("true",))
    check = {"path": "/bin/sh", "args": ["sh", "-c", "test -f config.json && test -d rootfs"]}
    config["hooks"] = {"createRuntime": [check], "poststop": [check]}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


@pytest.mark.skipif(V2, reason="cgroup v1 cpusets only")
def test_a_parent_cpuset_made_by_someone_else_is_filled(pyrun, make_bundle, container_id):
    parent = CGROUP_ROOT / "cpuset" / "pyrun" / f"{container_id}-pod"
    parent.mkdir(parents=True)  # made by someone else: no cpus, no mems yet
    try:
        config = default_config(args=("true",))
        config["linux"]["cgroupsPath"] = f"/pyrun/{container_id}-pod/{container_id}"
        result = pyrun("run", "-b", make_bundle(config=config), container_id)
        assert result.returncode == 0, result.stderr
        assert (parent / "cpuset.cpus").read_text().strip()
    finally:
        for d in cgroup_dirs(f"pyrun/{container_id}-pod"):
            for sub in sorted(d.glob("**/"), key=lambda p: len(str(p)), reverse=True):
                sub.rmdir()


def test_delete_force_removes_sub_cgroups_made_inside(pyrun, running, container_id):
    running()
    for d in cgroup_dirs(f"pyrun/{container_id}"):
        # as a container that manages its own (a hierarchy may be listed twice)
        (d / "inner" / "deeper").mkdir(parents=True, exist_ok=True)
    pid = state_of(pyrun, container_id)["pid"]
    assert pyrun("delete", "--force", container_id).returncode == 0
    assert is_gone(pid)
    assert not cgroup_dirs(f"pyrun/{container_id}")
