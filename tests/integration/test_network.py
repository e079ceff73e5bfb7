"""Bridge networking, for real: pyrun.runtime.network.setup/teardown as root.

Each test runs in a network namespace of its own that plays the host (the test's main
thread unshares into it, and everything it forks, nft and nsenter included, inherits it);
"containers" are `unshare --net sleep` processes, each with its own namespace (see netbed.py).
No traffic leaves these namespaces. Each test checks that no link, chain, lease or process
is left, and the host namespace goes away with the test.
"""

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pyrun.errors import PyrunError
from pyrun.linux import netlink, nftables
from pyrun.runtime import network as net
from tests.integration.netbed import (
    CLIENT,
    OUTSIDE_HOST_IP,
    OUTSIDE_IP,
    ask,
    host_links,
    in_ns,
    ruleset,
)


@pytest.fixture
def container(host, state_root, container_id):
    """container(n, **request) -> (id, init pid, record) after setup; torn down afterwards."""
    made = []

    def make(n: int = 0, *, setup: bool = True, **kw):
        cid = f"{container_id}-{n}"
        os.mkdir(state_root / cid)
        pid = host.new()
        record = None
        if setup:
            request = net.parse_request(environ={}, **{"network": "bridge", **kw})
            record = net.setup(str(state_root), cid, pid, request, etc_dir=str(state_root / cid))
            made.append((cid, record))
        return cid, pid, record

    yield make
    for cid, record in made:
        net.teardown(str(state_root), cid, record)


def test_containers_reach_each_other_and_the_host_reaches_them(host, container):
    _, a, ra = container(0)
    _, b, rb = container(1)
    assert ra["address"] != rb["address"]
    assert sorted(netlink.bridge_ports("pyrun0")) == sorted([ra["veth"], rb["veth"]])
    r = in_ns(a, "busybox", "ping", "-c", "1", "-W", "3", rb["address"])
    assert r.returncode == 0, r.stdout + r.stderr
    host.serve(a, "tcp", 7000)
    assert ask(b, "tcp", ra["address"], 7000) == rb["address"]
    assert ask(None, "tcp", ra["address"], 7000) == "10.73.0.1"  # the host, by the bridge
    # inside: eth0 with the address and a default route through the bridge
    assert sorted(netlink.container_links(f"/proc/{a}/ns/net")) == ["eth0", "lo"]
    routes = in_ns(a, "ip", "route").stdout
    assert "default via 10.73.0.1 dev eth0" in routes


def test_published_tcp_port(host, container, outside):
    cid, a, _ = container(0, publish=["8080:80"])
    _, b, _ = container(1)
    host.serve(a, "tcp", 80)
    # from a remote client: DNAT in prerouting; the container sees the client's own address
    assert ask(outside, "tcp", OUTSIDE_HOST_IP, 8080) == OUTSIDE_IP
    # from the host itself, through any of its addresses, 127.0.0.1 included (output chain)
    assert ask(None, "tcp", OUTSIDE_HOST_IP, 8080) == OUTSIDE_HOST_IP
    assert ask(None, "tcp", "127.0.0.1", 8080) == "10.73.0.1"  # masqueraded: route_localnet
    # from another container through the host's address (hairpin): masqueraded
    assert ask(b, "tcp", OUTSIDE_HOST_IP, 8080) == "10.73.0.1"
    # the container's own rules are tagged with its id
    assert f'comment "pyrun {cid}"' in ruleset()


def test_published_port_on_one_host_address(host, container, outside):
    _, a, _ = container(0, publish=[f"{OUTSIDE_HOST_IP}:8081:80"])
    host.serve(a, "tcp", 80)
    assert ask(outside, "tcp", OUTSIDE_HOST_IP, 8081) == OUTSIDE_IP
    r = subprocess.run([sys.executable, "-c", CLIENT, "tcp", "127.0.0.1", "8081"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0  # not published on 127.0.0.1


def test_published_udp_port(host, container, outside):
    _, a, _ = container(0, publish=["5353:53/udp"])
    host.serve(a, "udp", 53)
    assert ask(outside, "udp", OUTSIDE_HOST_IP, 5353) == OUTSIDE_IP
    assert ask(None, "udp", "127.0.0.1", 5353) == "10.73.0.1"


def test_outbound_traffic_is_masqueraded(host, container, outside):
    _, a, _ = container(0)
    host.serve(outside, "tcp", 9000)
    assert ask(a, "tcp", OUTSIDE_IP, 9000) == OUTSIDE_HOST_IP


def test_container_cannot_reach_host_localhost(host, container):
    """route_localnet is on for the bridge: the guard chain keeps packets for 127/8 coming
    from the containers out (CVE-2020-8558); without it a container could send to a service
    the host keeps on localhost (one way, as here, is enough for UDP)."""
    _, a, _ = container(0, publish=["8080:80"])
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.42", 7777))
    srv.settimeout(1)
    try:
        # as an attacker would: 127/8 is no longer local in the container, but via the host
        for cmd in (["ip", "route", "del", "127.0.0.0/8", "table", "local"],
                    ["ip", "route", "add", "127.0.0.42/32", "via", "10.73.0.1", "dev", "eth0",
                     "onlink"]):
            r = in_ns(a, *cmd)
            assert r.returncode == 0, r.stderr
        send = [sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, "
                "socket.SOCK_DGRAM).sendto(b'boo', ('127.0.0.42', 7777))"]
        assert in_ns(a, *send).returncode == 0
        with pytest.raises(TimeoutError):
            srv.recvfrom(100)
        subprocess.run(["nft", "flush", "chain", "ip", "pyrun", "br-pyrun0-guard"], check=True)
        assert in_ns(a, *send).returncode == 0
        assert srv.recvfrom(100)[0] == b"boo"  # so it was the guard that stopped it
    finally:
        srv.close()


def test_etc_files(host, container, state_root):
    cid, _, rec = container(0)
    d = state_root / cid
    assert rec["files"] == {f"/etc/{n}": str(d / n) for n in ("hosts", "hostname",
                                                               "resolv.conf")}
    assert (d / "hostname").read_text() == cid[:12] + "\n"
    assert f"{rec['address']}\t{cid[:12]}\n" in (d / "hosts").read_text()
    assert "nameserver 127." not in (d / "resolv.conf").read_text()


def _setup_one(args):
    root, cid, pid = args
    request = net.parse_request(network="bridge", environ={})
    return net.setup(root, cid, pid, request)


def _teardown_one(args):
    root, cid, record = args
    net.teardown(root, cid, record)


def test_20_parallel_setups(host, container, state_root):
    made = [container(i, setup=False) for i in range(20)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(20) as pool:
        records = pool.map(_setup_one, [(str(state_root), cid, pid) for cid, pid, _ in made])
        assert len({r["address"] for r in records}) == 20
        assert len({r["veth"] for r in records}) == 20
        assert sorted(netlink.bridge_ports("pyrun0")) == sorted(r["veth"] for r in records)
        for (_, pid, _), r in zip(made, records, strict=True):
            assert f"inet {r['address']}/24" in in_ns(pid, "ip", "-4", "addr").stdout
        with net.Leases(str(state_root)) as db:
            assert len(db.leases) == 20
        pool.map(_teardown_one, [(str(state_root), cid, r)
                                 for (cid, _, _), r in zip(made, records, strict=True)])
    assert host_links() == ["lo"]
    assert ruleset() == ""


def _crash_during_setup(root, cid, pid, where, record_file):
    """In a child: setup, killed by SIGKILL at `where`; the record saved (as the caller's
    state.json would be) before anything is made."""
    def save(record):
        with open(record_file, "w") as f:
            f.write(repr(record))
        if where == "after-lease":
            os.kill(os.getpid(), signal.SIGKILL)

    def die(*a, **kw):
        os.kill(os.getpid(), signal.SIGKILL)

    def die_after_nft(*a, **kw):
        time.sleep(0.5)  # nft runs meanwhile: let it finish, so its rules are there
        die()

    if where == "during-nft":
        netlink.create_veth_into = die  # nft (started just before) dies with us
    if where == "before-veth":
        netlink.create_veth_into = die_after_nft
    if where == "after-veth":
        connect = net._connect

        def connect_then_die(*a, **kw):
            connect(*a, **kw)
            die()

        net._connect = connect_then_die
    request = net.parse_request(network="bridge", publish=["8080:80"], environ={})
    net.setup(root, cid, pid, request, etc_dir=os.path.join(root, cid), save=save)
    os._exit(0)


@pytest.mark.parametrize("where", ["after-lease", "during-nft", "before-veth", "after-veth"])
@pytest.mark.parametrize("with_record", [True, False])
def test_teardown_after_kill_9_mid_setup(host, container, state_root, tmp_path, where,
                                         with_record):
    cid, pid, _ = container(0, setup=False)
    record_file = tmp_path / "record"
    child = os.fork()
    if child == 0:
        try:
            _crash_during_setup(str(state_root), cid, pid, where, str(record_file))
        finally:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    with net.Leases(str(state_root)) as db:
        assert cid in db.leases  # written before anything was made
    if where == "after-veth":
        assert "pyrun0" in host_links() and db.leases[cid]["veth"] in host_links()
    if where in ("before-veth", "after-veth"):
        assert "ctr-" in ruleset()
    record = eval(record_file.read_text()) if with_record else None
    net.teardown(str(state_root), cid, record)
    net.teardown(str(state_root), cid, record)  # again: nothing to do, no error
    assert host_links() == ["lo"]
    assert ruleset() == ""


def test_taken_ip_and_taken_port_leave_nothing(host, container, state_root):
    first, _, _ = container(0, ip="10.73.0.50", publish=["8080:80"])
    before = (host_links(), ruleset())
    cid, pid, _ = container(1, setup=False)
    for kw, message in [
        ({"ip": "10.73.0.50"}, f"--ip 10.73.0.50: already taken by container {first}"),
        ({"publish": ["127.0.0.1:8080:81"]}, "--publish 127.0.0.1:8080:81/tcp: host port "
                                             f"8080/tcp is already published by container {first}"),
    ]:
        request = net.parse_request(network="bridge", environ={}, **kw)
        with pytest.raises(PyrunError) as e:
            net.setup(str(state_root), cid, pid, request)
        assert str(e.value) == message
        assert (host_links(), ruleset()) == before
        with net.Leases(str(state_root)) as db:
            assert cid not in db.leases


def test_failure_while_connecting_is_rolled_back(host, container, state_root):
    """The container already has an eth0: the veth cannot be made; lease, rules and bridge
    made for it are removed again."""
    cid, pid, _ = container(0, setup=False)
    assert in_ns(pid, "ip", "link", "add", "eth0", "type", "veth", "peer", "name",
                 "x0").returncode == 0
    request = net.parse_request(network="bridge", publish=["8080:80"], environ={})
    with pytest.raises(PyrunError) as e:
        net.setup(str(state_root), cid, pid, request)
    assert str(e.value) == (f"veth {net.veth_of(net.key_of(str(state_root), cid))} "
                            "(peer eth0 in the container): File exists")
    assert host_links() == ["lo"]
    assert ruleset() == ""


def test_subnet_overlapping_a_host_network_is_refused(host, container, outside, state_root):
    subprocess.run(["ip", "addr", "add", "10.73.0.200/16", "dev", "outside0"], check=True)
    cid, pid, _ = container(0, setup=False)
    with pytest.raises(PyrunError) as e:
        net.setup(str(state_root), cid, pid, net.parse_request(network="bridge", environ={}))
    assert str(e.value) == ("PYRUN_SUBNET 10.73.0.0/24: overlaps 10.73.0.200/16 on outside0: "
                            "choose another subnet")
    assert "pyrun0" not in host_links()


def test_dead_init_and_missing_state_dir(host, container, state_root):
    cid, pid, _ = container(0, setup=False)
    request = net.parse_request(network="bridge", environ={})
    with pytest.raises(PyrunError, match="has no state directory"):
        net.setup(str(state_root), "no-such-dir", pid, request)
    with pytest.raises(PyrunError) as e:
        net.setup(str(state_root), cid, 999999999, request)
    assert str(e.value) == "network namespace of pid 999999999: No such file or directory"


def test_stale_lease_is_reclaimed(host, container, state_root):
    """A container whose state dir vanished (its lease, veth and rules left): the next setup
    takes the lease back and removes its veth and chains."""
    cid, _, rec = container(0, publish=["8080:80"])
    for f in os.listdir(state_root / cid):
        os.unlink(state_root / cid / f)
    os.rmdir(state_root / cid)
    os.mkdir(state_root / cid)  # (for the fixture's teardown, which finds nothing to do)
    with net.Leases(str(state_root)) as db:
        db.data["leases"]["ghost"] = db.leases.pop(cid)
        db.save()
    cid2, _, rec2 = container(1, publish=["8080:80"])  # the port is free again
    assert rec["veth"] not in host_links()
    with net.Leases(str(state_root)) as db:
        assert sorted(db.leases) == [cid2]
    assert f"ctr-{rec['key']}" not in ruleset()
    assert f"ctr-{rec2['key']}" in ruleset()


def test_nftables_removal_leaves_other_containers(host, container):
    _, _, ra = container(0, publish=["8080:80"])
    _, _, rb = container(1, publish=["8081:80"])
    nftables.remove_ports(ra["key"])
    nftables.remove_ports(ra["key"])
    names = nftables.chains()
    assert f"ctr-{ra['key']}-pre" not in names
    assert {f"ctr-{rb['key']}-pre", f"ctr-{rb['key']}-out", "br-pyrun0-post"} <= set(names)


def _make_race_bridge(_):
    return netlink.ensure_bridge("br-race", "10.99.0.1/24")


def test_ensure_bridge_concurrently(host):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(8) as pool:
        created = pool.map(_make_race_bridge, range(8))
    try:
        assert created.count(True) == 1
        r = subprocess.run(["ip", "-o", "-4", "addr", "show", "br-race"], capture_output=True,
                           text=True, check=True)
        assert r.stdout.count("10.99.0.1/24") == 1
        assert not netlink.bridge_has_ports("br-race")
    finally:
        assert netlink.delete_bridge("br-race")
        assert not netlink.delete_bridge("br-race")
        assert not netlink.delete_link("br-race")
