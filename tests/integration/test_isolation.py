"""What the container sees, and what the kernel says about it from outside."""

import os

import pytest

from tests.integration.bundles import default_config
from tests.integration.helpers import proc_status, run_in_container, state_of

DEFAULT_DEV = {"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout",
               "stderr", "ptmx", "pts", "shm", "mqueue"}


def sh(pyrun, make_bundle, container_id, script, **config):
    result = run_in_container(pyrun, make_bundle, container_id, script, **config)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_process_is_pid_1_and_sees_only_its_own_processes(pyrun, make_bundle,
                                                              container_id):
    out = sh(pyrun, make_bundle, container_id, "echo $$; ls /proc | grep -E '^[0-9]+$'")
    pid, *visible = out.split()
    assert pid == "1"
    # sh (1) and ls (forked); grep runs in parallel: nothing from the host.
    assert set(visible) <= {"1", "2", "3", "4"}, visible


def test_hostname_is_the_configs(pyrun, make_bundle, container_id):
    assert sh(pyrun, make_bundle, container_id, "hostname") == "pyrun-test\n"
    assert os.uname().nodename != "pyrun-test"


def test_host_files_are_unreachable(pyrun, make_bundle, container_id, tmp_path):
    marker = tmp_path / "host-only-marker"
    marker.write_text("secret")
    out = sh(pyrun, make_bundle, container_id,
             f"cat {marker} 2>&1; ls / ; cat /../../{marker} 2>&1; true")
    assert "secret" not in out
    assert "No such file" in out


def test_dev_holds_exactly_the_defaults(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "ls -A /dev")
    assert set(out.split()) == DEFAULT_DEV


def test_configured_devices_are_added(pyrun, make_bundle, container_id):
    config = default_config(args=("sh", "-c", "ls -ln /dev/fuse /dev/myfifo"))
    config["linux"]["devices"] = [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
         "uid": 7, "gid": 8},
        {"path": "/dev/myfifo", "type": "p"},
    ]
    bundle = make_bundle(config=config)
    result = pyrun("run", "-b", bundle, container_id)
    assert result.returncode == 0, result.stderr
    fuse, fifo = result.stdout.splitlines()
    assert fuse.startswith("crw-r-----") and " 7 " in fuse and " 8 " in fuse
    assert "10," in fuse and "229" in fuse
    assert fifo.startswith("prw-rw-rw-")


def test_masked_paths_are_unreadable(pyrun, make_bundle, container_id):
    # Paths with content on this host (kcore, for one, exists only on some kernels).
    for path in ("/proc/keys", "/proc/timer_list", "/sys/firmware"):
        assert os.path.exists(path)
    out = sh(pyrun, make_bundle, container_id,
             "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l")
    assert out.split() == ["0", "0", "0"]


def test_readonly_paths_are_read_only(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id,
             "echo 1 > /proc/sys/kernel/domainname 2>&1 || echo refused;"
             "grep ' /proc/sys ' /proc/self/mounts")
    assert "refused" in out
    assert " ro," in out.splitlines()[-1]


def test_readonly_root(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "touch /x 2>&1 || echo refused")
    assert "Read-only file system" in out


def test_capabilities_as_configured(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "grep ^Cap /proc/self/status")
    caps = dict(line.split(":\t") for line in out.splitlines())
    # AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10)
    expected = (1 << 29) | (1 << 5) | (1 << 10)
    assert int(caps["CapBnd"], 16) == expected
    assert int(caps["CapEff"], 16) == expected
    assert int(caps["CapPrm"], 16) == expected
    assert int(caps["CapInh"], 16) == 0
    # Ambient needs inheritable too (capabilities(7)); runc's template asks without.
    assert int(caps["CapAmb"], 16) == 0


def test_ambient_capabilities_when_inheritable(pyrun, make_bundle, container_id):
    caps = ["CAP_NET_RAW"]
    capabilities = {k: caps for k in ("bounding", "effective", "permitted", "inheritable",
                                      "ambient")}
    out = sh(pyrun, make_bundle, container_id, "grep ^CapAmb /proc/self/status",
             capabilities=capabilities)
    assert int(out.split()[1], 16) == 1 << 13


def test_user_and_groups_as_configured(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "id -u; id -g; id -G",
             user={"uid": 1000, "gid": 1001, "additionalGids": [5, 6]})
    uid, gid, groups = out.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert set(groups.split()) == {"1001", "5", "6"}


def test_rlimits_as_configured(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "ulimit -n; ulimit -Hn",
             rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}])
    assert out.split() == ["100", "200"]


def test_raising_a_hard_rlimit_fails_naming_it(pyrun, make_bundle, container_id):
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and _has_sys_resource():
        pytest.skip("this host lets root raise hard limits")
    result = run_in_container(pyrun, make_bundle, container_id, "true",
                              rlimits=[{"type": "RLIMIT_NOFILE", "soft": hard + 1,
                                        "hard": hard + 1}])
    assert result.returncode == 1
    assert "RLIMIT_NOFILE" in result.stderr
    assert result.stderr.count("\n") == 1


def _has_sys_resource() -> bool:
    return bool(int(proc_status(os.getpid())["CapEff"], 16) & (1 << 24))


def test_umask_cwd_and_env(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "umask; pwd; echo $FOO",
             cwd="/tmp", env=["PATH=/bin", "FOO=bar"],
             user={"uid": 0, "gid": 0, "umask": 0o027})
    assert out.split() == ["0027", "/tmp", "bar"]


def test_no_new_privileges(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "grep NoNewPrivs /proc/self/status")
    assert out.split()[1] == "1"
    out = sh(pyrun, make_bundle, container_id + "b", "grep NoNewPrivs /proc/self/status",
             noNewPrivileges=False)
    assert out.split()[1] == "0"


def test_only_stdio_is_inherited(pyrun, make_bundle, container_id):
    extra = os.open("/dev/null", os.O_RDONLY)  # inheritable would be a leak
    os.set_inheritable(extra, True)
    try:
        out = sh(pyrun, make_bundle, container_id, "ls /proc/self/fd", pass_fds=(extra,))
    finally:
        os.close(extra)
    assert sorted(out.split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


def test_preserve_fds_passes_extra_fds(pyrun, make_bundle, container_id, tmp_path):
    data = tmp_path / "data"
    data.write_text("through fd 3\n")
    fd = os.open(data, os.O_RDONLY)
    try:
        os.dup2(fd, 3) if fd != 3 else None
        bundle = make_bundle(args=("sh", "-c", "cat <&3"))
        result = pyrun("run", "--preserve-fds", "1", "-b", bundle, container_id, pass_fds=(3,))
    finally:
        os.close(fd)
    assert result.stdout == "through fd 3\n", result.stderr


def test_namespaces_differ_from_the_hosts(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"))
    assert pyrun("create", "-b", bundle, container_id).returncode == 0
    pid = state_of(pyrun, container_id)["pid"]
    try:
        for kind in ("pid", "net", "ipc", "uts", "mnt"):
            assert os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
        # No cgroup namespace in this config: shared with the host.
        assert os.readlink(f"/proc/{pid}/ns/cgroup") == os.readlink("/proc/self/ns/cgroup")
    finally:
        pyrun("delete", "--force", container_id)


def test_loopback_is_up_in_a_new_network_namespace(pyrun, make_bundle, container_id):
    out = sh(pyrun, make_bundle, container_id, "cat /sys/class/net/lo/operstate; ls /sys/class/net")
    assert out.split()[0] in ("unknown", "up")
    assert out.split()[1:] == ["lo"]


def test_joining_an_existing_network_namespace(pyrun, make_bundle, container_id):
    import subprocess

    name = f"pyrun-{container_id}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
        namespaces.append({"type": "network", "path": f"/run/netns/{name}"})
        config = default_config(args=("readlink", "/proc/self/ns/net"))
        config["linux"]["namespaces"] = namespaces
        result = pyrun("run", "-b", make_bundle(config=config), container_id)
        inode = os.stat(f"/run/netns/{name}").st_ino
        assert result.stdout.strip() == f"net:[{inode}]", result.stderr
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def test_host_dev_null_is_unchanged(pyrun, make_bundle, container_id):
    """stdio of /dev/null must never be chowned or chmodded on the host."""
    before = os.stat("/dev/null")
    sh(pyrun, make_bundle, container_id, "true", user={"uid": 1000, "gid": 1000})
    after = os.stat("/dev/null")
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid,
                                                           before.st_mode)


def test_sysctl_in_the_containers_namespace(pyrun, make_bundle, container_id):
    config = default_config(args=("cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"))
    config["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "42"}
    config["linux"]["readonlyPaths"] = []
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        host_before = f.read()
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.stdout.strip() == "42", result.stderr
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        assert f.read() == host_before


def test_cgroup_namespace_is_rooted_at_the_containers_cgroup(pyrun, make_bundle,
                                                             container_id):
    config = default_config(args=("sleep", "100"))
    config["linux"]["namespaces"].append({"type": "cgroup"})
    bundle = make_bundle(config=config)
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0
    try:
        pid = state_of(pyrun, container_id)["pid"]
        with open(f"/proc/{pid}/cgroup") as f:  # from outside: the container's cgroup
            outside = [line.split(":", 2)[2].strip() for line in f]
        assert all(path.endswith(f"/pyrun/{container_id}") for path in outside), outside
        result = pyrun("exec", container_id, "cat", "/proc/self/cgroup")
        inside = [line.split(":", 2)[2] for line in result.stdout.splitlines()]
        assert inside and set(inside) == {"/"}, result.stdout  # from inside: the root
    finally:
        pyrun("delete", "--force", container_id)


def test_tmpcopyup_gives_a_tmpfs_the_directory_it_covers(pyrun, make_bundle, container_id):
    """podman --read-only mounts /tmp and /run so; runc copies what they covered."""
    config = default_config(args=("sh", "-c", "cat /etc/passwd | head -1; "
                                  "touch /etc/new && echo writable; grep ' /etc ' "
                                  "/proc/self/mountinfo | grep -c tmpfs"))
    config["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                             "options": ["tmpcopyup", "nosuid", "mode=755"]})
    result = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["root:x:0:0:root:/root:/bin/sh", "writable", "1"]
