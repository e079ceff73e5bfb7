"""create -> state -> start -> kill -> delete, list, and many containers at once."""

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import is_gone, state_of

# Also run on a pure cgroup v2 kernel by `make vm-test`.
pytestmark = pytest.mark.cgroups


def wait_for_status(pyrun, container_id, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while (status := state_of(pyrun, container_id)["status"]) != wanted:
        assert time.monotonic() < deadline, f"status stayed {status}, wanted {wanted}"
        time.sleep(0.02)


def test_full_lifecycle(pyrun, make_bundle, container_id, tmp_path):
    bundle = make_bundle(args=("sleep", "100"))
    assert pyrun("create", "-b", bundle, container_id).returncode == 0

    state = state_of(pyrun, container_id)
    assert state["status"] == "created"
    assert state["id"] == container_id
    assert state["bundle"] == str(bundle)
    assert state["rootfs"] == str(bundle / "rootfs")
    assert state["ociVersion"] == "1.0.2"
    pid = state["pid"]
    # created: the init exists but has not exec'd the program yet.
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()

    assert pyrun("start", container_id).returncode == 0
    assert state_of(pyrun, container_id)["status"] == "running"
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read() == b"sleep\x00100\x00"

    assert pyrun("kill", container_id, "KILL").returncode == 0
    wait_for_status(pyrun, container_id, "stopped")
    assert state_of(pyrun, container_id)["pid"] == 0

    assert pyrun("delete", container_id).returncode == 0
    result = pyrun("state", container_id)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_start_twice_fails(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"))
    pyrun("create", "-b", bundle, container_id)
    assert pyrun("start", container_id).returncode == 0
    again = pyrun("start", container_id)
    assert again.returncode == 1
    assert "running" in again.stderr
    pyrun("delete", "--force", container_id)


def test_delete_refuses_a_running_container_without_force(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"))
    pyrun("run", "-d", "-b", bundle, container_id)
    result = pyrun("delete", container_id)
    assert result.returncode == 1
    assert "not stopped" in result.stderr
    assert state_of(pyrun, container_id)["status"] == "running"
    pid = state_of(pyrun, container_id)["pid"]
    assert pyrun("delete", "--force", container_id).returncode == 0
    assert is_gone(pid)


def test_delete_of_a_created_container_kills_its_init(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"))
    pyrun("create", "-b", bundle, container_id)
    pid = state_of(pyrun, container_id)["pid"]
    assert pyrun("delete", container_id).returncode == 0
    assert is_gone(pid)


def test_kill_of_a_stopped_container(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("true",))
    pyrun("run", "--keep", "-b", bundle, container_id)
    result = pyrun("kill", container_id)
    assert result.returncode == 1
    assert "container not running" in result.stderr
    pyrun("delete", container_id)


def test_kill_all_signals_every_process(pyrun, make_bundle, container_id, tmp_path):
    """--all reaches processes that do not forward signals (here: sh's children). TERM
    does not kill the init (PID 1 of its namespace, no handler: the kernel drops it), so
    only the children's own traps can write their marks."""
    marks = tmp_path / "marks"
    marks.mkdir()
    child = "trap \"touch /marks/$1; exit\" TERM; while :; do sleep 0.05; done"
    script = (f"sh -c '{child}' sh a & sh -c '{child}' sh b & "
              "while :; do sleep 0.05; done")
    config = default_config(args=("sh", "-c", script))
    config["mounts"].append({"destination": "/marks", "type": "bind",
                             "source": str(marks), "options": ["rbind"]})
    bundle = make_bundle(config=config)
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    time.sleep(0.3)
    assert pyrun("kill", "--all", container_id, "TERM").returncode == 0
    deadline = time.monotonic() + 5
    while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(p.name for p in marks.iterdir()) == ["a", "b"]
    assert state_of(pyrun, container_id)["status"] == "running"
    pyrun("delete", "--force", container_id)


def test_signal_names_and_numbers(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sh", "-c", "trap 'exit 0' USR1; while :; do sleep 0.05; done"))
    pyrun("run", "-d", "-b", bundle, container_id)
    time.sleep(0.2)
    assert pyrun("kill", container_id, "usr1").returncode == 0
    wait_for_status(pyrun, container_id, "stopped")
    pyrun("delete", container_id)


def test_list_shows_containers(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"))
    pyrun("create", "-b", bundle, container_id)
    table = pyrun("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == container_id and table[1].split()[2] == "created"
    entries = json.loads(pyrun("list", "--format", "json").stdout)
    assert [e["id"] for e in entries] == [container_id]
    assert pyrun("list", "-q").stdout == container_id + "\n"
    pyrun("delete", "--force", container_id)
    assert json.loads(pyrun("list", "--format=json").stdout) == []


@pytest.mark.timeout(300)  # 80 pyrun calls at once: ~60 s on 2 CPUs of the TCG VM
def test_twenty_containers_in_parallel(state_root, make_bundle, container_id, tmp_path):
    """Separate processes create, start and delete 20 containers at once: every one works,
    state stays valid, and nothing is left (the autouse fixture checks)."""
    bundle = make_bundle(args=("sh", "-c", "echo ok"))
    ids = [f"{container_id}-{i}" for i in range(20)]

    def lifecycle(cid):
        log = tmp_path / f"{cid}.log"

        def call(*args):
            # A file, not a pipe: the created init inherits it and would hold a pipe open.
            with open(log, "a") as f:
                return subprocess.run([PYRUN, "--root", str(state_root), *args],
                                      stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                      timeout=60).returncode

        codes = [call("create", "-b", str(bundle), cid), call("state", cid),
                 call("start", cid), call("delete", "--force", cid)]
        return codes, log.read_text()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lifecycle, ids))
    for cid, (codes, log) in zip(ids, results, strict=True):
        assert codes == [0, 0, 0, 0], (cid, log)
        assert log.count('"status": "created"') == 1, log


def test_force_delete_of_a_paused_container(pyrun, make_bundle, container_id):
    """A frozen process cannot die: delete --force must thaw after the kill."""
    pyrun("run", "-d", "-b", make_bundle(args=("sleep", "100")), container_id)
    pid = state_of(pyrun, container_id)["pid"]
    assert pyrun("pause", container_id).returncode == 0
    started = time.monotonic()
    result = pyrun("delete", "--force", container_id)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5
    assert is_gone(pid)
