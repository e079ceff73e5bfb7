"""`pyrun exec`: a new process that sees what the container sees."""

import os

import pytest

from tests.integration.helpers import is_gone, state_of


@pytest.fixture
def running(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"), user={"uid": 0, "gid": 0, "umask": 0o022})
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    yield container_id
    pyrun("delete", "--force", container_id)


def test_exec_sees_the_containers_namespaces(pyrun, running):
    init = state_of(pyrun, running)["pid"]
    script = "for n in pid mnt net uts ipc; do readlink /proc/self/ns/$n; done; hostname; ps"
    result = pyrun("exec", running, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = [os.readlink(f"/proc/{init}/ns/{n}") for n in ("pid", "mnt", "net", "uts", "ipc")]
    assert lines[:5] == expected
    assert lines[5] == "pyrun-test"
    assert "sleep 100" in result.stdout  # the container's init, seen from inside


def test_exec_returns_the_process_status(pyrun, running):
    assert pyrun("exec", running, "sh", "-c", "exit 7").returncode == 7


def test_exec_user_env_cwd_and_caps(pyrun, running):
    result = pyrun("exec", "-u", "1000:1001", "-g", "5", "-e", "FOO=bar", "--cwd", "/tmp",
                   "--cap", "CAP_NET_RAW", running, "sh", "-c",
                   "id -u; id -g; id -G; echo $FOO; pwd; grep CapBnd /proc/self/status")
    uid, gid, groups, foo, cwd, capbnd = result.stdout.splitlines()
    assert (uid, gid, foo, cwd) == ("1000", "1001", "bar", "/tmp")
    assert "5" in groups.split()
    assert int(capbnd.split()[1], 16) & (1 << 13)  # NET_RAW added to the bounding set


def test_exec_joins_the_containers_cgroup(pyrun, running):
    result = pyrun("exec", running, "cat", "/proc/self/cgroup")
    init = state_of(pyrun, running)["pid"]
    with open(f"/proc/{init}/cgroup") as f:
        assert result.stdout == f.read()


def test_exec_detached_writes_the_pid_file(pyrun, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    result = pyrun("exec", "-d", "--pid-file", pid_file, running, "sleep", "60")
    assert result.returncode == 0, result.stderr
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x0060\x00"
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"/pyrun/{running}" in f.read()


def test_exec_with_a_process_file(pyrun, running, tmp_path):
    process = tmp_path / "process.json"
    process.write_text('{"args": ["sh", "-c", "echo from-file; id -u"], "cwd": "/",'
                       ' "user": {"uid": 7, "gid": 7}, "env": ["PATH=/bin"]}')
    result = pyrun("exec", "--process", process, running)
    assert result.stdout.split() == ["from-file", "7"]


def test_exec_of_a_missing_program_fails_cleanly(pyrun, running):
    result = pyrun("exec", running, "/no/such")
    assert result.returncode == 255  # runc's: the runtime failed, the process never ran
    assert result.stderr.count("\n") == 1 and "/no/such" in result.stderr


def test_exec_into_a_stopped_container(pyrun, make_bundle, container_id):
    pyrun("run", "--keep", "-b", make_bundle(args=("true",)), container_id)
    result = pyrun("exec", container_id, "true")
    assert result.returncode == 255
    assert "cannot exec in a stopped container" in result.stderr
    pyrun("delete", container_id)


def test_exec_into_a_paused_container(pyrun, running):
    assert pyrun("pause", running).returncode == 0
    result = pyrun("exec", running, "true")
    assert result.returncode == 255
    assert "paused" in result.stderr
    assert pyrun("resume", running).returncode == 0


def test_exec_processes_die_with_the_container(pyrun, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    pyrun("exec", "-d", "--pid-file", pid_file, running, "sleep", "60")
    pid = int(pid_file.read_text())
    assert pyrun("delete", "--force", running).returncode == 0
    assert is_gone(pid)
