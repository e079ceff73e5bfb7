"""Bridges, veth pairs, addresses and routes over rtnetlink (pyroute2).

The `ip` commands each function stands for:

    ensure_bridge       ip link add NAME type bridge; ip addr add CIDR dev NAME; ip link set NAME up
    create_veth_into    ip link add HOST type veth peer name eth0 netns NS
                        ip link set HOST master BRIDGE up
                        (in NS) ip addr add CIDR dev eth0; ip link set eth0 up; ip link set lo up;
                                ip route add default via GATEWAY
    delete_link         ip link del NAME
    bridge_has_ports    ip link show master NAME
    delete_bridge       ip link del NAME (a bridge)
    enable_ip_forward   sysctl net.ipv4.ip_forward=1

pyroute2 costs ~120 ms to import, so this module is imported only when a container asks for
networking; `pyrun.linux.network.loopback_up` (one ioctl) is the hot-path part.

Everything here acts on the network namespace of the calling thread, except the container's
side of `create_veth_into`, which is configured through a netlink socket opened inside the
container's namespace (see `_socket_in`). Failures raise `NetworkError(what, reason)`: one line
naming the interface or address.
"""

import errno
import os
import socket
import threading

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from pyrun.errors import PyrunError
from pyrun.linux import syscalls

IFNAMSIZ = 16  # including the terminating NUL: names are at most 15 bytes
IFF_UP = 0x1


class NetworkError(PyrunError):
    """A network operation failed: `what` names the interface or address, `reason` why."""


def _reason(e: BaseException) -> str:
    if isinstance(e, NetlinkError):
        return os.strerror(e.code) if e.code else str(e)
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    return str(e) or type(e).__name__


def _code(e: BaseException) -> int:
    return getattr(e, "code", None) or getattr(e, "errno", None) or 0


def check_ifname(name: str) -> str:
    """Interface names: 1-15 bytes, no '/', ':' or whitespace (dev_valid_name in the kernel)."""
    if not name or len(name.encode()) >= IFNAMSIZ or name in (".", "..") or any(
            c in name for c in "/: \t\n"):
        raise NetworkError(f'interface name "{name}"', "invalid (1-15 characters, no / or :)")
    return name


def _split_cidr(what: str, cidr: str) -> tuple[str, int]:
    address, _, prefix = cidr.partition("/")
    try:
        socket.inet_pton(socket.AF_INET, address)
        prefixlen = int(prefix)
        if not 0 < prefixlen <= 32:
            raise ValueError
    except (OSError, ValueError):
        raise NetworkError(f"{what} address {cidr}", "expected an IPv4 ADDRESS/PREFIX") from None
    return address, prefixlen


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _kind(link) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info is not None else None


def _link_up(ipr: IPRoute, index: int) -> None:
    ipr.link("set", index=index, state="up")


# --- the calling thread's namespace ("the host")

def ensure_bridge(name: str, address_cidr: str) -> bool:
    """Make bridge `name` with `address_cidr` (the gateway, e.g. 10.73.0.1/24) and bring it up.

    Idempotent and safe against a concurrent caller doing the same: "exists" is success at
    every step. An existing link of another kind under that name is an error. Returns True
    when this call created the bridge.
    """
    check_ifname(name)
    address, prefixlen = _split_cidr(f"bridge {name}", address_cidr)
    created = False
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=name, kind="bridge")
            created = True
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise NetworkError(f"bridge {name}", _reason(e)) from None
        links = ipr.get_links(ifname=name)
        if not links:  # removed between our add and this look-up
            raise NetworkError(f"bridge {name}", "vanished while being set up")
        if _kind(links[0]) != "bridge":
            raise NetworkError(f"bridge {name}",
                               f"a {_kind(links[0]) or 'non-bridge'} link has that name")
        index = links[0]["index"]
        try:
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise NetworkError(f"bridge {name} address {address_cidr}", _reason(e)) from None
        try:
            _link_up(ipr, index)
        except NetlinkError as e:
            raise NetworkError(f"bridge {name}", f"cannot bring up: {_reason(e)}") from None
    return created


def delete_link(name: str) -> bool:
    """`ip link del NAME`; a missing link is fine. Deleting one end of a veth pair deletes
    both. Returns True when something was deleted."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return False
        try:
            ipr.link("del", index=index)
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise NetworkError(f"interface {name}", f"cannot delete: {_reason(e)}") from None
    return True


def bridge_ports(name: str) -> list[str]:
    """The names of the interfaces enslaved to bridge `name` ([] when it does not exist)."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return []
        return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                if link.get_attr("IFLA_MASTER") == index]


def bridge_has_ports(name: str) -> bool:
    return bool(bridge_ports(name))


def delete_bridge(name: str) -> bool:
    """Delete bridge `name` (missing is fine; a link of another kind is refused)."""
    with IPRoute() as ipr:
        links = ipr.get_links(ifname=name)
        if not links:
            return False
        if _kind(links[0]) != "bridge":
            raise NetworkError(f"bridge {name}", "is not a bridge: not deleting it")
        try:
            ipr.link("del", index=links[0]["index"])
        except NetlinkError as e:
            if e.code == errno.ENODEV:
                return False
            raise NetworkError(f"bridge {name}", f"cannot delete: {_reason(e)}") from None
    return True


def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return _index(ipr, name) is not None


def ipv4_networks(exclude: str | None = None) -> list[tuple[str, str, int]]:
    """(interface, address, prefixlen) of every IPv4 address in this namespace, except those
    on `exclude`: for checking that a bridge subnet does not overlap a network in use."""
    with IPRoute() as ipr:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        out = []
        for a in ipr.get_addr(family=socket.AF_INET):
            name = names.get(a["index"], str(a["index"]))
            if name != exclude:
                out.append((name, a.get_attr("IFA_ADDRESS"), a["prefixlen"]))
        return out


def _write_sysctl(path: str, value: str, what: str) -> None:
    try:
        with open(path, "r+") as f:
            if f.read().strip() != value:
                f.seek(0)
                f.write(value)
    except OSError as e:
        raise NetworkError(what, _reason(e)) from None


def enable_ip_forward() -> None:
    """net.ipv4.ip_forward=1 in the calling thread's namespace (/proc/sys/net is per netns)."""
    _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", "sysctl net.ipv4.ip_forward")


def set_route_localnet(name: str, on: bool = True) -> None:
    """net.ipv4.conf.NAME.route_localnet: let packets to or from 127.0.0.0/8 be routed through
    NAME, which DNAT of 127.0.0.1 to a container on the bridge needs. Only this interface."""
    check_ifname(name)
    _write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1" if on else "0",
                  f"sysctl net.ipv4.conf.{name}.route_localnet")


# --- the container's namespace

def _open_netns(netns: int | str) -> tuple[int, bool]:
    """An fd for the namespace: an int is an fd already open (kept), a str a path such as
    /proc/PID/ns/net (opened here, closed by the caller)."""
    if isinstance(netns, int):
        return netns, False
    try:
        return os.open(netns, os.O_RDONLY | os.O_CLOEXEC), True
    except OSError as e:
        raise NetworkError(f"network namespace {netns}", _reason(e)) from None


def _socket_in(ns_fd: int) -> socket.socket:
    """A netlink socket that belongs to the namespace `ns_fd`.

    A socket keeps the namespace it was created in, and setns(CLONE_NEWNET) changes only the
    calling thread: so a short-lived thread joins the namespace, opens the socket and ends.
    This thread never leaves its own namespace (pyroute2's `netns=` forks a process instead).
    """
    result: list = []

    def make() -> None:
        try:
            syscalls.setns(ns_fd, syscalls.CLONE_NEWNET)
            result.append(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                        socket.NETLINK_ROUTE))
        except OSError as e:
            result.append(e)

    t = threading.Thread(target=make, name="pyrun-netns")
    t.start()
    t.join()
    if isinstance(result[0], OSError):
        raise NetworkError("network namespace", f"cannot enter: {_reason(result[0])}")
    return result[0]


def create_veth_into(host_name: str, netns: int | str, container_name: str = "eth0", *,
                     bridge: str, address_cidr: str, gateway: str | None,
                     mtu: int | None = None) -> None:
    """A veth pair: `host_name` on `bridge` and up; its peer created directly inside `netns`
    (an open fd, or a path such as /proc/PID/ns/net) as `container_name`, with `address_cidr`,
    up, lo up, and a default route via `gateway` (None: no default route).

    Creating the peer inside the target namespace (IFLA_NET_NS_FD on the peer) is the same as
    creating it here, moving it and renaming it, without a moment when a temporary name can
    clash with the host's interfaces. On failure the pair is removed again.
    """
    check_ifname(host_name)
    check_ifname(container_name)
    address, prefixlen = _split_cidr(f"{container_name} in the container", address_cidr)
    if gateway is not None:
        _split_cidr("gateway", gateway + "/32")
    ns_fd, opened = _open_netns(netns)
    try:
        with IPRoute() as ipr:
            br_index = _index(ipr, bridge)
            if br_index is None:
                raise NetworkError(f"bridge {bridge}", "does not exist")
            peer: dict = {"ifname": container_name, "net_ns_fd": ns_fd}
            extra: dict = {}
            if mtu:
                peer["mtu"] = extra["mtu"] = mtu
            try:
                ipr.link("add", ifname=host_name, kind="veth", peer=peer, **extra)
            except NetlinkError as e:
                what = f"veth {host_name}"
                if e.code == errno.EEXIST:
                    # the host name is taken here, or the peer's name in the container
                    what = f"veth {host_name} (peer {container_name} in the container)"
                raise NetworkError(what, _reason(e)) from None
            try:
                index = _index(ipr, host_name)
                if index is None:
                    raise NetworkError(f"veth {host_name}", "vanished after being created")
                ipr.link("set", index=index, master=br_index)
                _link_up(ipr, index)
                _configure_inside(ns_fd, container_name, address, prefixlen, gateway)
            except BaseException:
                try:
                    ipr.link("del", index=_index(ipr, host_name) or 0)
                except Exception:
                    pass
                raise
    except NetlinkError as e:
        raise NetworkError(f"veth {host_name}", _reason(e)) from None
    finally:
        if opened:
            os.close(ns_fd)


def _configure_inside(ns_fd: int, name: str, address: str, prefixlen: int,
                      gateway: str | None) -> None:
    with IPRoute(fileno=_socket_in(ns_fd).detach()) as ipr:
        index = _index(ipr, name)
        if index is None:
            raise NetworkError(f"{name} in the container", "not found after creating it")
        step = f"{name} address {address}/{prefixlen}"
        try:
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
            step = f"{name} in the container"
            _link_up(ipr, index)
            step = "lo in the container"
            lo = _index(ipr, "lo")
            if lo is not None:
                _link_up(ipr, lo)
            if gateway is not None:
                step = f"default route via {gateway} in the container"
                ipr.route("add", dst="default", gateway=gateway, oif=index)
        except NetlinkError as e:
            raise NetworkError(step, _reason(e)) from None


def container_links(netns: int | str) -> list[str]:
    """The interface names inside a namespace (for checks and tests)."""
    ns_fd, opened = _open_netns(netns)
    try:
        with IPRoute(fileno=_socket_in(ns_fd).detach()) as ipr:
            return [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    finally:
        if opened:
            os.close(ns_fd)
