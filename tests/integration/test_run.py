"""`pyrun run`: output, exit status, signals, and what is left afterwards."""

import signal
import subprocess
import time

import pytest

from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import ns_inode, run_in_container, state_of

# Also run on a pure cgroup v2 kernel by `make vm-test`.
pytestmark = pytest.mark.cgroups


def test_prints_and_exits_with_the_container_status(pyrun, make_bundle, container_id):
    result = run_in_container(pyrun, make_bundle, container_id, "echo hi; exit 3")
    assert result.stdout == "hi\n"
    assert result.returncode == 3
    assert result.stderr == ""


def test_stdin_reaches_the_container(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sh", "-c", "read line; echo got:$line"))
    result = pyrun("run", "-b", bundle, container_id, input="hello\n")
    assert result.stdout == "got:hello\n"


def test_exit_removes_the_container(pyrun, make_bundle, container_id, state_root):
    run_in_container(pyrun, make_bundle, container_id, "true")
    assert not (state_root / container_id).exists()
    assert "does not exist" in pyrun("state", container_id).stderr


def test_keep_leaves_a_stopped_container(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("true",))
    assert pyrun("run", "--keep", "-b", bundle, container_id).returncode == 0
    state = pyrun("state", container_id)
    assert '"status": "stopped"' in state.stdout
    assert pyrun("delete", container_id).returncode == 0


def _writable_bundle(make_bundle, script: str, name: str):
    """A bundle whose root is writable, so the container can leave a "ready" marker."""
    config = default_config(args=("sh", "-c", script))
    config["root"]["readonly"] = False
    return make_bundle(config=config, name=name)


def _start_foreground(state_root, bundle, container_id, ready_file):
    proc = subprocess.Popen([PYRUN, "--root", str(state_root), "run", "-b", str(bundle),
                             container_id], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 10
    while not ready_file.exists():
        assert time.monotonic() < deadline, "container never became ready"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    return proc


def test_killed_by_sigkill_gives_137(pyrun, state_root, make_bundle, container_id):
    bundle = _writable_bundle(make_bundle, "touch /tmp/ready; exec sleep 1000", "k")
    proc = _start_foreground(state_root, bundle, container_id, bundle / "rootfs/tmp/ready")
    assert pyrun("kill", container_id, "KILL").returncode == 0
    proc.communicate(timeout=10)
    assert proc.returncode == 137


def test_signals_are_forwarded_to_the_container(state_root, make_bundle, container_id):
    """pyrun forwards TERM/INT/HUP/QUIT/USR1/USR2; the container's handler sees each."""
    script = ("trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 7' TERM; "
              "touch /tmp/ready; while true; do sleep 0.05; done")
    bundle = _writable_bundle(make_bundle, script, "sig")
    ready = bundle / "rootfs" / "tmp" / "ready"
    proc = _start_foreground(state_root, bundle, container_id, ready)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert "got-USR1" in out and "got-TERM" in out, (out, err)
    assert proc.returncode == 7


def test_orphans_are_reaped_and_killed_with_the_container(pyrun, make_bundle, container_id):
    """A daemonised grandchild dies with the container (its pid namespace ends)."""
    result = run_in_container(pyrun, make_bundle, container_id,
                              "(sleep 1000 &) ; echo started")
    assert result.returncode == 0
    assert "started" in result.stdout
    leftover = subprocess.run(["pgrep", "-f", "sleep 1000"], capture_output=True, text=True)
    assert leftover.stdout == ""


def test_detached_run_returns_and_container_keeps_running(state_root, pyrun, make_bundle,
                                                          container_id, tmp_path):
    bundle = make_bundle(args=("sh", "-c", "echo detached-out; exec sleep 100"))
    out = tmp_path / "out"
    with open(out, "w") as f:
        # The container keeps the stdio it is given: a file, so nobody waits on a pipe.
        result = subprocess.run([PYRUN, "--root", str(state_root), "run", "-d", "-b",
                                 str(bundle), container_id], stdin=subprocess.DEVNULL,
                                stdout=f, stderr=f, timeout=30)
    assert result.returncode == 0, out.read_text()
    assert state_of(pyrun, container_id)["status"] == "running"
    deadline = time.monotonic() + 5
    while "detached-out" not in out.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert pyrun("delete", "--force", container_id).returncode == 0


def test_pid_file_names_the_container_init(pyrun, make_bundle, container_id, tmp_path):
    bundle = make_bundle(args=("sleep", "100"))
    pid_file = tmp_path / "pid"
    assert pyrun("create", "--pid-file", pid_file, "-b", bundle, container_id).returncode == 0
    pid = int(pid_file.read_text())
    assert state_of(pyrun, container_id)["pid"] == pid
    # It is the container's init: in a pid namespace other than ours.
    assert ns_inode(pid, "pid") != ns_inode("self", "pid")
    assert pyrun("delete", "--force", container_id).returncode == 0
