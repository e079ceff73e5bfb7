"""Level 08: veth networking with pyroute2. Everything happens in the box's network
namespace (made by the checker) and the container's: no packet leaves them."""

import json
import os
import socket
import time

from pyrun.lab.checks import common
from pyrun.linux import syscalls

ADDRESS, GATEWAY, PREFIX, PORT = "10.200.0.2", "10.200.0.1", 24, 8080


def check(lab):
    token = f"hello-from-{os.getpid()}"
    run = lab.start("run", "--rootfs", lab.rootfs, "--uidmap", "0:100000:65536",
                    "--ip", f"{ADDRESS}/{PREFIX}", "--gateway", GATEWAY, "--",
                    *lab.probe(f"echo {token} > /tmp/index.html",
                               f"httpd -p {PORT} -h /tmp", 'echo "lab: httpd started"'))
    pid = lab.container(run, "the parent makes the veth pair when the child says its "
                        "namespaces exist; the init configures eth0 before pivot_root",
                        timeout=20, known=KNOWN)
    lab.ok("the command runs")
    if common.same_namespace(pid, lab.box.pid, "net"):
        lab.fail("the command shares the host's network namespace",
                 "add 'network' to the namespaces the intermediate unshares", run)
    lab.ok("it has a network namespace of its own")
    inside = in_netns(f"/proc/{pid}/ns/net", dump_network)
    links = {link["name"]: link for link in inside["links"]}
    if not links.get("lo", {}).get("up"):
        lab.fail("lo is down inside: 127.0.0.1 does not work there",
                 "a new network namespace has lo down: network.loopback_up() in the init",
                 run)
    eth = [link for link in inside["links"] if f"{ADDRESS}/{PREFIX}" in link["addresses"]]
    if not eth:
        lab.fail(f"no interface inside has {ADDRESS}/{PREFIX} (it has "
                 f"{', '.join(sorted(links))})",
                 "the parent creates the pair with the peer inside (ipr.link('add', "
                 "kind='veth', peer={'ifname': 'eth0', 'net_ns_fd': fd})); the init, in the "
                 "container's namespace, adds the address: ipr.addr('add', index=..., "
                 f"address='{ADDRESS}', prefixlen={PREFIX})", run)
    if not eth[0]["up"]:
        lab.fail(f"{eth[0]['name']} has the address but is down",
                 "ipr.link('set', index=..., state='up') in the init", run)
    if GATEWAY not in inside["gateways"]:
        lab.fail(f"there is no default route via {GATEWAY} inside",
                 f"ipr.route('add', dst='default', gateway='{GATEWAY}') in the init, once "
                 f"eth0 is up", run)
    lab.ok(f"inside: lo up, {eth[0]['name']} up with {ADDRESS}/{PREFIX}, default route via "
           f"{GATEWAY}")
    host = in_netns(f"/proc/{lab.box.pid}/ns/net", dump_network)
    ends = [link for link in host["links"] if f"{GATEWAY}/{PREFIX}" in link["addresses"]]
    if not ends or ends[0]["kind"] != "veth" or not ends[0]["up"]:
        lab.fail(f"on the host, no veth interface is up with {GATEWAY}/{PREFIX}",
                 "the parent adds the gateway address to its end of the pair and brings it "
                 "up: ipr.addr('add', ...), ipr.link('set', ..., state='up')", run)
    lab.ok(f"on the host: {ends[0]['name']}, a veth, up with {GATEWAY}/{PREFIX}")
    answer = in_netns(f"/proc/{lab.box.pid}/ns/net", http_get)
    if token not in answer.get("body", ""):
        lab.fail(f"from the host, http://{ADDRESS}:{PORT}/ does not answer "
                 f"({answer.get('error', 'wrong content')})",
                 "both ends up, addresses in the same /24, and the container's web server "
                 "(the probe starts busybox httpd) reachable", run)
    lab.ok(f"from the host, the container's web server at {ADDRESS}:{PORT} answers")
    lab.finish(run, pid)
    deadline = time.monotonic() + 3
    while True:  # the kernel dismantles a dead namespace in the background
        left = [link["name"] for link in in_netns(f"/proc/{lab.box.pid}/ns/net",
                                                   dump_network)["links"]
                if link["name"] != "lo"]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if left:
        lab.fail(f"after the container exited, the host still has {', '.join(left)}", "", run)
    lab.ok("the veth pair went away with the container's namespace")


KNOWN = (
    (("IndexError", "eth0"), "there is no eth0 in the container's namespace when the init "
     "looks for it: the parent must create the pair (the peer born in /proc/PID/ns/net) "
     "before it writes the go byte, and the init configures it only after reading it"),
    ("File exists", "an interface of that name exists already (EEXIST): name the host's end "
     "after the child's pid, e.g. f'veth{pid}' (15 characters at most)"),
    ("No module named 'pyroute2'", "pip install pyroute2 into the venv (.[net])"),
)


def in_netns(path: str, func):
    """Run func() in a forked child that joined the network namespace at `path`; returns
    its JSON result (so that this process never changes namespace)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            fd = os.open(path, os.O_RDONLY)
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
            result = func()
        except BaseException as e:
            result = {"error": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    result = json.loads(b"".join(chunks) or b"{}")
    result.setdefault("links", [])
    result.setdefault("gateways", [])
    return result


def dump_network() -> dict:
    """ip -j link; ip -j addr; ip -j route, boiled down."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        links = {}
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            links[link["index"]] = {
                "name": link.get_attr("IFLA_IFNAME"), "up": bool(link["flags"] & 1),
                "kind": info.get_attr("IFLA_INFO_KIND") if info is not None else None,
                "addresses": []}
        for a in ipr.get_addr(family=socket.AF_INET):
            if a["index"] in links:
                links[a["index"]]["addresses"].append(
                    f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
        gateways = [r.get_attr("RTA_GATEWAY") for r in ipr.get_routes(family=socket.AF_INET)
                    if r["dst_len"] == 0 and r.get_attr("RTA_GATEWAY")]
    return {"links": list(links.values()), "gateways": gateways}


def http_get() -> dict:
    try:
        with socket.create_connection((ADDRESS, PORT), timeout=5) as s:
            s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return {"body": data.decode(errors="replace")}
    except OSError as e:
        return {"error": e.strerror or str(e)}
