"""`--network bridge`, `--publish` and `--ip` through pyrun itself: create, run, exec, delete,
`pyrun network ls|prune`, bad input, and kill -9 at the network's points.

Each test runs in a network namespace that plays the host (the `host` fixture, netbed.py);
pyrun, started from the test's thread, makes its bridge, veths and nftables rules there. The
effect is checked from outside: the links and rules of that namespace, the lease file, what
a client in another namespace gets back. No traffic leaves these namespaces.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from pyrun.runtime import network as net
from tests.integration.bundles import PYRUN, default_config
from tests.integration.helpers import state_of
from tests.integration.netbed import OUTSIDE_HOST_IP, host_links, in_ns, ruleset
from tests.integration.test_kill9 import marked_processes, wait_stopped
from tests.integration.test_userns import needs_userns, userns_config

# GET http://HOST:PORT/PATH from wherever it runs, retried while the server starts.
HTTP_GET = r"""
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + 10
while True:
    try:
        print(urllib.request.urlopen(url, timeout=2).read().decode().strip())
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
"""
# busybox's httpd serving the container's /etc: /hostname answers with the container's
# hostname, which says whose server answered.
SERVE_ETC = ("httpd", "-f", "-p", "80", "-h", "/etc")


def http_get(url: str, netns_pid: int | None = None) -> str:
    cmd = [sys.executable, "-c", HTTP_GET, url]
    r = in_ns(netns_pid, *cmd) if netns_pid else subprocess.run(
        cmd, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def leases(state_root) -> dict:
    with net.Leases(str(state_root)) as db:
        return dict(db.leases)


def assert_no_network_left(state_root) -> None:
    assert set(host_links()) <= {"lo", "outside0"}  # the test bed's
    assert ruleset() == ""
    assert not (state_root / net.NETWORK_DIR).exists()  # no lease left: the directory goes


def test_run_connects_the_container_and_delete_removes_it_all(host, pyrun, make_bundle,
                                                              container_id, state_root):
    bundle = make_bundle(args=("sh", "-c", "ip -o -4 addr show eth0; ip route; "
                               "cat /etc/hosts /etc/hostname /etc/resolv.conf; "
                               "cat /proc/sys/net/ipv4/ping_group_range"))
    r = pyrun("run", "--network", "bridge", "-b", bundle, container_id)
    assert r.returncode == 0, r.stderr
    assert "inet 10.73.0.2/24" in r.stdout
    assert "default via 10.73.0.1 dev eth0" in r.stdout
    assert "10.73.0.2\tpyrun-test\n" in r.stdout  # /etc/hosts, with the config's hostname
    assert "pyrun-test\n" in r.stdout  # /etc/hostname
    assert "nameserver" in r.stdout
    assert "0\t2147483647" in r.stdout  # ping without CAP_NET_RAW, as in Docker
    assert_no_network_left(state_root)


def test_published_port_from_outside_the_host_and_from_the_host(host, outside, pyrun,
                                                                make_bundle, container_id,
                                                                state_root):
    bundle = make_bundle(args=SERVE_ETC)
    r = pyrun("run", "-d", "--publish", "8080:80", "-b", bundle, container_id)
    assert r.returncode == 0, r.stderr
    try:
        (lease,) = leases(state_root).values()
        assert lease["ports"] == [{"proto": "tcp", "host_ip": "", "host_port": 8080,
                                   "container_port": 80}]
        assert lease["veth"] in host_links() and "pyrun0" in host_links()
        assert http_get(f"http://{OUTSIDE_HOST_IP}:8080/hostname", outside) == "pyrun-test"
        assert http_get("http://127.0.0.1:8080/hostname") == "pyrun-test"
        assert http_get(f"http://{lease['address']}:80/hostname") == "pyrun-test"
    finally:
        d = pyrun("delete", "--force", container_id)
    assert d.returncode == 0, d.stderr
    assert_no_network_left(state_root)


def test_exec_joins_the_containers_network(host, pyrun, make_bundle, container_id,
                                           state_root):
    bundle = make_bundle(args=("sleep", "100"))
    assert pyrun("run", "-d", "--ip", "10.73.0.77", "-b", bundle,
                 container_id).returncode == 0
    try:
        r = pyrun("exec", container_id, "ip", "-o", "-4", "addr", "show", "eth0")
        assert r.returncode == 0, r.stderr
        assert "inet 10.73.0.77/24" in r.stdout
    finally:
        pyrun("delete", "--force", container_id)
    assert_no_network_left(state_root)


def test_annotations_ask_for_the_network(host, pyrun, make_bundle, container_id, state_root):
    config = default_config(args=("ip", "-o", "-4", "addr", "show", "eth0"))
    config["annotations"] = {"org.pyrun.network": "bridge", "org.pyrun.ip": "10.73.0.50"}
    r = pyrun("run", "-b", make_bundle(config=config), container_id)
    assert r.returncode == 0, r.stderr
    assert "inet 10.73.0.50/24" in r.stdout
    assert_no_network_left(state_root)


def test_a_taken_port_is_refused_and_network_ls_shows_the_owner(host, pyrun, make_bundle,
                                                                 container_id, state_root):
    first, second = f"{container_id}-a", f"{container_id}-b"
    bundle = make_bundle(args=("sleep", "100"))
    assert pyrun("create", "--publish", "8080:80", "-b", bundle, first).returncode == 0
    try:
        before = (host_links(), ruleset())
        r = pyrun("create", "--publish", "8080:81", "-b", bundle, second)
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1, r.stderr
        assert f"--publish 8080:81/tcp: host port 8080/tcp is already published by " \
               f"container {first}" in r.stderr
        assert not (state_root / second).exists()
        assert (host_links(), ruleset()) == before
        listed = pyrun("network", "ls")
        assert listed.returncode == 0, listed.stderr
        (row,) = [line.split() for line in listed.stdout.splitlines()[1:]]
        assert row[0] == first and row[2] == "10.73.0.2" and row[4] == "8080:80/tcp"
    finally:
        pyrun("delete", "--force", first)
    assert_no_network_left(state_root)


def test_the_configs_own_etc_hosts_mount_wins(host, pyrun, make_bundle, container_id,
                                              state_root, tmp_path):
    mine = tmp_path / "my-hosts"
    mine.write_text("10.1.2.3 mine\n")
    config = default_config(args=("cat", "/etc/hosts", "/etc/hostname"))
    config["mounts"].append({"destination": "/etc/hosts", "type": "bind",
                             "source": str(mine), "options": ["rbind", "ro"]})
    r = pyrun("run", "--network", "bridge", "-b", make_bundle(config=config), container_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "10.1.2.3 mine\npyrun-test\n"
    assert_no_network_left(state_root)


@needs_userns
def test_in_a_user_namespace(host, pyrun, make_bundle, container_id, state_root):
    config = userns_config(("sh", "-c", "ip -o -4 addr show eth0; cat /etc/hostname; "
                                        "cat /proc/sys/net/ipv4/ping_group_range"))
    r = pyrun("run", "--network", "bridge", "-b", make_bundle(config=config), container_id)
    assert r.returncode == 0, r.stderr
    assert "inet 10.73.0.2/24" in r.stdout and "pyrun-test\n" in r.stdout
    assert "0\t2147483647" not in r.stdout  # the groups would not be mapped: left alone
    assert_no_network_left(state_root)


def _no_network_namespace(config):
    config["linux"]["namespaces"] = [n for n in config["linux"]["namespaces"]
                                     if n["type"] != "network"]


def _joined_network_namespace(config):
    for n in config["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = "/proc/self/ns/net"


BAD = [
    (["--network", "host"], None, {}, '--network host: expected "bridge" or "none"'),
    (["--publish", "70000:80"], None, {},
     '--publish 70000:80: host port "70000" is not a number from 1 to 65535'),
    (["--publish", "8000-8010:80"], None, {}, "port ranges: not supported yet"),
    (["--ip", "10.9.0.2"], None, {}, "--ip 10.9.0.2: outside the bridge's subnet 10.73.0.0/24"),
    (["--network", "none", "--publish", "80:80"], None, {},
     "--publish: needs a network, but --network none"),
    (["--network", "bridge"], _no_network_namespace, {},
     "the container has no network namespace of its own"),
    (["--network", "bridge"], _joined_network_namespace, {},
     "its network is not pyrun's to set up"),
    (["--network", "bridge"], None, {"PYRUN_SUBNET": "10.73.0.1/24"},
     "PYRUN_SUBNET 10.73.0.1/24: host bits set"),
]


@pytest.mark.parametrize(("flags", "edit", "env", "message"), BAD,
                         ids=[" ".join(b[0]) + (" " + b[1].__name__ if b[1] else "")
                              + (" " + str(b[2]) if b[2] else "") for b in BAD])
def test_bad_network_input_is_one_line_and_leaves_nothing(host, pyrun, make_bundle,
                                                          container_id, state_root,
                                                          flags, edit, env, message):
    config = default_config()
    if edit:
        edit(config)
    r = pyrun("create", *flags, "-b", make_bundle(config=config), container_id,
              env={**os.environ, **env})
    assert r.returncode == 1
    assert r.stderr == f"pyrun: create {container_id}: {message}\n" or \
        (message in r.stderr and r.stderr.count("\n") == 1), r.stderr
    assert list(state_root.iterdir()) == []  # not even the lease file
    assert host_links() == ["lo"] and ruleset() == ""


def test_a_subnet_taken_on_the_host_is_refused(host, outside, pyrun, make_bundle,
                                               container_id, state_root):
    subprocess.run(["ip", "addr", "add", "10.73.0.200/16", "dev", "outside0"], check=True)
    r = pyrun("create", "--network", "bridge", "-b", make_bundle(), container_id)
    assert r.returncode == 1
    assert "network: PYRUN_SUBNET 10.73.0.0/24: overlaps 10.73.0.200/16 on outside0" \
        in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert not (state_root / container_id).exists()
    assert sorted(host_links()) == ["lo", "outside0"] and ruleset() == ""
    assert leases(state_root) == {}


NETWORK_POINTS = ["create: journaled the network", "create: claimed the network",
                  "create: connected the network"]


@pytest.mark.parametrize("point", NETWORK_POINTS, ids=[p.split(": ")[1] for p in NETWORK_POINTS])
def test_kill9_at_the_network_points_then_delete_force(host, make_bundle, container_id,
                                                       state_root, point):
    mark = f"KILL9_MARK={container_id}"
    config = default_config(args=("sleep", "100"))
    config["process"]["env"].append(mark)
    base = [PYRUN, "--root", str(state_root)]
    victim = subprocess.Popen([*base, "create", "--publish", "8080:80", "-b",
                               str(make_bundle(config=config)), container_id],
                              env={**os.environ, "PYRUN_FAILPOINT": point},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_stopped(victim)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    deleted = subprocess.run([*base, "delete", "--force", container_id], capture_output=True,
                             text=True)
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 5
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left: {left}"
    assert not (state_root / container_id).exists()
    assert_no_network_left(state_root)


def test_network_prune_reclaims_a_lease_whose_container_is_gone(host, pyrun, state_root,
                                                                container_id):
    """The state directory vanished behind pyrun's back (an emptied /run, say): its lease,
    veth and rules are left until `pyrun network prune` (or the next container's setup)."""
    os.mkdir(state_root / container_id)
    holder = host.new()
    request = net.parse_request(publish=["8080:80"], environ={})
    record = net.setup(str(state_root), container_id, holder, request)
    os.rmdir(state_root / container_id)
    assert record["veth"] in host_links() and "ctr-" in ruleset()
    r = pyrun("network", "prune")
    assert (r.returncode, r.stdout) == (0, f"{container_id}\n"), r.stderr
    assert_no_network_left(state_root)
    assert pyrun("network", "prune").stdout == ""


def test_state_is_runcs_without_the_record(host, pyrun, make_bundle, container_id):
    """The network record is pyrun's business: `state` prints runc's fields only."""
    assert pyrun("create", "--network", "bridge", "-b", make_bundle(),
                 container_id).returncode == 0
    try:
        state = state_of(pyrun, container_id)
        assert state["status"] == "created" and "network" not in state
    finally:
        pyrun("delete", "--force", container_id)


def test_a_create_failing_after_the_claim_removes_the_network(host, pyrun, make_bundle,
                                                              container_id, state_root):
    config = default_config()
    config["mounts"].append({"destination": "/mnt", "type": "nosuchfs", "source": "none"})
    r = pyrun("create", "--publish", "8080:80", "-b", make_bundle(config=config), container_id)
    assert r.returncode == 1
    assert "mount /mnt (nosuchfs): No such device" in r.stderr, r.stderr
    assert not (state_root / container_id).exists()
    assert_no_network_left(state_root)
