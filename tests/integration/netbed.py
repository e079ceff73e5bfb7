"""The network test bed: a network namespace per test that plays the host, namespaces in it
that play containers or a remote client, and a check that nothing is left. Shared by
test_network.py (the library) and test_network_cli.py (pyrun create/run/delete).

The test's main thread unshares into the "host" namespace, and everything it forks (pyrun,
nft, nsenter) inherits it; an "outside" namespace joined to the host by a veth pair
(192.0.2.0/24, TEST-NET-1) plays a remote client. No traffic leaves these namespaces.
"""

import os
import subprocess
import sys
import time

import pytest

from pyrun.linux import network, syscalls
from pyrun.runtime import network as net

OUTSIDE_HOST_IP = "192.0.2.1"  # the host's end of the link to the outside namespace
OUTSIDE_IP = "192.0.2.2"

# A server for tests: answers every TCP connection or UDP datagram with the peer's address.
SERVER = r"""
import socket, sys
proto, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
if proto == "tcp":
    s.listen(16)
print("ready", flush=True)
while True:
    if proto == "tcp":
        c, peer = s.accept()
        c.sendall(peer[0].encode())
        c.close()
    else:
        data, peer = s.recvfrom(100)
        s.sendto(peer[0].encode(), peer)
"""

# A client run inside a namespace: prints what the server answered.
CLIENT = r"""
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if proto == "tcp":
    s = socket.create_connection((host, port), timeout=3)
    print(s.recv(100).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"hi", (host, port))
    print(s.recvfrom(100)[0].decode())
"""


def in_ns(pid: int, *cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", *cmd], capture_output=True,
                          text=True, timeout=20, **kw)


def ask(pid: int | None, proto: str, host: str, port: int) -> str:
    """The server's answer (the address it saw us come from), asked from namespace `pid`
    (None: the host)."""
    cmd = [sys.executable, "-c", CLIENT, proto, host, str(port)]
    r = in_ns(pid, *cmd) if pid else subprocess.run(cmd, capture_output=True, text=True,
                                                    timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Namespaces:
    """Processes holding network namespaces, and servers run in them; all killed at the end."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def new(self) -> int:
        p = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        self.procs.append(p)
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{p.pid}/ns/net") != mine:
                    return p.pid
            except OSError:
                pass
            time.sleep(0.005)
        raise AssertionError("unshare --net did not start")

    def serve(self, pid: int, proto: str, port: int) -> None:
        p = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c",
                              SERVER, proto, str(port)], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def host_links() -> list[str]:
    r = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return [line.split(":")[1].strip().split("@")[0] for line in r.stdout.splitlines()]


def ruleset() -> str:
    r = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True)
    return r.stdout.strip()


@pytest.fixture
def host(state_root):
    """This thread moves into a fresh network namespace (the "host") for the test."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    syscalls.unshare(syscalls.CLONE_NEWNET)
    network.loopback_up()
    spaces = Namespaces()
    try:
        yield spaces
    finally:
        spaces.close()
        leftovers = []
        if (links := sorted(set(host_links()) - {"lo", "outside0"})):
            leftovers.append(f"links: {links}")
        if rules := ruleset():
            leftovers.append(f"nftables: {rules}")
        with net.Leases(str(state_root)) as db:
            if db.leases:
                leftovers.append(f"leases: {sorted(db.leases)}")
        syscalls.setns(original, syscalls.CLONE_NEWNET)
        os.close(original)
        # the state dirs this test made, and the network dir (empty of leases: checked above)
        for name in os.listdir(state_root):
            path = os.path.join(state_root, name)
            for f in os.listdir(path):
                os.unlink(os.path.join(path, f))
            os.rmdir(path)
        assert not leftovers, "left behind: " + "; ".join(leftovers)


@pytest.fixture
def outside(host):
    """A namespace beyond the host's "outside0" (192.0.2.1/24); returns its holder's pid."""
    pid = host.new()
    subprocess.run(["ip", "link", "add", "outside0", "type", "veth", "peer", "name", "eth0",
                    "netns", str(pid)], check=True)
    subprocess.run(["ip", "addr", "add", f"{OUTSIDE_HOST_IP}/24", "dev", "outside0"], check=True)
    subprocess.run(["ip", "link", "set", "outside0", "up"], check=True)
    for cmd in (["ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
        assert in_ns(pid, *cmd).returncode == 0
    yield pid
    subprocess.run(["ip", "link", "del", "outside0"], check=False)
