"""pyrun.runtime.network without root: parsing, the allocator, the lease file, /etc files, and
the nftables scripts it generates."""

import multiprocessing
import os
import time

import pytest

from pyrun.errors import PyrunError
from pyrun.linux import nftables
from pyrun.runtime import network as net
from pyrun.runtime.network import Port, Request, Subnet, parse_request, request
from pyrun.runtime.network.request import parse_publish

# --- --publish


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", ("tcp", "", 8080, 80)),
    ("8080:80/tcp", ("tcp", "", 8080, 80)),
    ("5353:53/udp", ("udp", "", 5353, 53)),
    ("127.0.0.1:8080:80", ("tcp", "127.0.0.1", 8080, 80)),
    ("192.0.2.1:53:53/udp", ("udp", "192.0.2.1", 53, 53)),
    ("0.0.0.0:1:65535", ("tcp", "", 1, 65535)),
])
def test_publish_forms(spec, expected):
    p = parse_publish(spec)
    assert (p.proto, p.host_ip, p.host_port, p.container_port) == expected


@pytest.mark.parametrize("spec, reason", [
    ("80", "expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]"),
    ("a:b:c:d", "expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]"),
    ("8080:80/sctp", 'protocol must be "tcp" or "udp"'),
    ("8080:80/", 'protocol must be "tcp" or "udp"'),
    ("0:80", 'host port "0" is not a number from 1 to 65535'),
    ("8080:65536", 'container port "65536" is not a number from 1 to 65535'),
    ("http:80", 'host port "http" is not a number from 1 to 65535'),
    ("8000-8010:80", "port ranges: not supported yet"),
    ("localhost:8080:80", '"localhost" is not an IPv4 address'),
    ("1.2.3:8080:80", '"1.2.3" is not an IPv4 address'),
    ("[::1]:8080:80", "IPv6 host addresses: not supported yet"),
    ("", "expected [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]"),
])
def test_publish_errors_name_the_flag(spec, reason):
    with pytest.raises(PyrunError) as e:
        parse_publish(spec)
    assert str(e.value) == f"--publish {spec}: {reason}"
    assert "\n" not in str(e.value)


def test_publish_error_from_annotation_names_it():
    with pytest.raises(PyrunError) as e:
        parse_request(annotations={"org.pyrun.publish": "8080:80, 99999:1"}, environ={})
    assert str(e.value).startswith("annotation org.pyrun.publish 99999:1: ")


# --- the request

def test_off_unless_asked():
    assert parse_request(environ={}) is None
    assert parse_request(annotations={"other": "x"}, environ={}) is None
    assert parse_request(network="none", environ={}) is None
    assert parse_request(annotations={"org.pyrun.network": "none"}, environ={}) is None


def test_bridge_defaults():
    r = parse_request(network="bridge", environ={})
    assert (r.bridge, r.subnet, r.ip, r.ports, r.mtu) == ("pyrun0", "10.73.0.0/24", None, [],
                                                          None)


def test_publish_or_ip_alone_imply_bridge():
    assert parse_request(publish=["8080:80"], environ={}).ports == [parse_publish("8080:80")]
    assert parse_request(ip="10.73.0.9", environ={}).ip == "10.73.0.9"


def test_annotations():
    r = parse_request(annotations={"org.pyrun.network": "bridge",
                                   "org.pyrun.publish": "8080:80,127.0.0.1:5353:53/udp 9:9",
                                   "org.pyrun.ip": "10.73.0.20"}, environ={})
    assert [p.spec() for p in r.ports] == ["8080:80/tcp", "127.0.0.1:5353:53/udp", "9:9/tcp"]
    assert r.ip == "10.73.0.20" and r.ip_source == "annotation org.pyrun.ip"


def test_flags_win_over_annotations_setting_by_setting():
    ann = {"org.pyrun.network": "none", "org.pyrun.publish": "1:1", "org.pyrun.ip": "10.73.0.5"}
    r = parse_request(network="bridge", publish=["2:2"], annotations=ann, environ={})
    assert [p.spec() for p in r.ports] == ["2:2/tcp"]
    assert r.ip == "10.73.0.5"  # not given as a flag: the annotation's
    r = parse_request(network="bridge", ip="10.73.0.6", annotations=ann, environ={})
    assert r.ip == "10.73.0.6" and r.ip_source == "--ip"


def test_environment_and_arguments_choose_bridge_and_subnet():
    env = {"PYRUN_BRIDGE": "br-test", "PYRUN_SUBNET": "172.29.5.0/24"}
    r = parse_request(network="bridge", environ=env)
    assert (r.bridge, r.subnet) == ("br-test", "172.29.5.0/24")
    r = parse_request(network="bridge", environ=env, bridge="b2", subnet="10.1.2.0/28")
    assert (r.bridge, r.subnet) == ("b2", "10.1.2.0/28")


@pytest.mark.parametrize("kw, message", [
    ({"network": "host"}, '--network host: expected "bridge" or "none"'),
    ({"network": "none", "publish": ["1:1"]}, "--publish: needs a network, but --network none"),
    ({"network": "none", "ip": "10.73.0.2"}, "--ip: needs a network, but --network none"),
    ({"ip": "10.73.1.2"}, "--ip 10.73.1.2: outside the bridge's subnet 10.73.0.0/24"),
    ({"ip": "10.73.0.1"},
     "--ip 10.73.0.1: is the network, gateway or broadcast address of 10.73.0.0/24"),
    ({"ip": "10.73.0.255"},
     "--ip 10.73.0.255: is the network, gateway or broadcast address of 10.73.0.0/24"),
    ({"ip": "fe80::1"}, "--ip fe80::1: expected an IPv4 address"),
    ({"publish": ["8080:80", "127.0.0.1:8080:81"]},
     "--publish 127.0.0.1:8080:81/tcp: host port already given by 8080:80/tcp"),
    ({"network": "bridge", "subnet": "10.73.0.1/24"},
     "--subnet 10.73.0.1/24: host bits set: did you mean 10.73.0.0/24?"),
    ({"network": "bridge", "subnet": "10.0.0.0/31"},
     "--subnet 10.0.0.0/31: expected an IPv4 network such as 10.73.0.0/24 (prefix /8 to /30)"),
    ({"network": "bridge", "bridge": "a/b"},
     "bridge name a/b: use 1-15 letters, digits, _ - and ."),
    ({"network": "bridge", "bridge": "x" * 16},
     f"bridge name {'x' * 16}: use 1-15 letters, digits, _ - and ."),
    ({"network": "bridge", "mtu": 10}, "--mtu 10: expected 68 to 65535"),
])
def test_request_errors(kw, message):
    with pytest.raises(PyrunError) as e:
        parse_request(environ={}, **kw)
    assert str(e.value) == message


def test_same_port_on_other_protocol_or_address_is_fine():
    r = parse_request(publish=["8080:80", "8080:80/udp", "127.0.0.1:9:9", "127.0.0.2:9:9"],
                      environ={})
    assert len(r.ports) == 4


def test_check_namespaces():
    r = parse_request(network="bridge", environ={})
    net.check_namespaces(None, False, "/proc/1/ns/net")
    net.check_namespaces(r, True, None)
    with pytest.raises(PyrunError, match="not pyrun's to set up"):
        net.check_namespaces(r, True, "/var/run/netns/x")
    with pytest.raises(PyrunError, match="no network namespace of its own"):
        net.check_namespaces(r, False, None)


# --- subnets and the allocator

def test_subnet():
    s = Subnet("10.73.0.0/24")
    assert s.gateway == "10.73.0.1"
    assert (s.hosts().start, s.hosts().stop) == (request.ip_to_int("10.73.0.2"),
                                                 request.ip_to_int("10.73.0.255"))
    assert s.overlaps("10.73.0.77", 16) and s.overlaps("10.73.0.5", 30)
    assert not s.overlaps("10.74.0.1", 24) and not s.overlaps("10.72.255.255", 24)


def _data():
    return {"version": 1, "last": {}, "leases": {}}


def _take(data, cid, request):
    address = net.allocate(data, cid, request)
    data["leases"][cid] = net.make_record("/r", cid, request, address)
    return address


def test_allocate_round_robin_and_wraps():
    data = _data()
    req = Request(subnet="10.9.0.0/29")  # hosts .2 .. .6
    assert [_take(data, f"c{i}", req) for i in range(5)] == [
        "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(PyrunError) as e:
        _take(data, "c5", req)
    assert str(e.value) == "subnet 10.9.0.0/29: no free address left on bridge pyrun0"
    del data["leases"]["c1"]
    del data["leases"]["c3"]
    assert _take(data, "c6", req) == "10.9.0.3"  # wrapped: the first free after .6
    assert _take(data, "c7", req) == "10.9.0.5"


def test_allocate_does_not_reuse_a_freed_address_at_once():
    data = _data()
    req = Request()
    _take(data, "a", req)
    del data["leases"]["a"]
    assert _take(data, "b", req) == "10.73.0.3"


def test_allocate_requested_address():
    data = _data()
    _take(data, "a", Request(ip="10.73.0.50"))
    assert _take(data, "b", Request()) == "10.73.0.2"
    with pytest.raises(PyrunError) as e:
        _take(data, "c", Request(ip="10.73.0.50"))
    assert str(e.value) == "--ip 10.73.0.50: already taken by container a"
    with pytest.raises(PyrunError) as e:
        _take(data, "c", Request(ip="10.73.0.2", ip_source="annotation org.pyrun.ip"))
    assert str(e.value) == "annotation org.pyrun.ip 10.73.0.2: already taken by container b"


def test_allocate_skips_addresses_given_by_ip():
    data = _data()
    _take(data, "a", Request(ip="10.73.0.2"))
    assert _take(data, "b", Request()) == "10.73.0.3"


def test_bridges_allocate_independently_and_subnet_must_agree():
    data = _data()
    assert _take(data, "a", Request()) == "10.73.0.2"
    assert _take(data, "b", Request(bridge="pyrun1", subnet="10.74.0.0/24")) == "10.74.0.2"
    with pytest.raises(PyrunError) as e:
        _take(data, "c", Request(subnet="10.75.0.0/24"))
    assert str(e.value) == ("PYRUN_SUBNET 10.75.0.0/24: bridge pyrun0 already has container a "
                            "on 10.73.0.0/24")


def test_port_published_by_another_container():
    data = _data()
    _take(data, "a", Request(ports=[parse_publish("8080:80"), parse_publish("53:53/udp")]))
    with pytest.raises(PyrunError) as e:
        net.check_ports(data, "b", [parse_publish("127.0.0.1:8080:81")])
    assert str(e.value) == ("--publish 127.0.0.1:8080:81/tcp: host port 8080/tcp is already "
                            "published by container a")
    net.check_ports(data, "b", [parse_publish("8080:80/udp"), parse_publish("53:53")])
    net.check_ports(data, "a", [parse_publish("8080:80")])  # its own


def test_clashes():
    any_ip = Port("tcp", "", 80, 80)
    assert any_ip.clashes({"proto": "tcp", "host_ip": "1.2.3.4", "host_port": 80})
    assert Port("tcp", "1.2.3.4", 80, 1).clashes({"proto": "tcp", "host_ip": "", "host_port": 80})
    assert not Port("tcp", "1.2.3.4", 80, 1).clashes(
        {"proto": "tcp", "host_ip": "1.2.3.5", "host_port": 80})


def test_record_format():
    req = Request(ports=[parse_publish("8080:80")], mtu=1400)
    rec = net.make_record("/run/pyrun", "web", req, "10.73.0.5", etc_dir="/run/pyrun/web")
    key = net.key_of("/run/pyrun", "web")
    assert rec == {
        "version": 1, "bridge": "pyrun0", "subnet": "10.73.0.0/24", "gateway": "10.73.0.1",
        "address": "10.73.0.5", "prefixlen": 24, "veth": "pyr" + key, "ifname": "eth0",
        "mtu": 1400, "key": key,
        "ports": [{"proto": "tcp", "host_ip": "", "host_port": 8080, "container_port": 80}],
        "files": {"/etc/hosts": "/run/pyrun/web/hosts", "/etc/hostname": "/run/pyrun/web/hostname",
                  "/etc/resolv.conf": "/run/pyrun/web/resolv.conf"}}
    assert len(rec["veth"]) == 15
    assert net.key_of("/run/pyrun", "web") != net.key_of("/tmp/other", "web")


# --- the lease file

def test_leases_file_round_trip_and_stale(tmp_path):
    root = str(tmp_path)
    os.mkdir(tmp_path / "alive")
    with net.Leases(root) as db:
        assert db.data == _data()
        _take(db.data, "alive", Request())
        _take(db.data, "gone", Request())
        db.save()
    with net.Leases(root) as db:
        assert set(db.leases) == {"alive", "gone"}
        assert net.stale_ids(db.data, root) == ["gone"]
    assert sorted(os.listdir(tmp_path / "@network")) == ["leases.json", "lock"]


def test_corrupt_lease_file(tmp_path):
    (tmp_path / "@network").mkdir()
    (tmp_path / "@network" / "leases.json").write_text("{nope")
    with pytest.raises(PyrunError, match=r"leases\.json: corrupt"), net.Leases(str(tmp_path)):
        pass


def _allocate_one(args):
    root, cid = args
    with net.Leases(root) as db:
        address = _take(db.data, cid, Request())
        db.save()
    return address


def test_20_parallel_allocations_are_distinct(tmp_path):
    ids = [(str(tmp_path), f"c{i}") for i in range(20)]
    with multiprocessing.get_context("fork").Pool(20) as pool:
        addresses = pool.map(_allocate_one, ids)
    assert len(set(addresses)) == 20
    with net.Leases(str(tmp_path)) as db:
        assert sorted(db.leases) == sorted(cid for _, cid in ids)
        assert {v["address"] for v in db.leases.values()} == set(addresses)


# --- /etc files

def test_resolv_conf_drops_loopback_nameservers():
    host = ("# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.53\n"
            "nameserver ::1\noptions edns0 trust-ad\n")
    assert net.resolv_content(host) == ("# generated\nsearch example.org\n"
                                        "nameserver 192.0.2.53\noptions edns0 trust-ad\n")


def test_resolv_conf_systemd_resolved_stub_uses_upstream_list():
    stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
    upstream = "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch lan\n"
    assert net.resolv_content(stub, upstream) == upstream


def test_resolv_conf_falls_back_to_docker_defaults():
    assert net.resolv_content("nameserver 127.0.0.1\nsearch lan\n") == (
        "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    assert net.resolv_content("") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_write_etc_files(tmp_path):
    resolv = tmp_path / "resolv.host"
    resolv.write_text("nameserver 192.0.2.53\n")
    files = net.write_etc_files(str(tmp_path), "web", "10.73.0.5", resolv_conf=str(resolv),
                                resolved_conf=str(tmp_path / "absent"))
    assert files == {f"/etc/{n}": str(tmp_path / n) for n in ("hosts", "hostname", "resolv.conf")}
    assert (tmp_path / "hostname").read_text() == "web\n"
    assert "10.73.0.5\tweb\n" in (tmp_path / "hosts").read_text()
    assert (tmp_path / "hosts").read_text().startswith("127.0.0.1\tlocalhost\n")
    assert (tmp_path / "resolv.conf").read_text() == "nameserver 192.0.2.53\n"
    assert oct((tmp_path / "hosts").stat().st_mode & 0o777) == "0o644"


# --- the nftables scripts

def test_ports_script():
    s = nftables.ports_script("abc", "10.73.0.5", [("tcp", "", 8080, 80),
                                                   ("udp", "192.0.2.1", 53, 5353)], "pyrun web")
    assert s.splitlines() == [
        "add table ip pyrun",
        "add chain ip pyrun ctr-abc-pre { type nat hook prerouting priority -100; "
        "policy accept; }",
        "flush chain ip pyrun ctr-abc-pre",
        'add rule ip pyrun ctr-abc-pre fib daddr type local tcp dport 8080 '
        'dnat to 10.73.0.5:80 comment "pyrun web"',
        'add rule ip pyrun ctr-abc-pre ip daddr 192.0.2.1 udp dport 53 '
        'dnat to 10.73.0.5:5353 comment "pyrun web"',
        "add chain ip pyrun ctr-abc-out { type nat hook output priority -100; policy accept; }",
        "flush chain ip pyrun ctr-abc-out",
        'add rule ip pyrun ctr-abc-out fib daddr type local tcp dport 8080 '
        'dnat to 10.73.0.5:80 comment "pyrun web"',
        'add rule ip pyrun ctr-abc-out ip daddr 192.0.2.1 udp dport 53 '
        'dnat to 10.73.0.5:5353 comment "pyrun web"',
    ]


def test_remove_script_is_add_flush_delete():
    assert nftables.remove_ports_script("abc").splitlines()[1:4] == [
        "add chain ip pyrun ctr-abc-pre { type nat hook prerouting priority -100; "
        "policy accept; }",
        "flush chain ip pyrun ctr-abc-pre",
        "delete chain ip pyrun ctr-abc-pre",
    ]


def test_bridge_script():
    s = nftables.bridge_script("pyrun0", "10.73.0.0/24")
    assert 'add rule ip pyrun br-pyrun0-post ip saddr 10.73.0.0/24 oifname != "pyrun0" ' \
           "masquerade" in s
    assert 'add rule ip pyrun br-pyrun0-guard iifname "pyrun0" ip daddr 127.0.0.0/8 drop' in s
    assert "127.0.0.0/8" not in nftables.bridge_script("pyrun0", "10.73.0.0/24",
                                                       localhost=False)


@pytest.mark.parametrize("call, message", [
    (lambda: nftables.ports_script("a b", "10.0.0.1", []),
     'container key "a b": use letters, digits, _ - and . (nftables names)'),
    (lambda: nftables.ports_script("a", "10.0.0.1; flush ruleset", []),
     'container address "10.0.0.1; flush ruleset": expected an IPv4 address'),
    (lambda: nftables.ports_script("a", "10.0.0.1", [("tcp", "x", 1, 1)]),
     'host address "x": expected an IPv4 address'),
    (lambda: nftables.ports_script("a", "10.0.0.1", [("icmp", "", 1, 1)]),
     "published port 1/icmp: protocol is not tcp or udp"),
    (lambda: nftables.bridge_script("br0", "10.0.0.0"),
     'subnet "10.0.0.0": expected an IPv4 ADDRESS/PREFIX'),
])
def test_nft_script_input_is_checked(call, message):
    with pytest.raises(nftables.NftError) as e:
        call()
    assert str(e.value) == message


def test_comment_cannot_break_out():
    s = nftables.ports_script("a", "10.0.0.1", [("tcp", "", 1, 1)], 'x" ; flush ruleset ; "')
    assert 'comment "x_ ; flush ruleset ; _"' in s


def test_missing_nft_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nftables, "_nft_path", None)
    monkeypatch.setattr(nftables, "_NFT_PLACES", ())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(nftables.NftError) as e:
        nftables.run("list ruleset")
    assert str(e.value) == "nft: program not found: install nftables (apt-get install nftables)"


def test_nft_dies_with_its_caller(tmp_path, monkeypatch):
    """A pyrun killed mid-setup must not leave an nft that commits rules after the cleanup."""
    fake = tmp_path / "nft"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(nftables, "_nft_path", str(fake))
    pid_file = tmp_path / "pid"
    child = os.fork()
    if child == 0:
        try:
            pending = nftables.start("add table ip pyrun\n")
            pid_file.write_text(str(pending._p.pid))
        finally:
            os.kill(os.getpid(), 9)
    os.waitpid(child, 0)
    nft_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{nft_pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    break
        except (FileNotFoundError, ProcessLookupError):  # reaped before or during the read
            break
        time.sleep(0.01)
    else:
        os.kill(nft_pid, 9)
        pytest.fail("nft outlived the process that started it")


# --- how pyrun create asks (pyrun.runtime.create.network_request)

def _config(tmp_path, annotations=None, namespaces=("pid", "network", "mount", "uts")):
    from pyrun.config import default_spec
    from pyrun.config.parse import parse

    doc = default_spec()
    doc["linux"]["namespaces"] = [{"type": t} for t in namespaces]
    if annotations:
        doc["annotations"] = annotations
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return parse(doc, str(tmp_path))


def test_no_flag_and_no_annotation_is_no_network(tmp_path):
    from pyrun.runtime.create import CreateOptions, network_request

    cfg = _config(tmp_path, annotations={"org.opencontainers.x": "y"})
    assert network_request(cfg, CreateOptions()) is None


def test_flags_and_annotations_make_a_request(tmp_path):
    from pyrun.runtime.create import CreateOptions, network_request

    req = network_request(_config(tmp_path), CreateOptions(publish=["8080:80"]))
    assert req.ports == [Port("tcp", "", 8080, 80)] and req.bridge == "pyrun0"
    req = network_request(_config(tmp_path, {"org.pyrun.ip": "10.73.0.9"}), CreateOptions())
    assert req.ip == "10.73.0.9"
    assert network_request(_config(tmp_path, {"org.pyrun.network": "bridge"}),
                           CreateOptions(network="none")) is None


def test_a_request_without_a_network_namespace_is_refused_before_anything(tmp_path):
    from pyrun.runtime.create import CreateOptions, network_request

    cfg = _config(tmp_path, namespaces=("pid", "mount", "uts"))
    with pytest.raises(PyrunError, match="no network namespace of its own"):
        network_request(cfg, CreateOptions(network="bridge"))


def test_run_without_networking_never_imports_it():
    """The hot path: a `pyrun run` that asks for no network loads none of its modules."""
    import subprocess
    import sys

    code = ("import sys, pyrun.cli, pyrun.runtime.create, pyrun.runtime.delete; "
            "print(sorted(m for m in sys.modules if 'network' in m or 'netlink' in m "
            "or 'nftables' in m or 'pyroute2' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['pyrun.linux.network']"  # loopback_up: one ioctl


def test_create_and_run_take_the_network_flags():
    from pyrun.cli import CREATE_FLAGS, parse_flags

    opts, rest = parse_flags(["--network", "bridge", "--publish", "80:80", "--publish=53:53/udp",
                              "--ip", "10.73.0.5", "c1"], CREATE_FLAGS, interspersed=True)
    assert opts == {"network": "bridge", "publish": ["80:80", "53:53/udp"],
                    "ip": "10.73.0.5"} and rest == ["c1"]
