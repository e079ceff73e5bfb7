"""kill -9 of pyrun at each named point of create, start, run -d and exec, and at 30
moments of create, then `delete --force`: nothing may be left, no state directory, cgroup,
mount or process.

pyrun stops itself where PYRUN_FAILPOINT names (pyrun.failpoints); the test waits for
it to be stopped there, SIGKILLs it, and cleans up as a user would. Processes are found
from outside by a marker in their environment: pyrun's own children inherit
PYRUN_FAILPOINT, the container's processes get KILL9_MARK from the config.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.bundles import PYRUN, default_config
from tests.integration.test_faults import ForeignCgroup

pytestmark = pytest.mark.vm

CREATE_POINTS = [
    "create: made the state directory",
    "create: journaled the cgroup",
    "create: made the cgroup",
    "create: applied the limits",
    "create: forked",
    "create: got the init's pid",
    "create: journaled the init",
    "create: the init said created",
    "create: saved the state",
    "create: wrote the pid file",
]
START_POINTS = ["start: opened exec.fifo", "start: the init went", "start: removed exec.fifo"]
EXEC_POINTS = ["exec: forked", "exec: the process started"]
CASES = ([("create", p) for p in CREATE_POINTS] + [("run -d", p) for p in CREATE_POINTS]
         + [("run -d", p) for p in START_POINTS] + [("start", p) for p in START_POINTS]
         + [("exec", p) for p in EXEC_POINTS])


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment holds `mark` (zombies have no environment)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if mark.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def wait_stopped(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Until `proc` has stopped itself at the failpoint (state T)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pyrun ended ({proc.returncode}) before the point"
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "T":
            return
        time.sleep(0.01)
    raise AssertionError("pyrun never reached the point")


def cgroups_named(container_id: str) -> list[str]:
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(root, d) for d in dirs if d == container_id]
    return found


@pytest.mark.parametrize(("command", "point"), CASES, ids=[f"{c}: {p.split(': ')[1]}"
                                                           for c, p in CASES])
def test_kill9_then_delete_force_leaves_nothing(make_bundle, container_id, state_root,
                                                tmp_path, command, point):
    mark = f"KILL9_MARK={container_id}"
    config = default_config(args=("sleep", "100"))
    config["process"]["env"].append(mark)
    bundle = make_bundle(config=config)
    base = [PYRUN, "--root", str(state_root)]
    if command in ("start", "exec"):  # the container first, then the command to kill
        first = ["create"] if command == "start" else ["run", "-d"]
        # not pipes: the container keeps pyrun's stdio, and a pipe would never end
        subprocess.run([*base, *first, "-b", str(bundle), container_id], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    argv = {"create": ["create", "--pid-file", str(tmp_path / "pid"), "-b", str(bundle)],
            "run -d": ["run", "-d", "--pid-file", str(tmp_path / "pid"), "-b", str(bundle)],
            "start": ["start"], "exec": ["exec", "-d"]}[command]
    tail = ["sleep", "99"] if command == "exec" else []
    victim = subprocess.Popen([*base, *argv, container_id, *tail],
                              env={**os.environ, "PYRUN_FAILPOINT": point},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_stopped(victim)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    delete_force_leaves_nothing(base, container_id, state_root,
                                [mark, f"PYRUN_FAILPOINT={point}"])


# 30 moments of create, spread from its start to past its end (0 to 29/24 of the time one
# create takes on this machine): through the intermediate's and the init's own work too,
# which the named points above (all in pyrun's own process) do not stop in.
MOMENTS = [i / 24 for i in range(30)]
_create_ms: list[float] = []


def typical_create_ms(base: list, bundle: Path, container_id: str) -> float:
    """How long one create takes here, measured once per session."""
    if not _create_ms:
        timing_id = f"{container_id}-timing"
        start = time.perf_counter()
        subprocess.run([*base, "create", "-b", str(bundle), timing_id], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        _create_ms.append((time.perf_counter() - start) * 1000)
        subprocess.run([*base, "delete", "--force", timing_id], check=True)
    return _create_ms[0]


@pytest.mark.parametrize("moment", MOMENTS, ids=[f"{round(m * 24)}-of-24" for m in MOMENTS])
def test_kill9_at_a_moment_of_create_then_delete_force_leaves_nothing(
        make_bundle, container_id, state_root, moment):
    mark = f"KILL9_MARK={container_id}"
    config = default_config(args=("sleep", "100"))
    config["process"]["env"].append(mark)
    bundle = make_bundle(config=config)
    base = [PYRUN, "--root", str(state_root)]
    delay_s = moment * typical_create_ms(base, bundle, container_id) / 1000
    # A bystander in a cgroup beside the container's, made by someone else: whatever
    # moment the kill lands at, the cleanup must not reach it.
    bystander_cgroup = ForeignCgroup(f"/pyrun/{container_id}-bystander").make()
    try:
        bystander = bystander_cgroup.add_victim()
        victim = subprocess.Popen([*base, "create", "-b", str(bundle), container_id],
                                  env={**os.environ, "KILL9_PYRUN": container_id},
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(delay_s)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        delete_force_leaves_nothing(base, container_id, state_root,
                                    [mark, f"KILL9_PYRUN={container_id}"])
        assert bystander.poll() is None, "the cleanup killed a process pyrun did not start"
        assert all(d.is_dir() for d in bystander_cgroup.dirs), \
            "the cleanup removed a cgroup pyrun did not make"
    finally:
        bystander_cgroup.remove()


def delete_force_leaves_nothing(base: list, container_id: str, state_root: Path,
                                marks: list[str]) -> None:
    """`delete --force` as a user would after the kill, then check from outside: no
    process carrying one of `marks` in its environment, state directory or cgroup."""
    deleted = subprocess.run([*base, "delete", "--force", container_id],
                             capture_output=True, text=True)
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 5  # a child that lost pyrun exits by itself
    while (left := [pid for m in marks for pid in marked_processes(m)]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left: {left}"
    assert not list(state_root.iterdir()), "a state directory is left"
    assert not cgroups_named(container_id), "a cgroup is left"
