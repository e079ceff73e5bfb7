"""linux.resources and the cgroup commands (pause, resume, update, events, ps, kill --all).

Every effect is checked from outside: the cgroup files under /sys/fs/cgroup, /proc, and process
counts, never pyrun's own report of them. The tests run on both layouts: pure cgroup v2 (the
v2 VM selects them with `-m cgroups`) and v1 or hybrid (v1 controllers plus an empty cgroup2).
Expected values are runc's conversions (libcontainer/cgroups: `fs` for v1, `fs2` for v2).
"""

import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from pyrun.linux.cgroups import detect
from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import is_gone, state_of

pytestmark = [pytest.mark.cgroups, pytest.mark.timeout(60)]

CGROUP_ROOT = Path("/sys/fs/cgroup")
V2 = detect() == "v2"
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1024 * 1024

only_v2 = pytest.mark.skipif(not V2, reason="cgroup v2 only")
only_v1 = pytest.mark.skipif(V2, reason="cgroup v1 (or hybrid) only")


# --- where the files are -------------------------------------------------------------------------

def cgroup_dir(container_id: str, v1_controller: str, path: str | None = None) -> Path:
    """The container's cgroup directory: v2 /sys/fs/cgroup/<path>, v1 .../<controller>/<path>."""
    rel = (path or f"/pyrun/{container_id}").lstrip("/")
    return CGROUP_ROOT / rel if V2 else CGROUP_ROOT / v1_controller / rel


def cgroup_file(container_id: str, v1_controller: str, name: str) -> Path:
    return cgroup_dir(container_id, v1_controller) / name


def read(container_id: str, v1_controller: str, name: str) -> str:
    return cgroup_file(container_id, v1_controller, name).read_text().strip()


def read_int(container_id: str, v1_controller: str, name: str) -> int:
    return int(read(container_id, v1_controller, name))


def pages(n: int) -> int:
    """A byte count as the kernel stores it: rounded down to whole pages."""
    return n // PAGE * PAGE


def flat_keyed(text: str) -> dict[str, int]:
    """'key value' lines (memory.events, memory.oom_control, pids.events) as a dict."""
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}


def procs(container_id: str, path: str | None = None) -> set[int]:
    """The container's processes, from the pids hierarchy (v1) or the unified one (v2)."""
    try:
        text = (cgroup_dir(container_id, "pids", path) / "cgroup.procs").read_text()
    except FileNotFoundError:
        return set()
    return {int(p) for p in text.split()}


V1_MOUNT_FLAGS = {"rw", "ro", "relatime", "noprefix", "clone_children", "xattr",
                  "cpuset_v2_mode", "favordynmods"}


def cgroup_mounts() -> list[tuple[str, frozenset[str]]]:
    """(mount point, controllers) of every mounted hierarchy, each once; cgroup2 has none."""
    seen: dict[frozenset[str], str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, options = right.split()
            if fstype == "cgroup2":
                seen.setdefault(frozenset({"<unified>"}), left.split()[4])
            elif fstype == "cgroup":
                names = frozenset(o for o in options.split(",")
                                  if o.startswith("name=") or "=" not in o) - V1_MOUNT_FLAGS
                seen.setdefault(names, left.split()[4])
    return [(mountpoint, names) for names, mountpoint in seen.items()]


def mountpoint_of(controllers: str) -> str:
    """The mount point for a /proc/PID/cgroup line's controller field ('' is cgroup2)."""
    wanted = frozenset(controllers.split(",")) if controllers else frozenset({"<unified>"})
    return next(mp for mp, names in cgroup_mounts() if names == wanted)


def existing_dirs(path: str) -> list[str]:
    """`path` (from each hierarchy's root) wherever it exists, in any hierarchy."""
    return [mp + path for mp, _ in cgroup_mounts() if os.path.isdir(mp + path)]


def proc_cgroups(pid) -> list[tuple[str, str]]:
    """/proc/PID/cgroup as (controllers, path) pairs."""
    with open(f"/proc/{pid}/cgroup") as f:
        return [tuple(line.rstrip("\n").split(":", 2)[1:]) for line in f]


def wait_until(predicate, what: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def wait_for_status(pyrun, container_id, wanted, timeout=5.0):
    wait_until(lambda: state_of(pyrun, container_id)["status"] == wanted,
               f"status {wanted}", timeout)


def assert_one_error_line(result, *keywords):
    shown = f"exit {result.returncode}; stderr {result.stderr!r}; stdout {result.stdout!r}"
    assert result.returncode == 1, shown
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrun: "), shown
    for keyword in keywords:
        assert keyword in lines[0], shown


# --- containers ----------------------------------------------------------------------------------

def config_with(resources=None, args=("sleep", "100"), cgroups_path=None) -> dict:
    config = default_config(args=args)
    if resources is not None:
        config["linux"]["resources"] = resources
    if cgroups_path is not None:
        config["linux"]["cgroupsPath"] = cgroups_path
    return config


@contextlib.contextmanager
def running(pyrun, make_bundle, container_id, resources=None, config=None, start=True):
    """A created (and started) container with these resources; deleted (--force) on exit.
    Yields the init's host pid."""
    config = config or config_with(resources)
    bundle = make_bundle(config=config, name=f"bundle-{container_id}")
    try:
        created = pyrun("create", "-b", bundle, container_id)
        assert created.returncode == 0, created.stderr
        if start:
            started = pyrun("start", container_id)
            assert started.returncode == 0, started.stderr
        yield state_of(pyrun, container_id)["pid"]
    finally:
        pyrun("delete", "--force", container_id)


def memory_controller_available() -> bool:
    if V2:
        controllers = (CGROUP_ROOT / "cgroup.controllers").read_text().split()
        return "memory" in controllers
    return (CGROUP_ROOT / "memory" / "memory.limit_in_bytes").exists()


# --- 1. each resource holds its value while the container runs ----------------------------------

def test_memory_limit(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"memory": {"limit": 64 * MiB}}):
        if V2:
            assert read_int(container_id, "memory", "memory.max") == pages(64 * MiB)
        else:
            assert read_int(container_id, "memory", "memory.limit_in_bytes") == pages(64 * MiB)


def test_memory_limit_minus_one_is_unlimited(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"memory": {"limit": -1}}):
        if V2:
            assert read(container_id, "memory", "memory.max") == "max"
        else:  # the kernel shows "unlimited" as the largest page-aligned int64
            assert read_int(container_id, "memory", "memory.limit_in_bytes") >= 2**62


def test_memory_reservation(pyrun, make_bundle, container_id):
    resources = {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB}}
    with running(pyrun, make_bundle, container_id, resources):
        name = "memory.low" if V2 else "memory.soft_limit_in_bytes"
        assert read_int(container_id, "memory", name) == pages(32 * MiB)


def test_memory_swap_is_memory_plus_swap(pyrun, make_bundle, container_id):
    resources = {"memory": {"limit": 64 * MiB, "swap": 96 * MiB}}
    with running(pyrun, make_bundle, container_id, resources):
        name = "memory.swap.max" if V2 else "memory.memsw.limit_in_bytes"
        if not cgroup_file(container_id, "memory", name).exists():
            pytest.skip(f"no {name}: the kernel does not account swap")
        # OCI swap is memory+swap: v2 holds the swap part alone, v1 the total.
        expected = 32 * MiB if V2 else 96 * MiB
        assert read_int(container_id, "memory", name) == pages(expected)


def test_cpu_shares(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"cpu": {"shares": 512}}):
        if V2:  # runc: 1 + ((shares - 2) * 9999) / 262142
            assert read_int(container_id, "cpu", "cpu.weight") == 1 + (510 * 9999) // 262142
        else:
            assert read_int(container_id, "cpu", "cpu.shares") == 512


def test_cpu_quota_and_period(pyrun, make_bundle, container_id):
    resources = {"cpu": {"quota": 50000, "period": 100000}}
    with running(pyrun, make_bundle, container_id, resources):
        if V2:
            assert read(container_id, "cpu", "cpu.max") == "50000 100000"
        else:
            assert read_int(container_id, "cpu", "cpu.cfs_quota_us") == 50000
            assert read_int(container_id, "cpu", "cpu.cfs_period_us") == 100000


def test_cpuset_cpus_and_mems(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"cpu": {"cpus": "0", "mems": "0"}}):
        assert read(container_id, "cpuset", "cpuset.cpus") == "0"
        assert read(container_id, "cpuset", "cpuset.mems") == "0"


def test_pids_limit(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"pids": {"limit": 42}}):
        assert read(container_id, "pids", "pids.max") == "42"


def v1_blkio_weight_file(container_id) -> str | None:
    """Which weight file a v1 blkio cgroup has (BFQ's, CFQ's, or none: runc then fails),
    seen in a throwaway cgroup (the root cgroup has neither)."""
    probe = CGROUP_ROOT / "blkio" / f"{container_id}-probe"
    if not probe.parent.is_dir():
        return None
    probe.mkdir()
    try:
        return next((n for n in ("blkio.bfq.weight", "blkio.weight")
                     if (probe / n).exists()), None)
    finally:
        probe.rmdir()


def test_blkio_weight(pyrun, make_bundle, container_id):
    # runc writes the BFQ file as is when the host has one, else the plain weight file
    # (converted on v2: 1 + (W - 10) * 9999 / 990).
    if V2:
        if "io" not in (CGROUP_ROOT / "cgroup.controllers").read_text().split():
            pytest.skip("no io controller")
    elif (name := v1_blkio_weight_file(container_id)) is None:
        pytest.skip("no blkio.weight or blkio.bfq.weight on this host")
    with running(pyrun, make_bundle, container_id, {"blockIO": {"weight": 500}}):
        if not V2:
            assert read(container_id, "blkio", name) == "500"
        elif cgroup_file(container_id, "blkio", "io.bfq.weight").exists():
            assert read(container_id, "blkio", "io.bfq.weight").splitlines()[0] == "default 500"
        else:
            expected = f"default {1 + (500 - 10) * 9999 // 990}"
            assert read(container_id, "blkio", "io.weight").splitlines()[0] == expected


@only_v2
def test_unified_keys_are_written_as_is(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"unified": {"pids.max": "7"}}):
        assert read(container_id, "pids", "pids.max") == "7"


@only_v1
def test_unified_keys_are_refused_without_cgroup_v2(pyrun, make_bundle, container_id):
    bundle = make_bundle(config=config_with({"unified": {"pids.max": "7"}}))
    try:
        result = pyrun("create", "-b", bundle, container_id)
    finally:
        pyrun("delete", "--force", container_id)
    assert_one_error_line(result, "unified")
    assert not existing_dirs(f"/pyrun/{container_id}")


@pytest.mark.parametrize(("resources", "named"), [
    pytest.param({"memory": {"limit": "64m"}}, "linux.resources.memory.limit",
                 id="memory-limit-string"),
    pytest.param({"pids": {"limit": "20"}}, "linux.resources.pids.limit",
                 id="pids-limit-string"),
    pytest.param({"cpu": {"shares": -1}}, "linux.resources.cpu.shares",
                 id="cpu-shares-negative"),
    pytest.param({"unified": {"../x": "1"}}, "unified", id="unified-dotdot"),
    pytest.param({"unified": {"pids/max": "1"}}, "unified", id="unified-slash"),
])
def test_bad_resources_are_refused(pyrun, make_bundle, container_id, resources, named):
    bundle = make_bundle(config=config_with(resources))
    try:
        result = pyrun("create", "-b", bundle, container_id)
    finally:
        pyrun("delete", "--force", container_id)
    assert_one_error_line(result, named)
    assert not existing_dirs(f"/pyrun/{container_id}")


# --- 2. memory.limit is enforced ---------------------------------------------------------------

@pytest.mark.skipif(not memory_controller_available(), reason="no memory controller")
def test_a_process_over_the_memory_limit_is_oom_killed(pyrun, make_bundle, container_id):
    # busybox tail keeps the whole (newline-free) input as its last line: it grows to 200 MiB.
    resources = {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}
    config = config_with(resources, args=("sh", "-c", "head -c 200m /dev/zero | tail"))
    bundle = make_bundle(config=config)
    try:
        result = pyrun("run", "--keep", "-b", bundle, container_id, timeout=60)
        assert result.returncode == 137, result.stderr
        if V2:
            events = flat_keyed(read(container_id, "memory", "memory.events"))
        else:
            events = flat_keyed(read(container_id, "memory", "memory.oom_control"))
        assert events["oom_kill"] >= 1, events
    finally:
        pyrun("delete", "--force", container_id)


# --- 3. pids.max stops a fork bomb -------------------------------------------------------------

def test_a_fork_bomb_stops_at_pids_max(pyrun, make_bundle, container_id):
    # busybox sh gives up at its first failed fork, and an exiting pid-namespace init takes
    # every process with it: so the bomb is a child shell, and the init then execs a sleep
    # (exec needs no fork) that keeps the namespace, and the bomb's orphans, alive.
    bomb = "sh -c 'for i in $(seq 50); do sleep 30 & done; wait'; exec sleep 30"
    config = config_with({"pids": {"limit": 20}}, args=("sh", "-c", bomb))
    with running(pyrun, make_bundle, container_id, config=config):
        time.sleep(1)
        current = read_int(container_id, "pids", "pids.current")
        assert 10 <= current <= 20  # at least 10: the bomb did run
        assert len(procs(container_id)) <= 20
        assert flat_keyed(read(container_id, "pids", "pids.events"))["max"] >= 1
    assert not existing_dirs(f"/pyrun/{container_id}")


# --- 4. pause and resume -----------------------------------------------------------------------

def counter_config(out_dir: Path) -> dict:
    # write-then-rename: a reader (or a freeze) never sees a half-written file.
    script = ("i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n;"
              " sleep 0.05; done")
    config = config_with(args=("sh", "-c", script))
    config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out_dir),
                             "options": ["rbind", "rw"]})
    return config


def counter(out_dir: Path) -> int:
    return int((out_dir / "n").read_text())


def is_frozen(container_id) -> bool:
    if V2:
        return "frozen 1" in read(container_id, "freezer", "cgroup.events").splitlines()
    return read(container_id, "freezer", "freezer.state") == "FROZEN"


def test_pause_freezes_and_resume_thaws(pyrun, make_bundle, container_id, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with running(pyrun, make_bundle, container_id, config=counter_config(out)):
        wait_until(lambda: (out / "n").exists(), "the counter file")

        paused = pyrun("pause", container_id)
        assert paused.returncode == 0, paused.stderr
        assert state_of(pyrun, container_id)["status"] == "paused"
        assert is_frozen(container_id)
        before = counter(out)
        time.sleep(0.5)
        assert counter(out) == before

        resumed = pyrun("resume", container_id)
        assert resumed.returncode == 0, resumed.stderr
        assert state_of(pyrun, container_id)["status"] == "running"
        assert not is_frozen(container_id)
        wait_until(lambda: counter(out) > before, "the counter to advance", timeout=3)


def test_pause_of_a_stopped_container_fails(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, config=config_with(args=("true",))):
        wait_for_status(pyrun, container_id, "stopped")
        result = pyrun("pause", container_id)
        assert result.returncode == 1, result.stderr
        assert state_of(pyrun, container_id)["status"] == "stopped"


def test_resume_of_a_running_container_fails(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id):
        result = pyrun("resume", container_id)
        assert result.returncode == 1, result.stderr
        assert state_of(pyrun, container_id)["status"] == "running"


# --- 5. update -----------------------------------------------------------------------------------

def assert_memory_pids_cpu(container_id, memory, pids, quota, period):
    name = "memory.max" if V2 else "memory.limit_in_bytes"
    assert read_int(container_id, "memory", name) == pages(memory)
    assert read(container_id, "pids", "pids.max") == str(pids)
    if V2:
        assert read(container_id, "cpu", "cpu.max") == f"{quota} {period}"
    else:
        assert read_int(container_id, "cpu", "cpu.cfs_quota_us") == quota
        assert read_int(container_id, "cpu", "cpu.cfs_period_us") == period


def test_update_with_flags(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id):
        result = pyrun("update", "--memory", "64m", "--pids-limit", "30", "--cpu-quota",
                       "50000", "--cpu-period", "100000", container_id)
        assert result.returncode == 0, result.stderr
        assert_memory_pids_cpu(container_id, 64 * MiB, 30, 50000, 100000)


UPDATE = {"memory": {"limit": 48 * MiB}, "pids": {"limit": 25},
          "cpu": {"quota": 20000, "period": 50000}}


def test_update_with_a_resources_file(pyrun, make_bundle, container_id, tmp_path):
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps(UPDATE))
    with running(pyrun, make_bundle, container_id):
        result = pyrun("update", "--resources", resources, container_id)
        assert result.returncode == 0, result.stderr
        assert_memory_pids_cpu(container_id, 48 * MiB, 25, 20000, 50000)


def test_update_with_resources_from_stdin(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id):
        result = pyrun("update", "--resources", "-", container_id, input=json.dumps(UPDATE))
        assert result.returncode == 0, result.stderr
        assert_memory_pids_cpu(container_id, 48 * MiB, 25, 20000, 50000)


# --- 6. events ---------------------------------------------------------------------------------

def assert_stats_event(event: dict, container_id: str):
    assert event["type"] == "stats", event
    assert event["id"] == container_id, event
    data = event["data"]
    assert data["memory"]["usage"]["usage"] > 0, data
    assert data["pids"]["current"] >= 1, data
    assert data["cpu"]["usage"].get("total", 0) >= 0, data  # runc omits a zero total


def test_events_stats_prints_one_object(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id):
        result = pyrun("events", "--stats", container_id)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, result.stdout
        assert_stats_event(json.loads(lines[0]), container_id)


def read_lines(proc: subprocess.Popen, n: int, timeout: float) -> list[str]:
    """The first n lines of proc's stdout, or fewer if it ends or the time runs out."""
    data, fd = b"", proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < n and (left := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.decode().splitlines()[:n]


def test_events_with_an_interval_streams_stats(pyrun, make_bundle, container_id, state_root,
                                               tmp_path):
    with running(pyrun, make_bundle, container_id):
        cmd = [PYRUN, "--root", str(state_root), "events", "--interval", "100ms", container_id]
        with open(tmp_path / "events.stderr", "w+") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err)
            try:
                lines = read_lines(proc, 2, timeout=10)
            finally:
                proc.kill()
                proc.wait()
                proc.stdout.close()
            err.seek(0)
            assert len(lines) == 2, err.read()
        for line in lines:
            assert_stats_event(json.loads(line), container_id)


# --- 7. ps ---------------------------------------------------------------------------------------

TWO_SLEEPS = ("sh", "-c", "sleep 100 & sleep 100 & wait")


def test_ps_shows_the_hosts_ps_lines_of_the_container(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id):
        in_cgroup = wait_until(lambda: procs(container_id), "a process in the cgroup")
        result = pyrun("ps", container_id)
        assert result.returncode == 0, result.stderr
        header, *rows = result.stdout.splitlines()
        host_ps = subprocess.run(["ps", "-ef"], capture_output=True, text=True, check=True)
        assert header == host_ps.stdout.splitlines()[0]
        pid_column = header.split().index("PID")
        assert {int(row.split()[pid_column]) for row in rows} == in_cgroup
        assert any("sleep" in row for row in rows), result.stdout


def test_ps_json_lists_the_cgroups_pids(pyrun, make_bundle, container_id):
    config = config_with(args=TWO_SLEEPS)
    with running(pyrun, make_bundle, container_id, config=config):
        in_cgroup = wait_until(lambda: len(p := procs(container_id)) == 3 and p,
                               "sh and two sleeps")
        result = pyrun("ps", "--format", "json", container_id)
        assert result.returncode == 0, result.stderr
        listed = json.loads(result.stdout)
        assert isinstance(listed, list)
        assert set(listed) == in_cgroup


# --- 8. kill --all -------------------------------------------------------------------------------

# USR1 kills a process that has no handler for it, but not PID 1 of a pid namespace: the
# kernel drops signals to a namespace's init that it does not handle (pid_namespaces(7)).
# So the sleeps die only if --all signals each process itself; killing the init would not
# prove that (every process of the namespace dies with its init).
SLEEPS_UNDER_AN_INIT = ("sh", "-c", "sleep 1000 & sleep 1000 & while :; do sleep 1; done")


def long_sleeps(container_id) -> set[int]:
    found = set()
    for pid in procs(container_id):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sleep\x001000\x00":
                    found.add(pid)
        except (FileNotFoundError, ProcessLookupError):  # gone before or during the read
            continue
    return found


def test_kill_all_signals_every_process_of_the_cgroup(pyrun, make_bundle, container_id):
    config = config_with(args=SLEEPS_UNDER_AN_INIT)
    with running(pyrun, make_bundle, container_id, config=config) as init:
        sleeps = wait_until(lambda: len(p := long_sleeps(container_id)) == 2 and p,
                            "two sleeps")
        result = pyrun("kill", "--all", container_id, "USR1")
        assert result.returncode == 0, result.stderr
        wait_until(lambda: all(is_gone(p) for p in sleeps), f"{sleeps} to die")
        assert not is_gone(init), "the init died: the test would prove nothing"
        assert state_of(pyrun, container_id)["status"] == "running"


def test_kill_without_all_signals_only_the_init(pyrun, make_bundle, container_id):
    """The control for the test above: without --all, USR1 reaches no sleep."""
    config = config_with(args=SLEEPS_UNDER_AN_INIT)
    with running(pyrun, make_bundle, container_id, config=config):
        sleeps = wait_until(lambda: len(p := long_sleeps(container_id)) == 2 and p,
                            "two sleeps")
        assert pyrun("kill", container_id, "USR1").returncode == 0
        time.sleep(0.3)
        assert not any(is_gone(p) for p in sleeps)


# --- 9. the cgroup goes with the container ------------------------------------------------------

def test_the_container_is_in_its_cgroup_in_every_hierarchy(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"pids": {"limit": 50}}) as pid:
        for controllers, path in proc_cgroups(pid):
            assert path == f"/pyrun/{container_id}", (controllers, path)


def test_delete_removes_the_cgroup_everywhere(pyrun, make_bundle, container_id):
    with running(pyrun, make_bundle, container_id, {"memory": {"limit": 64 * MiB}}):
        assert existing_dirs(f"/pyrun/{container_id}")
    assert not existing_dirs(f"/pyrun/{container_id}")


def test_a_create_failing_on_a_cgroup_write_leaves_no_cgroup(pyrun, make_bundle, container_id):
    # CPU 4096 does not exist: the kernel refuses the cpuset.cpus write, after the mkdir.
    bundle = make_bundle(config=config_with({"cpu": {"cpus": "4096"}}))
    try:
        result = pyrun("create", "-b", bundle, container_id)
    finally:
        pyrun("delete", "--force", container_id)
    assert result.returncode == 1, result.stderr
    assert not existing_dirs(f"/pyrun/{container_id}")


# --- 10. linux.cgroupsPath -----------------------------------------------------------------------

def test_an_absolute_cgroups_path_is_used_as_is(pyrun, make_bundle, container_id):
    path = f"/pyrun/{container_id}-custom"
    config = config_with({"pids": {"limit": 50}}, cgroups_path=path)
    with running(pyrun, make_bundle, container_id, config=config) as pid:
        assert cgroup_dir(container_id, "pids", path).is_dir()
        assert (cgroup_dir(container_id, "pids", path) / "pids.max").read_text().strip() == "50"
        for controllers, seen in proc_cgroups(pid):
            assert seen == path, (controllers, seen)
        assert not existing_dirs(f"/pyrun/{container_id}")
    assert not existing_dirs(path)


def test_a_nested_cgroups_path_leaves_no_level_it_made(pyrun, make_bundle, container_id):
    """Every level create made goes with the container, but the shared top (/pyrun)."""
    path = f"/pyrun/{container_id}/sub/sub2"
    config = config_with({"pids": {"limit": 50}}, cgroups_path=path)
    with running(pyrun, make_bundle, container_id, config=config) as pid:
        assert cgroup_dir(container_id, "pids", path).is_dir()
        assert {seen for _, seen in proc_cgroups(pid)} == {path}
    assert not existing_dirs(f"/pyrun/{container_id}")


def test_a_cgroups_path_naming_a_control_file_leaves_nothing(pyrun, make_bundle,
                                                              container_id):
    path = f"/pyrun/{container_id}/cgroup.procs"
    result = pyrun("create", "-b", make_bundle(config=config_with(cgroups_path=path)),
                   container_id)
    assert_one_error_line(result, "cgroup.procs", "not a directory")
    assert not existing_dirs(f"/pyrun/{container_id}")


def test_a_relative_cgroups_path_is_below_the_runtimes_own_cgroup(pyrun, make_bundle,
                                                                   container_id):
    # pyrun runs in this test process's cgroups; runc resolves a relative path against its
    # own cgroup in each hierarchy (fs: GetOwnCgroupPath(subsystem); fs2: /proc/self/cgroup).
    relative = f"pyrun/{container_id}-rel"
    own = dict(proc_cgroups("self"))
    if len(set(own.values())) > 1:
        # This host: our cgroups differ between hierarchies. pyrun keeps one path for all,
        # so it refuses by name instead of placing the container elsewhere than runc would.
        result = pyrun("run", "-b", make_bundle(config=config_with(cgroups_path=relative)),
                       container_id)
        assert result.returncode == 1
        assert "relative linux.cgroupsPath" in result.stderr
        assert "not supported yet" in result.stderr
        return
    expected = {ctrls: os.path.join(base, relative) for ctrls, base in own.items()}
    with running(pyrun, make_bundle, container_id, config=config_with(cgroups_path=relative)) \
            as pid:
        seen = dict(proc_cgroups(pid))
        assert seen == expected
    leftover = [mountpoint_of(ctrls) + path for ctrls, path in expected.items()
                if os.path.isdir(mountpoint_of(ctrls) + path)]
    assert not leftover
