"""User namespaces, and the rest of the process config: what the container sees inside,
and what the host sees of it."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.bundles import default_config
from tests.integration.helpers import can_make_user_namespaces, proc_status, state_of

# Also on a pure cgroup v2 kernel (make vm-test): devices and cgroup mounts differ there.
pytestmark = pytest.mark.vm

HOST_UID = 100000
# A chrooted process may not make or join a user namespace.
# namespace (EPERM, user_namespaces(7)).
needs_userns = pytest.mark.skipif(not can_make_user_namespaces(),
                                  reason="no user namespaces here (chrooted?)")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/random", "/dev/urandom")


def userns_config(args, host_id=HOST_UID, **process) -> dict:
    config = default_config(args=args, **process)
    config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        config["linux"][key] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
    return config


def device_stats():
    return {d: (os.stat(d).st_uid, os.stat(d).st_gid, os.stat(d).st_mode) for d in DEVICES}


@pytest.fixture
def host_devices_unchanged():
    """A runtime bug elsewhere once left the host's /dev/null owned by uid 100000."""
    before = device_stats()
    yield
    assert device_stats() == before


@needs_userns
def test_root_inside_is_the_mapped_uid_outside(pyrun, make_bundle, container_id, tmp_path,
                                               host_devices_unchanged):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    config = userns_config(("sh", "-c", "id -u; id -g; touch /shared/made-inside; sleep 100"))
    config["mounts"].append({"destination": "/shared", "type": "bind",
                             "source": str(shared), "options": ["rbind"]})
    config["process"]["args"][-1] = "id -u > /shared/ids; id -g >> /shared/ids; " \
                                    "touch /shared/made-inside; sleep 100"
    bundle = make_bundle(config=config)
    # The mountpoint must be there: the rootfs belongs to the host's root, and the
    # container's root (uid 100000 outside) may not make directories in it.
    (bundle / "rootfs" / "shared").mkdir()
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        pid = state_of(pyrun, container_id)["pid"]
        deadline = time.monotonic() + 5
        while not (shared / "made-inside").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (shared / "ids").read_text().split() == ["0", "0"]
        status = proc_status(pid)
        assert status["Uid"].split()[0] == str(HOST_UID)
        assert status["Gid"].split()[0] == str(HOST_UID)
        made = (shared / "made-inside").stat()
        assert (made.st_uid, made.st_gid) == (HOST_UID, HOST_UID)
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    finally:
        pyrun("delete", "--force", container_id)


@needs_userns
def test_devices_are_the_hosts_bound_in_and_work(pyrun, make_bundle, container_id,
                                                 host_devices_unchanged):
    script = "ls -ln /dev/null /dev/zero; echo x > /dev/null && head -c 3 /dev/zero | wc -c"
    result = pyrun("run", "-b", make_bundle(config=userns_config(("sh", "-c", script))),
                   container_id)
    assert result.returncode == 0, result.stderr
    null, zero, count = result.stdout.strip().splitlines()
    assert "1,   3" in null.replace("1, 3", "1,   3") and "1,   5" in zero.replace(
        "1, 5", "1,   5")
    assert count.strip() == "3"


@needs_userns
def test_exec_runs_as_root_of_the_containers_user_namespace(pyrun, make_bundle,
                                                            container_id,
                                                            host_devices_unchanged):
    bundle = make_bundle(config=userns_config(("sleep", "100")))
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        result = pyrun("exec", container_id, "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert result.returncode == 0, result.stderr
        uid, mapping = result.stdout.strip().splitlines()
        assert uid == "0"
        assert mapping.split() == ["0", str(HOST_UID), "65536"]
    finally:
        pyrun("delete", "--force", container_id)


@needs_userns
def test_a_user_namespace_is_joined_by_path(pyrun, make_bundle, container_id):
    holder = subprocess.Popen(["unshare", "--user", "sleep", "300"])
    try:
        ns = f"/proc/{holder.pid}/ns/user"
        for _ in range(100):
            if os.readlink(ns) != os.readlink("/proc/self/ns/user"):
                break
            time.sleep(0.02)
        for name in ("uid_map", "gid_map"):  # as root outside, as pyrun itself does
            with open(f"/proc/{holder.pid}/{name}", "w") as f:
                f.write("0 200000 65536\n")
        config = default_config(args=("sh", "-c", "id -u; cat /proc/self/uid_map"))
        config["linux"]["namespaces"].append({"type": "user", "path": ns})
        result = pyrun("run", "-b", make_bundle(config=config), container_id)
        assert result.returncode == 0, result.stderr
        uid, mapping = result.stdout.strip().splitlines()
        assert uid == "0" and mapping.split() == ["0", "200000", "65536"]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize(("edit", "field"), [
    (lambda c: c["linux"]["namespaces"].pop(), "linux.uidMappings"),
    (lambda c: c["linux"]["uidMappings"].append({"containerID": 100, "hostID": 1,
                                                  "size": 10}),
     "linux.uidMappings[1]"),
])
def test_bad_mappings_are_one_line_naming_the_field(pyrun, make_bundle, container_id, edit,
                                                    field):
    config = userns_config(("true",))
    edit(config)
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"config.json: {field}" in lines[0], result.stderr


# --- time, personality, scheduling ----------------------------------------------------------------

def test_time_namespace_offsets(pyrun, make_bundle, container_id):
    offset = 10_000_000
    config = default_config(args=("cat", "/proc/uptime"))
    config["linux"]["namespaces"].append({"type": "time"})
    config["linux"]["timeOffsets"] = {"boottime": {"secs": offset, "nanosecs": 0},
                                      "monotonic": {"secs": offset, "nanosecs": 0}}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    inside = float(result.stdout.split()[0])
    assert offset + host_uptime - 5 < inside < offset + host_uptime + 5


def test_personality_linux32(pyrun, make_bundle, container_id):
    config = default_config(args=("uname", "-m"))
    config["linux"]["personality"] = {"domain": "LINUX32"}
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("i686", "armv8l", "ppc", "s390")


def test_scheduler_and_io_priority_seen_from_outside(pyrun, make_bundle, container_id):
    config = default_config(args=("sleep", "100"),
                            scheduler={"policy": "SCHED_BATCH", "nice": 7},
                            ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 6})
    bundle = make_bundle(config=config)
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        pid = state_of(pyrun, container_id)["pid"]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        nice, policy = int(fields[16]), int(fields[38])
        assert (policy, nice) == (3, 7)  # SCHED_BATCH
        ionice = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True)
        assert ionice.stdout.strip() == "best-effort: prio 6"
    finally:
        pyrun("delete", "--force", container_id)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_exec_cpu_affinity(pyrun, make_bundle, container_id, tmp_path):
    bundle = make_bundle(config=default_config(args=("sleep", "100")))
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        cpus = sorted(os.sched_getaffinity(0))
        process = {**default_config()["process"], "args": ["grep", "Cpus_allowed_list",
                                                           "/proc/self/status"],
                   "execCPUAffinity": {"initial": str(cpus[0]), "final": str(cpus[1])}}
        spec = tmp_path / "process.json"
        spec.write_text(json.dumps(process))
        result = pyrun("exec", "--process", spec, container_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[-1] == str(cpus[1])
    finally:
        pyrun("delete", "--force", container_id)


def test_an_apparmor_profile_without_apparmor_is_refused(pyrun, make_bundle, container_id):
    enabled = Path("/sys/module/apparmor/parameters/enabled")
    if enabled.exists() and enabled.read_text().startswith("Y"):
        pytest.skip("AppArmor is enabled here")
    config = default_config(apparmorProfile="docker-default")
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 1
    assert "process.apparmorProfile" in result.stderr
    assert "AppArmor is not enabled" in result.stderr
