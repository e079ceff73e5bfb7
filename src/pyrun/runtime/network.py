"""Bridge networking for a container: what `--network bridge`, `--publish` and `--ip` do.

Asking for it (flags win over annotations, setting by setting):

    --network bridge | none                 org.pyrun.network: "bridge" | "none"
    --publish [IP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]   (repeatable)
                                            org.pyrun.publish: the same specs, separated by
                                                commas or spaces: "8080:80, 127.0.0.1:53:53/udp"
    --ip ADDRESS                            org.pyrun.ip: "10.73.0.20"

--publish or --ip alone imply --network bridge (`none` with either is an error). Off unless
asked. The bridge and its subnet are the host's business, not a container's: they come from
the environment (PYRUN_BRIDGE, PYRUN_SUBNET) or the caller's `bridge=`/`subnet=` (for flags),
never from config.json.

Defaults: bridge `pyrun0`, subnet 10.73.0.0/24, gateway (the bridge's address) 10.73.0.1.
The subnet keeps clear of the ranges other tools pick by default: Docker (172.17-31.0.0/16,
192.168.0.0/16), podman (10.88.0.0/16, and 10.89.0.0/16 for new networks), Kubernetes
(10.96.0.0/12 services, 10.244.0.0/16 flannel, 10.42-43 k3s, 10.1.0.0/16 microk8s, calico's
192.168.0.0/16), cloud VPC defaults (AWS 172.31.0.0/16, GCP 10.128.0.0/9, Azure 10.0.0.0/16),
libvirt (192.168.122.0/24) and slirp/VirtualBox (10.0.2.0/24). A /24 (253 containers) keeps
the footprint small; and before making the bridge, setup refuses a subnet that overlaps an
address already on the host, so a clash is an error naming PYRUN_SUBNET, not broken routing.

State: `<root>/network/leases.json`, under an flock on `<root>/network/lock`, rewritten
atomically. A lease is the container's whole network record, written before anything is
made, so `teardown` knows what to remove even after a kill -9 in the middle of `setup`:

    {"version": 1,
     "last": {"pyrun0": "10.73.0.7"},                     round-robin: the last address given
     "leases": {"<container id>": RECORD, ...}}

    RECORD = {"version": 1, "bridge": "pyrun0", "subnet": "10.73.0.0/24",
              "gateway": "10.73.0.1", "address": "10.73.0.5", "prefixlen": 24,
              "veth": "pyr1a2b3c4d5e6f", "ifname": "eth0", "mtu": null,
              "ports": [{"proto": "tcp", "host_ip": "", "host_port": 8080,
                         "container_port": 80}],
              "key": "1a2b3c4d5e6f",        nftables chains ctr-KEY-pre / ctr-KEY-out
              "files": {"/etc/hosts": PATH, "/etc/hostname": PATH, "/etc/resolv.conf": PATH}}

The key (and with it the veth name) is a hash of the state root and the id: two roots can hold
the same id without their interfaces clashing, and `teardown` can recompute it from nothing.
A lease whose container has no state directory any more is reclaimed (its veth and chains are
removed too) by the next `setup`. One bridge belongs to one state root.
"""

import os

from pyrun.errors import PyrunError

DEFAULT_BRIDGE = "pyrun0"
DEFAULT_SUBNET = "10.73.0.0/24"
ENV_BRIDGE = "PYRUN_BRIDGE"
ENV_SUBNET = "PYRUN_SUBNET"
ANNOTATION_NETWORK = "org.pyrun.network"
ANNOTATION_PUBLISH = "org.pyrun.publish"
ANNOTATION_IP = "org.pyrun.ip"
NETWORK_DIR = "network"
LEASES_FILE = "leases.json"
LOCK_FILE = "lock"
CONTAINER_IFNAME = "eth0"
VETH_PREFIX = "pyr"
# Docker's fallback when the host has no nameserver a container can reach.
DEFAULT_DNS = ("8.8.8.8", "8.8.4.4")
RECORD_VERSION = 1
PUBLISH_SYNTAX = "[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]"


# --- addresses, without the ipaddress module (3 ms) on the parsing path

def _ip_to_int(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for p in parts:
        if not p.isdigit() or not p.isascii() or len(p) > 3 or int(p) > 255 or (
                len(p) > 1 and p[0] == "0"):
            return None
        value = value << 8 | int(p)
    return value


def _int_to_ip(value: int) -> str:
    return ".".join(str(value >> s & 255) for s in (24, 16, 8, 0))


class Subnet:
    """An IPv4 network: its first address is the gateway, the last the broadcast."""

    __slots__ = ("network", "prefixlen", "size")

    def __init__(self, cidr: str, what: str = ENV_SUBNET):
        address, slash, length = cidr.partition("/")
        base = _ip_to_int(address)
        if base is None or not slash or not length.isdigit() or not 8 <= int(length) <= 30:
            raise PyrunError(f"{what} {cidr}", "expected an IPv4 network such as "
                             f"{DEFAULT_SUBNET} (prefix /8 to /30)")
        self.prefixlen = int(length)
        self.size = 1 << (32 - self.prefixlen)
        if base & (self.size - 1):
            raise PyrunError(f"{what} {cidr}", "host bits set: "
                             f"did you mean {_int_to_ip(base & ~(self.size - 1))}/{length}?")
        self.network = base

    def __str__(self) -> str:
        return f"{_int_to_ip(self.network)}/{self.prefixlen}"

    @property
    def gateway(self) -> str:
        return _int_to_ip(self.network + 1)

    def hosts(self) -> range:
        """Addresses a container may have: not the network, gateway or broadcast."""
        return range(self.network + 2, self.network + self.size - 1)

    def contains(self, address: int) -> bool:
        return self.network <= address < self.network + self.size

    def overlaps(self, address: str, prefixlen: int) -> bool:
        value = _ip_to_int(address)
        if value is None:
            return False
        size = 1 << (32 - prefixlen)
        start = value & ~(size - 1)
        return start < self.network + self.size and self.network < start + size


# --- the request

class Port:
    """One published port. host_ip "" is every local address of the host."""

    __slots__ = ("proto", "host_ip", "host_port", "container_port", "source")

    def __init__(self, proto: str, host_ip: str, host_port: int, container_port: int,
                 source: str = "--publish"):
        self.proto = proto
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_port = container_port
        self.source = source

    def spec(self) -> str:
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{self.host_port}:{self.container_port}/{self.proto}"

    def as_dict(self) -> dict:
        return {"proto": self.proto, "host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port}

    def clashes(self, other: dict) -> bool:
        """Same protocol and host port, on the same or an overlapping (any = "") address."""
        return (self.proto == other["proto"] and self.host_port == other["host_port"]
                and (not self.host_ip or not other["host_ip"]
                     or self.host_ip == other["host_ip"]))

    def __eq__(self, other) -> bool:
        return isinstance(other, Port) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Port({self.spec()!r})"


class Request:
    """What a container asked for. `ip_source` names where --ip came from, for errors."""

    __slots__ = ("bridge", "subnet", "ip", "ip_source", "ports", "mtu")

    def __init__(self, bridge: str = DEFAULT_BRIDGE, subnet: str = DEFAULT_SUBNET,
                 ip: str | None = None, ports: list[Port] | None = None,
                 mtu: int | None = None, ip_source: str = "--ip"):
        self.bridge = bridge
        self.subnet = subnet
        self.ip = ip
        self.ip_source = ip_source
        self.ports = ports or []
        self.mtu = mtu


def parse_publish(spec: str, source: str = "--publish") -> Port:
    """`[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` -> Port; a one-line error naming `source`."""
    def bad(reason: str) -> PyrunError:
        return PyrunError(f"{source} {spec}", reason)

    text = spec.strip()
    body, slash, proto = text.partition("/")
    if slash:
        if proto not in ("tcp", "udp"):
            raise bad('protocol must be "tcp" or "udp"')
    else:
        proto = "tcp"
    if body.startswith("["):
        raise bad("IPv6 host addresses are not supported")
    parts = body.split(":")
    if len(parts) == 3:
        host_ip, host_port, container_port = parts
        if _ip_to_int(host_ip) is None:
            raise bad(f'"{host_ip}" is not an IPv4 address')
        if host_ip == "0.0.0.0":
            host_ip = ""
    elif len(parts) == 2:
        host_ip = ""
        host_port, container_port = parts
    else:
        raise bad(f"expected {PUBLISH_SYNTAX}")
    ports = []
    for what, value in (("host port", host_port), ("container port", container_port)):
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
            if "-" in value:
                raise bad("port ranges are not supported")
            raise bad(f'{what} "{value}" is not a number from 1 to 65535')
        ports.append(int(value))
    return Port(proto, host_ip, ports[0], ports[1], source)


def parse_ip(value: str, source: str = "--ip") -> str:
    if _ip_to_int(value.strip()) is None:
        raise PyrunError(f"{source} {value}", "expected an IPv4 address")
    return value.strip()


def parse_mode(value: str, source: str = "--network") -> bool:
    """True for bridge, False for none."""
    mode = value.strip()
    if mode not in ("bridge", "none"):
        raise PyrunError(f"{source} {value}", 'expected "bridge" or "none"')
    return mode == "bridge"


def _split_list(value: str) -> list[str]:
    return [item for item in value.replace(",", " ").split() if item]


def parse_request(network: str | None = None, publish=(), ip: str | None = None,
                  annotations: dict | None = None, environ=None, bridge: str | None = None,
                  subnet: str | None = None, mtu: int | None = None) -> Request | None:
    """The container's network request from flags and annotations, or None (off).

    Flags win over annotations, setting by setting; bridge and subnet come from `bridge=` /
    `subnet=`, else PYRUN_BRIDGE / PYRUN_SUBNET, else the defaults.
    """
    annotations = annotations or {}
    environ = os.environ if environ is None else environ
    if network is not None:
        mode = parse_mode(network)
        mode_source = f"--network {network}"
    elif ANNOTATION_NETWORK in annotations:
        mode = parse_mode(annotations[ANNOTATION_NETWORK], f"annotation {ANNOTATION_NETWORK}")
        mode_source = f"annotation {ANNOTATION_NETWORK}={annotations[ANNOTATION_NETWORK]}"
    else:
        mode = None
        mode_source = ""

    publish = list(publish or ())
    if publish:
        ports = [parse_publish(p) for p in publish]
    elif ANNOTATION_PUBLISH in annotations:
        source = f"annotation {ANNOTATION_PUBLISH}"
        ports = [parse_publish(p, source) for p in _split_list(annotations[ANNOTATION_PUBLISH])]
    else:
        ports = []

    if ip is not None:
        address, ip_source = parse_ip(ip), "--ip"
    elif ANNOTATION_IP in annotations:
        ip_source = f"annotation {ANNOTATION_IP}"
        address = parse_ip(annotations[ANNOTATION_IP], ip_source)
    else:
        address, ip_source = None, "--ip"

    if mode is False:
        if ports:
            raise PyrunError(ports[0].source, f"needs a network, but {mode_source}")
        if address is not None:
            raise PyrunError(ip_source, f"needs a network, but {mode_source}")
        return None
    if mode is None and not ports and address is None:
        return None

    for i, p in enumerate(ports):
        for q in ports[:i]:
            if p.clashes(q.as_dict()):
                raise PyrunError(f"{p.source} {p.spec()}", f"host port already given by {q.spec()}")

    bridge_name = bridge or environ.get(ENV_BRIDGE) or DEFAULT_BRIDGE
    _check_bridge_name(bridge_name)
    net = Subnet(subnet or environ.get(ENV_SUBNET) or DEFAULT_SUBNET,
                 "--subnet" if subnet else ENV_SUBNET)
    if address is not None:
        _check_in_subnet(address, net, ip_source)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise PyrunError(f"--mtu {mtu}", "expected 68 to 65535")
    return Request(bridge_name, str(net), address, ports, mtu, ip_source)


def _check_bridge_name(name: str) -> None:
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    # br-NAME-guard must fit nftables' names, NAME an interface (15 bytes)
    if not name or len(name) > 15 or not set(name) <= ok or name in (".", ".."):
        raise PyrunError(f"bridge name {name}", "use 1-15 letters, digits, _ - and .")


def _check_in_subnet(address: str, net: Subnet, source: str) -> None:
    value = _ip_to_int(address)
    if value is None or not net.contains(value):
        raise PyrunError(f"{source} {address}", f"outside the bridge's subnet {net}")
    if value not in net.hosts():
        raise PyrunError(f"{source} {address}", f"is the network, gateway or broadcast "
                         f"address of {net}")


def check_namespaces(request: Request | None, has_own_netns: bool,
                     netns_path: str | None) -> None:
    """Networking needs a new network namespace of the container's own; a `path` means the
    caller (an engine) owns the network and pyrun must not touch it."""
    if request is None:
        return
    if netns_path:
        raise PyrunError("--network bridge", f"the container joins the network namespace "
                         f"{netns_path}: its network is not pyrun's to set up")
    if not has_own_netns:
        raise PyrunError("--network bridge", "the container has no network namespace of its "
                         'own (add {"type": "network"} to linux.namespaces)')


# --- names

def key_of(state_root: str, container_id: str) -> str:
    import hashlib

    raw = f"{os.path.abspath(state_root)}\0{container_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def veth_of(key: str) -> str:
    return VETH_PREFIX + key  # 3 + 12 = 15 bytes, IFNAMSIZ - 1


# --- the lease file

class Leases:
    """`<root>/network/leases.json` held under its flock: `with Leases(root) as db:`."""

    def __init__(self, state_root: str):
        self.dir = os.path.join(state_root, NETWORK_DIR)
        self.path = os.path.join(self.dir, LEASES_FILE)
        self.data: dict = {}
        self._fd = -1

    def __enter__(self) -> "Leases":
        import fcntl

        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._fd = os.open(os.path.join(self.dir, LOCK_FILE),
                           os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.data = self.read()
        return self

    def __exit__(self, *exc) -> None:
        os.close(self._fd)
        self._fd = -1

    def read(self) -> dict:
        from pyrun import fastjson

        try:
            with open(self.path, "rb") as f:
                data = fastjson.loads(f.read())
        except FileNotFoundError:
            data = {}
        except ValueError as e:
            raise PyrunError(self.path, f"corrupt: {e}") from None
        data.setdefault("version", 1)
        data.setdefault("last", {})
        data.setdefault("leases", {})
        return data

    def save(self) -> None:
        """Write atomically: a crash leaves the old file or the new one."""
        from pyrun import fastjson

        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, fastjson.dumps(self.data).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, self.path)

    @property
    def leases(self) -> dict:
        return self.data["leases"]


def stale_ids(data: dict, state_root: str) -> list[str]:
    """Leases whose container's state directory is gone."""
    return [cid for cid in data["leases"]
            if not os.path.isdir(os.path.join(state_root, cid))]


def check_ports(data: dict, container_id: str, ports: list[Port]) -> None:
    """A host port already published by another container is an error naming the flag."""
    for other_id, lease in data["leases"].items():
        if other_id == container_id:
            continue
        for p in ports:
            for q in lease.get("ports", ()):
                if p.clashes(q):
                    raise PyrunError(f"{p.source} {p.spec()}",
                                     f"host port {q['host_port']}/{q['proto']} is already "
                                     f"published by container {other_id}")


def allocate(data: dict, container_id: str, request: Request) -> str:
    """An address for the container on request.bridge: request.ip if free, else the next free
    one after the last handed out (round robin, so a just-freed address is not reused at once:
    stale ARP entries elsewhere do not send its traffic to the wrong container). Records it
    as data["last"][bridge]; the caller stores the lease."""
    net = Subnet(request.subnet)
    taken: dict[int, str] = {}
    for other_id, lease in data["leases"].items():
        if lease.get("bridge") != request.bridge or other_id == container_id:
            continue
        if lease.get("subnet") != request.subnet:
            raise PyrunError(f"{ENV_SUBNET} {request.subnet}",
                             f"bridge {request.bridge} already has container {other_id} on "
                             f"{lease.get('subnet')}")
        value = _ip_to_int(lease.get("address", ""))
        if value is not None:
            taken[value] = other_id
    hosts = net.hosts()
    if request.ip is not None:
        value = _ip_to_int(request.ip)
        _check_in_subnet(request.ip, net, request.ip_source)
        if value in taken:
            raise PyrunError(f"{request.ip_source} {request.ip}",
                             f"already taken by container {taken[value]}")
        chosen = value
    else:
        last = _ip_to_int(data["last"].get(request.bridge, "")) or hosts.start - 1
        start = last + 1 if last + 1 in hosts else hosts.start
        chosen = None
        for i in range(len(hosts)):
            candidate = hosts.start + (start - hosts.start + i) % len(hosts)
            if candidate not in taken:
                chosen = candidate
                break
        if chosen is None:
            raise PyrunError(f"subnet {net}", f"no free address left on bridge {request.bridge}")
        data["last"][request.bridge] = _int_to_ip(chosen)
    return _int_to_ip(chosen)


def make_record(state_root: str, container_id: str, request: Request, address: str,
                etc_dir: str | None = None) -> dict:
    key = key_of(state_root, container_id)
    net = Subnet(request.subnet)
    record = {
        "version": RECORD_VERSION, "bridge": request.bridge, "subnet": request.subnet,
        "gateway": net.gateway, "address": address, "prefixlen": net.prefixlen,
        "veth": veth_of(key), "ifname": CONTAINER_IFNAME, "mtu": request.mtu,
        "ports": [p.as_dict() for p in request.ports], "key": key,
    }
    if etc_dir is not None:
        record["files"] = {f"/etc/{name}": os.path.join(etc_dir, name)
                           for name in ("hosts", "hostname", "resolv.conf")}
    return record


# --- /etc files

def hosts_content(hostname: str, address: str | None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    if address:
        lines.append(f"{address}\t{hostname}")
    return "\n".join(lines) + "\n"


def _is_loopback(address: str) -> bool:
    address = address.split("%", 1)[0]
    return address.startswith("127.") or address in ("::1", "0:0:0:0:0:0:0:1")


def _nameservers(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            out.append(words[1])
    return out


def resolv_content(host_text: str, fallback_text: str | None = None,
                   default_dns=DEFAULT_DNS) -> str:
    """The host's resolv.conf for a container, as Docker makes it: loopback nameservers
    (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot be reached from the container's
    namespace and are left out. When that leaves none, the upstream list systemd-resolved
    keeps (`fallback_text`, /run/systemd/resolve/resolv.conf) is used instead, and failing
    that `default_dns`. search/options lines are kept."""
    servers = _nameservers(host_text)
    if servers and all(_is_loopback(s) for s in servers) and fallback_text:
        host_text = fallback_text
    out, kept = [], 0
    for line in host_text.splitlines():
        words = line.split()
        if words and words[0] == "nameserver":
            if len(words) < 2 or _is_loopback(words[1]):
                continue
            kept += 1
        out.append(line)
    if not kept:
        out += [f"nameserver {s}" for s in default_dns]
    return "\n".join(out).strip("\n") + "\n"


def _write_file(path: str, text: str) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def write_etc_files(directory: str, hostname: str, address: str | None,
                    resolv_conf: str = "/etc/resolv.conf",
                    resolved_conf: str = "/run/systemd/resolve/resolv.conf") -> dict:
    """Write hosts, hostname and resolv.conf into `directory` (for the caller to bind-mount
    over the container's /etc/...); returns {"/etc/hosts": path, ...}."""
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    files = {
        "hosts": hosts_content(hostname, address),
        "hostname": hostname + "\n",
        "resolv.conf": resolv_content(read(resolv_conf), read(resolved_conf) or None),
    }
    out = {}
    for name, text in files.items():
        path = os.path.join(directory, name)
        try:
            _write_file(path, text)
        except OSError as e:
            raise PyrunError(path, e.strerror or str(e)) from None
        out[f"/etc/{name}"] = path
    return out


# --- setup and teardown

def setup(state_root: str, container_id: str, init_pid: int, request: Request, *,
          etc_dir: str | None = None, hostname: str | None = None, save=None) -> dict:
    """Connect the container whose init is `init_pid` to request.bridge; returns the record.

    Order: lease (the record, under the lock; the bridge is made there too, so a concurrent
    teardown cannot delete it in between), `save(record)` for the caller's state.json, then
    the nftables rules (in an nft process) while the veth pair is made, and the /etc files.
    On failure everything made is removed again (`teardown`) and a PyrunError is raised.
    """
    from pyrun.linux import netlink, nftables  # pyroute2: ~120 ms, outside the lock

    if not os.path.isdir(os.path.join(state_root, container_id)):
        # a lease without a state directory is taken for a leftover and reclaimed
        raise PyrunError(f"container {container_id}",
                         f"has no state directory in {state_root}: create it first")
    try:
        ns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise PyrunError(f"network namespace of pid {init_pid}", e.strerror or str(e)) from None
    try:
        record, first = _claim(state_root, container_id, request, etc_dir, netlink)
        try:
            if save is not None:
                save(record)
            _connect(record, first, ns_fd, container_id, netlink, nftables)
            if etc_dir is not None:
                record["files"] = write_etc_files(etc_dir, hostname or container_id[:12],
                                                  record["address"])
        except BaseException:
            try:
                teardown(state_root, container_id, record)
            except PyrunError:
                pass
            raise
    finally:
        os.close(ns_fd)
    return record


def _claim(state_root, container_id, request, etc_dir, netlink) -> tuple[dict, bool]:
    """Under the lock: reclaim stale leases, check, allocate, write the lease, make the bridge.
    Also says whether this is the bridge's only container (its chains are (re)written)."""
    from pyrun.linux import nftables

    with Leases(state_root) as db:
        for cid in stale_ids(db.data, state_root):
            _remove_made(db.leases[cid], netlink, nftables, errors=[])
            del db.leases[cid]
        if container_id in db.leases:
            raise PyrunError(f"container {container_id}", "already has a network lease")
        check_ports(db.data, container_id, request.ports)
        address = allocate(db.data, container_id, request)
        record = make_record(state_root, container_id, request, address, etc_dir)
        first = not any(v.get("bridge") == request.bridge for v in db.leases.values())
        if not netlink.link_exists(request.bridge):
            _check_overlap(request, netlink)
        db.leases[container_id] = record
        db.save()
        try:
            netlink.ensure_bridge(request.bridge, f"{record['gateway']}/{record['prefixlen']}")
        except netlink.NetworkError:
            del db.leases[container_id]
            db.save()
            raise
    return record, first


def _check_overlap(request: Request, netlink) -> None:
    net = Subnet(request.subnet)
    for ifname, address, prefixlen in netlink.ipv4_networks(exclude=request.bridge):
        if ifname != "lo" and net.overlaps(address, prefixlen):
            raise PyrunError(f"{ENV_SUBNET} {net}", f"overlaps {address}/{prefixlen} on "
                             f"{ifname}: choose another subnet")


def _connect(record: dict, first: bool, ns_fd: int, container_id: str, netlink,
             nftables) -> None:
    """Forwarding, nftables and the veth. The bridge's chains are rewritten by its first
    container, or when missing (a flushed ruleset): rewriting flushes rules, and removing rules
    costs the kernel an RCU grace period (~15 ms). The nft process runs while netlink works."""
    netlink.enable_ip_forward()
    netlink.set_route_localnet(record["bridge"])
    script = ""
    if first or not set(nftables.bridge_chains(record["bridge"])) <= set(nftables.chains()):
        script = nftables.bridge_script(record["bridge"], record["subnet"])
    if record["ports"]:
        ports = [(p["proto"], p["host_ip"], p["host_port"], p["container_port"])
                 for p in record["ports"]]
        script += nftables.ports_script(record["key"], record["address"], ports,
                                        f"pyrun {container_id}")
    pending = nftables.start(script, f"nftables rules for container {container_id}") \
        if script else None
    try:
        netlink.create_veth_into(record["veth"], ns_fd, record["ifname"],
                                 bridge=record["bridge"],
                                 address_cidr=f"{record['address']}/{record['prefixlen']}",
                                 gateway=record["gateway"], mtu=record.get("mtu"))
    except BaseException:
        if pending is not None:  # before the teardown: its removal must follow this commit
            try:
                pending.wait()
            except nftables.NftError:
                pass  # the veth's error is the one to report
        raise
    if pending is not None:
        pending.wait()


def _remove_made(record: dict, netlink, nftables, errors: list) -> None:
    """Remove the container's own things (chains, veth), each whether or not it exists; the
    nft process runs while the veth is deleted."""
    key = record.get("key")
    pending = None
    if key and record.get("ports") != []:  # [] says so; unknown (None) may have chains
        try:
            pending = nftables.start(nftables.remove_ports_script(key),
                                     f"published ports of {key}")
        except nftables.NftError as e:
            errors.append(e)
    veth = record.get("veth") or (veth_of(key) if key else None)
    if veth:
        try:
            netlink.delete_link(veth)
        except netlink.NetworkError as e:
            errors.append(e)
    if pending is not None:
        try:
            pending.wait()
        except nftables.NftError as e:
            errors.append(e)


def teardown(state_root: str, container_id: str, record: dict | None = None) -> None:
    """Remove what `setup` made for the container: its nftables chains, veth and lease; and
    the bridge (with its chains, and the table when nothing else is in it) once no container
    uses it. Works on a record of any age: a missing or half-filled record is completed from
    the lease and from the names derived from (state root, id). Safe to call again. Every
    step is tried; the first failure is raised at the end as a PyrunError."""
    from pyrun.linux import netlink, nftables

    record = dict(record or {})
    with Leases(state_root) as db:
        lease = db.leases.get(container_id) or {}
    for k, v in lease.items():
        record.setdefault(k, v)
    record.setdefault("key", key_of(state_root, container_id))
    errors: list = []
    _remove_made(record, netlink, nftables, errors)

    with Leases(state_root) as db:
        if container_id in db.leases:
            del db.leases[container_id]
            db.save()
        bridge = record.get("bridge")
        try:
            unused = bridge and not any(v.get("bridge") == bridge for v in db.leases.values())
            if unused and not netlink.bridge_has_ports(bridge):
                script = nftables.remove_bridge_script(bridge)
                if not db.leases:
                    script = nftables.remove_table_script()
                pending = nftables.start(script, f"nftables rules of bridge {bridge}")
                try:
                    netlink.delete_bridge(bridge)
                finally:
                    pending.wait()
            elif not db.leases:
                nftables.remove_table()
        except (netlink.NetworkError, nftables.NftError) as e:
            errors.append(e)
    if errors:
        raise errors[0]
