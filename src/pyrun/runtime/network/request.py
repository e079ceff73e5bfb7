"""What a container asks of the network: --network, --publish, --ip and their annotations,
parsed and checked before anything is made. Pure parsing: no pyroute2, no ipaddress."""

import os

from pyrun.errors import PyrunError

DEFAULT_BRIDGE = "pyrun0"
DEFAULT_SUBNET = "10.73.0.0/24"
ENV_BRIDGE = "PYRUN_BRIDGE"
ENV_SUBNET = "PYRUN_SUBNET"
ANNOTATION_NETWORK = "org.pyrun.network"
ANNOTATION_PUBLISH = "org.pyrun.publish"
ANNOTATION_IP = "org.pyrun.ip"
PUBLISH_SYNTAX = "[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]"


# --- addresses, without the ipaddress module (3 ms) on the parsing path

def ip_to_int(text: str) -> int | None:
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


def int_to_ip(value: int) -> str:
    return ".".join(str(value >> s & 255) for s in (24, 16, 8, 0))


class Subnet:
    """An IPv4 network: its first address is the gateway, the last the broadcast."""

    __slots__ = ("network", "prefixlen", "size")

    def __init__(self, cidr: str, what: str = ENV_SUBNET):
        address, slash, length = cidr.partition("/")
        base = ip_to_int(address)
        if base is None or not slash or not length.isdigit() or not 8 <= int(length) <= 30:
            raise PyrunError(f"{what} {cidr}", "expected an IPv4 network such as "
                             f"{DEFAULT_SUBNET} (prefix /8 to /30)")
        self.prefixlen = int(length)
        self.size = 1 << (32 - self.prefixlen)
        if base & (self.size - 1):
            raise PyrunError(f"{what} {cidr}", "host bits set: "
                             f"did you mean {int_to_ip(base & ~(self.size - 1))}/{length}?")
        self.network = base

    def __str__(self) -> str:
        return f"{int_to_ip(self.network)}/{self.prefixlen}"

    @property
    def gateway(self) -> str:
        return int_to_ip(self.network + 1)

    def hosts(self) -> range:
        """Addresses a container may have: not the network, gateway or broadcast."""
        return range(self.network + 2, self.network + self.size - 1)

    def contains(self, address: int) -> bool:
        return self.network <= address < self.network + self.size

    def overlaps(self, address: str, prefixlen: int) -> bool:
        value = ip_to_int(address)
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
        raise bad("IPv6 host addresses: not supported yet")
    parts = body.split(":")
    if len(parts) == 3:
        host_ip, host_port, container_port = parts
        if ip_to_int(host_ip) is None:
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
                raise bad("port ranges: not supported yet")
            raise bad(f'{what} "{value}" is not a number from 1 to 65535')
        ports.append(int(value))
    return Port(proto, host_ip, ports[0], ports[1], source)


def parse_ip(value: str, source: str = "--ip") -> str:
    if ip_to_int(value.strip()) is None:
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
        check_in_subnet(address, net, ip_source)
    if mtu is not None and not 68 <= mtu <= 65535:
        raise PyrunError(f"--mtu {mtu}", "expected 68 to 65535")
    return Request(bridge_name, str(net), address, ports, mtu, ip_source)


def _check_bridge_name(name: str) -> None:
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    # br-NAME-guard must fit nftables' names, NAME an interface (15 bytes)
    if not name or len(name) > 15 or not set(name) <= ok or name in (".", ".."):
        raise PyrunError(f"bridge name {name}", "use 1-15 letters, digits, _ - and .")


def check_in_subnet(address: str, net: Subnet, source: str) -> None:
    value = ip_to_int(address)
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
