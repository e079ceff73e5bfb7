"""OCI hooks through the CLI: order, namespaces, the state each hook reads, and failures.

One hook script records each call as a line of a marker file: the hook's name, which copy
of the script ran, and the status, pid and namespaces it saw. Two copies of the script sit
at the same absolute path: on the host (under tmp_path) and inside the bundle's rootfs.
They differ only in the word they record ("host", "rootfs"), which shows where the hook's
path was resolved: in the runtime namespace (createContainer, before pivot_root) or in
the container's (startContainer, after it). The marker's directory is bind-mounted into
the container at its own path, so hooks on both sides of pivot_root append to one file.
"""

import time
import uuid
from pathlib import Path

import pytest

from tests.integration.bundles import default_config
from tests.integration.helpers import ns_inode, state_of
from tests.procs import live_processes_with

HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")
RUNTIME_SIDE = ("prestart", "createRuntime", "poststart", "poststop")
CONTAINER_SIDE = ("createContainer", "startContainer")
EXPECTED_STATUS = {"prestart": "creating", "createRuntime": "creating",
                   "createContainer": "creating", "startContainer": "created",
                   "poststart": "running", "poststop": "stopped"}
NAMESPACES = ("mnt", "pid", "net")
HOOK_PATH_ENV = "PATH=/usr/sbin:/usr/bin:/sbin:/bin"

# hook.sh MARKER NAME [loud]: appends "NAME WHERE STATUS PID MNT PIDNS NETNS" to MARKER,
# reading status and pid from the state JSON on stdin. "loud" also writes to stdout, which
# must come out on pyrun's stderr, never on its stdout. Runs under dash and busybox sh.
HOOK_SCRIPT = """#!/bin/sh
state=$(cat)
status=$(printf '%s\\n' "$state" | sed -n 's/.*"status": *"\\([^"]*\\)".*/\\1/p')
pid=$(printf '%s\\n' "$state" | sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p')
[ "$3" = loud ] && echo "hook-stdout $2"
echo "$2 WHERE ${status:--} ${pid:--} $(readlink /proc/self/ns/mnt)" \\
     "$(readlink /proc/self/ns/pid) $(readlink /proc/self/ns/net)" >> "$1"
"""


def host_namespaces() -> dict[str, str]:
    return {kind: ns_inode("self", kind) for kind in NAMESPACES}


class Record:
    """One line of the marker file."""

    def __init__(self, line: str):
        name, where, status, pid, mnt, pidns, net = line.split()
        self.name, self.where, self.status = name, where, status
        self.pid = None if pid == "-" else int(pid)
        self.namespaces = {"mnt": mnt, "pid": pidns, "net": net}

    def __repr__(self) -> str:
        return f"Record({self.name} {self.where} {self.status} {self.pid})"


class Hooks:
    """The hook script (host and rootfs copies), the marker, and the config entries."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.marker = self.marks / "marker"
        self.script = tmp_path / "hooks" / "hook.sh"
        self._write_script(self.script, "host")

    def _write_script(self, path: Path, where: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HOOK_SCRIPT.replace("WHERE", where))
        path.chmod(0o755)

    def entry(self, name: str, loud: bool = False) -> dict:
        args = ["hook.sh", str(self.marker), name] + (["loud"] if loud else [])
        return {"path": str(self.script), "args": args, "env": [HOOK_PATH_ENV]}

    def failing(self, body: str, **fields) -> dict:
        """A hook of its own (on the host), e.g. `exit 1`."""
        path = self.tmp_path / "hooks" / f"failing-{uuid.uuid4().hex[:8]}.sh"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return {"path": str(path), "args": [path.name], "env": [HOOK_PATH_ENV], **fields}

    def bundle(self, make_bundle, hooks: dict[str, list[dict]], args=("sh", "-c",
                                                                      "echo started")):
        """A bundle with `hooks`, the marker directory bind-mounted at its own path, and
        the rootfs copy of the script."""
        config = default_config(args=args)
        config["hooks"] = hooks
        config["mounts"].append({"destination": str(self.marks), "type": "bind",
                                 "source": str(self.marks), "options": ["rbind", "rw"]})
        bundle = make_bundle(config=config)
        self._write_script(bundle / "rootfs" / str(self.script).lstrip("/"), "rootfs")
        return bundle

    def records(self) -> list[Record]:
        if not self.marker.exists():
            return []
        return [Record(line) for line in self.marker.read_text().splitlines()]

    def names(self) -> list[str]:
        return [r.name for r in self.records()]


@pytest.fixture
def hooks(tmp_path) -> Hooks:
    return Hooks(tmp_path)


def all_six(hooks: Hooks) -> dict[str, list[dict]]:
    return {name: [hooks.entry(name, loud=True)] for name in HOOK_NAMES}


def wait_for_status(pyrun, container_id, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while (status := state_of(pyrun, container_id)["status"]) != wanted:
        assert time.monotonic() < deadline, f"status stayed {status}, wanted {wanted}"
        time.sleep(0.02)




def assert_ran_where_it_should(record: Record, host: dict, container: dict | None):
    """Runtime-side hooks in the host's namespaces; container-side ones in the
    container's, with startContainer's path resolved inside the rootfs."""
    if record.name in RUNTIME_SIDE:
        assert record.namespaces == host, record
        assert record.where == "host", record
    else:
        for kind in NAMESPACES:
            assert record.namespaces[kind] != host[kind], (record, kind)
        if container is not None:
            assert record.namespaces == container, record
        assert record.where == ("rootfs" if record.name == "startContainer" else "host")


def assert_no_hook_output_in(stdout: str):
    assert "hook-stdout" not in stdout


# ---------------------------------------------------------------------------------------
# The whole lifecycle


def test_create_start_delete_run_all_six_hooks(pyrun, make_bundle, container_id, hooks):
    bundle = hooks.bundle(make_bundle, all_six(hooks))
    host = host_namespaces()

    result = pyrun("create", "-b", bundle, container_id)
    assert result.returncode == 0, result.stderr
    assert_no_hook_output_in(result.stdout)
    init_pid = state_of(pyrun, container_id)["pid"]
    container = {kind: ns_inode(init_pid, kind) for kind in NAMESPACES}
    assert hooks.names() == ["prestart", "createRuntime", "createContainer"]

    result = pyrun("start", container_id)
    assert result.returncode == 0, result.stderr
    assert_no_hook_output_in(result.stdout)
    assert hooks.names() == ["prestart", "createRuntime", "createContainer",
                             "startContainer", "poststart"]

    wait_for_status(pyrun, container_id, "stopped")
    result = pyrun("delete", container_id)
    assert result.returncode == 0, result.stderr
    assert_no_hook_output_in(result.stdout)
    records = hooks.records()
    assert [r.name for r in records] == list(HOOK_NAMES)

    for record in records:
        assert record.status == EXPECTED_STATUS[record.name], record
        if record.name != "poststop":
            assert record.pid == init_pid, record
        assert_ran_where_it_should(record, host, container)


def test_run_runs_all_six_hooks_in_order(pyrun, make_bundle, container_id, hooks):
    bundle = hooks.bundle(make_bundle, all_six(hooks))
    host = host_namespaces()

    result = pyrun("run", "-b", bundle, container_id)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n"  # hooks write to stderr, never into this stream
    for name in HOOK_NAMES:
        assert f"hook-stdout {name}\n" in result.stderr
    records = hooks.records()
    assert [r.name for r in records] == list(HOOK_NAMES)
    pids = {r.pid for r in records if r.name != "poststop"}
    assert len(pids) == 1 and None not in pids, records
    for record in records:
        assert record.status == EXPECTED_STATUS[record.name], record
        assert_ran_where_it_should(record, host, None)


# ---------------------------------------------------------------------------------------
# Failures


@pytest.mark.parametrize("failing", ["prestart", "createRuntime", "createContainer"])
def test_a_failing_create_hook_fails_create_and_leaves_nothing(
        pyrun, make_bundle, container_id, hooks, failing):
    # The create-phase hooks after the failing one must not run.
    later = HOOK_NAMES[HOOK_NAMES.index(failing) + 1:HOOK_NAMES.index("startContainer")]
    bad = hooks.failing("exit 1\n")
    config_hooks = {failing: [bad]} | {name: [hooks.entry(name)] for name in later}
    bundle = hooks.bundle(make_bundle, config_hooks)

    result = pyrun("create", "-b", bundle, container_id)

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyrun: ")
    assert f"{failing} hook {bad['path']}: exited with status 1" in lines[0]
    assert not set(later) & set(hooks.names())
    assert "does not exist" in pyrun("state", container_id).stderr
    # The autouse fixture checks that no state dir, cgroup, mount or process is left.


def test_a_hook_past_its_timeout_is_killed_and_create_fails(
        pyrun, make_bundle, container_id, hooks):
    token = f"10.{uuid.uuid4().int % 10**9:09d}"  # `sleep 10.xxx`: found by its argument
    slow = hooks.failing(f"sleep {token}\n", timeout=1)
    bundle = hooks.bundle(make_bundle, {"createRuntime": [slow]})

    started = time.monotonic()
    result = pyrun("create", "-b", bundle, container_id)
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    assert elapsed < 5, f"create took {elapsed:.1f} s"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"createRuntime hook {slow['path']}: timed out after 1 s" in lines[0]
    deadline = time.monotonic() + 2
    while live_processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live_processes_with(token) == [], "the hook's sleep survived"
    assert "does not exist" in pyrun("state", container_id).stderr


def test_a_failing_poststop_hook_is_only_a_warning(pyrun, make_bundle, container_id, hooks):
    bad = hooks.failing("exit 1\n")
    bundle = hooks.bundle(make_bundle, {"poststop": [bad]})
    assert pyrun("create", "-b", bundle, container_id).returncode == 0
    assert pyrun("start", container_id).returncode == 0
    wait_for_status(pyrun, container_id, "stopped")

    result = pyrun("delete", container_id)

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyrun: warning: ")
    assert f"poststop hook {bad['path']}: exited with status 1" in lines[0]
    assert "does not exist" in pyrun("state", container_id).stderr


def test_poststop_hooks_after_a_failing_one_still_run(pyrun, make_bundle, container_id,
                                                       hooks):
    """runtime.md: if a poststop hook fails, "the remaining hooks and lifecycle continue
    as if the hook had succeeded"."""
    bad = hooks.failing("exit 1\n")
    bundle = hooks.bundle(make_bundle, {"poststop": [bad, hooks.entry("poststop")]})

    result = pyrun("run", "-b", bundle, container_id)

    assert result.returncode == 0, result.stderr
    assert "pyrun: warning: " in result.stderr
    assert hooks.names() == ["poststop"]


def test_a_failing_poststart_hook_is_only_a_warning(pyrun, make_bundle, container_id, hooks):
    """runtime.md: if a poststart hook fails, "the runtime MUST log a warning, but the
    remaining hooks and lifecycle continue as if the hook had succeeded"."""
    bad = hooks.failing("exit 1\n")
    bundle = hooks.bundle(make_bundle, {"poststart": [bad, hooks.entry("poststart")]},
                          args=("sleep", "100"))
    assert pyrun("create", "-b", bundle, container_id).returncode == 0
    try:
        result = pyrun("start", container_id)

        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("pyrun: warning: ")
        assert f"poststart hook {bad['path']}: exited with status 1" in lines[0]
        assert hooks.names() == ["poststart"]
        assert state_of(pyrun, container_id)["status"] == "running"
    finally:
        pyrun("delete", "--force", container_id)
