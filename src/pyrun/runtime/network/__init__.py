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

In `pyrun create` (pyrun.runtime.create): `claim` before the fork (the lease, the bridge, the
/etc files, which the init bind-mounts over the rootfs's like any config mount), `connect`
once the init's network namespace exists (the veth pair, the address and route inside, the
published ports). `pyrun delete` calls `teardown`; `pyrun network prune` reclaims the leases of
containers whose state directory is gone. The parts: request.py (parsing), leases.py (the
lease file, the allocator), etcfiles.py; the kernel side is pyrun.linux.netlink (pyroute2)
and pyrun.linux.nftables (the nft command).

State: `<root>/@network/leases.json`, under an flock on `<root>/@network/lock`, rewritten
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
from pyrun.runtime.network.etcfiles import resolv_content, write_etc_files
from pyrun.runtime.network.leases import (
    NETWORK_DIR,
    Leases,
    allocate,
    check_ports,
    key_of,
    make_record,
    stale_ids,
    veth_of,
)
from pyrun.runtime.network.request import (
    ENV_SUBNET,
    Port,
    Request,
    Subnet,
    check_namespaces,
    parse_request,
)

__all__ = ["NETWORK_DIR", "Leases", "Port", "Request", "Subnet", "allocate",
           "check_namespaces", "check_ports", "claim", "connect", "key_of", "make_record",
           "parse_request", "prune", "resolv_content", "setup", "stale_ids", "teardown",
           "veth_of", "write_etc_files"]


# --- setup and teardown

def kernel_side():
    """pyrun.linux.netlink and .nftables, imported when a container asks for a network:
    pyroute2 is an optional dependency (the `net` extra), its absence one clear line."""
    try:
        from pyrun.linux import netlink, nftables
    except ImportError as e:
        raise PyrunError("--network bridge", f"needs pyroute2 ({e}): pip install "
                         "'pyrun[net]', or run scripts/install.sh") from None
    return netlink, nftables


def setup(state_root: str, container_id: str, init_pid: int, request: Request, *,
          etc_dir: str | None = None, hostname: str | None = None, save=None) -> dict:
    """Connect the container whose init is `init_pid` to request.bridge; returns the record.
    `claim` then `connect`: what `pyrun create` does in two steps, around the fork."""
    try:
        ns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise PyrunError(f"network namespace of pid {init_pid}", e.strerror or str(e)) from None
    try:
        record, first = claim(state_root, container_id, request, etc_dir=etc_dir,
                              hostname=hostname, save=save)
        try:
            connect(record, first, ns_fd, container_id)
        except BaseException:
            try:
                teardown(state_root, container_id, record)
            except PyrunError:
                pass
            raise
    finally:
        os.close(ns_fd)
    return record


def claim(state_root: str, container_id: str, request: Request, *,
          etc_dir: str | None = None, hostname: str | None = None,
          save=None) -> tuple[dict, bool]:
    """Everything that needs no container process yet: the lease (the record, under the
    lock; the bridge is made there too, so a concurrent teardown cannot delete it in
    between), `save(record)` for the caller's state.json, and the /etc files in `etc_dir`
    (for the caller to bind-mount). Returns the record, and whether this is the bridge's
    only container (`connect` then rewrites the bridge's rules). On failure what was made
    is removed again and a PyrunError is raised."""
    netlink, nftables = kernel_side()  # pyroute2: ~120 ms, outside the lock
    nftables.nft_program()  # missing: said now, before anything is made
    if not os.path.isdir(os.path.join(state_root, container_id)):
        # a lease without a state directory is taken for a leftover and reclaimed
        raise PyrunError(f"container {container_id}",
                         f"has no state directory in {state_root}: create it first")
    record, first = _claim(state_root, container_id, request, etc_dir, netlink, nftables)
    try:
        if save is not None:
            save(record)
        if etc_dir is not None:
            record["files"] = write_etc_files(etc_dir, hostname or container_id[:12],
                                              record["address"])
    except BaseException:
        try:
            teardown(state_root, container_id, record)
        except PyrunError:
            pass
        raise
    return record, first


def connect(record: dict, first: bool, netns_fd: int, container_id: str) -> None:
    """Give the network namespace `netns_fd` (the container's) its end of a veth pair on the
    bridge, its address and route, and publish its ports. The caller tears down on failure."""
    netlink, nftables = kernel_side()
    _connect(record, first, netns_fd, container_id, netlink, nftables)


def _claim(state_root, container_id, request, etc_dir, netlink,
           nftables) -> tuple[dict, bool]:
    """Under the lock: reclaim stale leases, check, allocate, write the lease, make the bridge.
    Also says whether this is the bridge's only container (its chains are (re)written)."""
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
    netlink, nftables = kernel_side()
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


def prune(state_root: str) -> list[str]:
    """Tear down the network of every lease whose container is gone (its state directory
    removed without `pyrun delete`, e.g. by a reboot's empty /run, or by hand); returns
    their ids. `setup` does the same in passing; this is `pyrun network prune`."""
    if not os.path.isdir(os.path.join(state_root, NETWORK_DIR)):
        return []
    with Leases(state_root) as db:
        stale = stale_ids(db.data, state_root)
    errors = []
    for container_id in stale:
        try:
            teardown(state_root, container_id)
        except PyrunError as e:
            errors.append(e)
    if errors:
        raise errors[0]
    return stale
