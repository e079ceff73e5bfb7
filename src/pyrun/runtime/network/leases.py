"""The lease file: which container has which address, veth and host ports, under an flock.
See the package's docstring for the format."""

import os

from pyrun.errors import PyrunError
from pyrun.runtime.network.request import (
    ENV_SUBNET,
    Port,
    Request,
    Subnet,
    check_in_subnet,
    int_to_ip,
    ip_to_int,
)

# "@" cannot start a container id, so the directory never clashes with a container's.
NETWORK_DIR = "@network"
LEASES_FILE = "leases.json"
LOCK_FILE = "lock"
CONTAINER_IFNAME = "eth0"
VETH_PREFIX = "pyr"
RECORD_VERSION = 1


# --- names

def key_of(state_root: str, container_id: str) -> str:
    import hashlib

    raw = f"{os.path.abspath(state_root)}\0{container_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:12]


def veth_of(key: str) -> str:
    return VETH_PREFIX + key  # 3 + 12 = 15 bytes, IFNAMSIZ - 1


# --- the lease file

class Leases:
    """`<root>/@network/leases.json` held under its flock: `with Leases(root) as db:`.

    With no lease left, the directory is removed on the way out (nothing of pyrun's
    networking stays once its last container is gone). Its lock file goes with it, so a
    process that was waiting for the lock checks, once it has it, that it still locks the
    file there, and starts again otherwise."""

    def __init__(self, state_root: str):
        self.dir = os.path.join(state_root, NETWORK_DIR)
        self.path = os.path.join(self.dir, LEASES_FILE)
        self.lock_path = os.path.join(self.dir, LOCK_FILE)
        self.data: dict = {}
        self._fd = -1

    def __enter__(self) -> "Leases":
        self._fd = self._lock()
        try:
            self.data = self.read()
        except BaseException:
            self._release(remove=False)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._release(remove=not self.data.get("leases"))

    def _lock(self) -> int:
        import fcntl

        for _ in range(100):
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                continue  # the directory went between makedirs and open
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # removed while we waited: that lock guards nothing now
        raise PyrunError(self.lock_path, "removed again and again: cannot lock it")

    def _release(self, remove: bool) -> None:
        try:
            if remove:  # still under the lock
                for path in (self.path, self.lock_path):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                try:
                    os.rmdir(self.dir)
                except OSError:
                    pass  # something else in it (leases.json.tmp of a crash): kept
        finally:
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
        value = ip_to_int(lease.get("address", ""))
        if value is not None:
            taken[value] = other_id
    hosts = net.hosts()
    if request.ip is not None:
        value = ip_to_int(request.ip)
        check_in_subnet(request.ip, net, request.ip_source)
        if value in taken:
            raise PyrunError(f"{request.ip_source} {request.ip}",
                             f"already taken by container {taken[value]}")
        chosen = value
    else:
        last = ip_to_int(data["last"].get(request.bridge, "")) or hosts.start - 1
        start = last + 1 if last + 1 in hosts else hosts.start
        chosen = None
        for i in range(len(hosts)):
            candidate = hosts.start + (start - hosts.start + i) % len(hosts)
            if candidate not in taken:
                chosen = candidate
                break
        if chosen is None:
            raise PyrunError(f"subnet {net}", f"no free address left on bridge {request.bridge}")
        data["last"][request.bridge] = int_to_ip(chosen)
    return int_to_ip(chosen)


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



def format_leases(state_root: str) -> str:
    """`pyrun network ls`: one line per container with an address."""
    rows = [("ID", "BRIDGE", "ADDRESS", "VETH", "PORTS")]
    if os.path.isdir(os.path.join(state_root, NETWORK_DIR)):
        with Leases(state_root) as db:
            leases = dict(db.leases)
        for cid, lease in sorted(leases.items()):
            ports = ",".join(Port(p["proto"], p["host_ip"], p["host_port"],
                                  p["container_port"]).spec() for p in lease.get("ports", ()))
            rows.append((cid, lease.get("bridge", ""), lease.get("address", ""),
                         lease.get("veth", ""), ports or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True))
                     .rstrip() for r in rows)
