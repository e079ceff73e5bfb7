"""Time bridge networking: pyrun.runtime.network.setup and teardown of one container.

Run as root, inside the sandbox (it unshares a network namespace of its own for the "host"
and removes everything it made):

    /work/shared/tools/sandbox .venv/bin/python bench/network.py [--runs 20]

Prints the import time of pyrun.linux.netlink (pyroute2 with it) in this process, then the
median / min / max over --runs of:
  * setup and teardown of a container while another one keeps the bridge up (the usual case),
  * the first setup (the bridge is made too) and the last teardown (bridge, chains and the
    nftables table are removed too),
and, for the usual setup, where the time goes (lease file, nft, veth, /etc files).
Each "container" is an `unshare --net sleep` process, made before the clock starts.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from pyrun.linux import network, syscalls


def holder() -> subprocess.Popen:
    p = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    mine = os.readlink("/proc/self/ns/net")
    while True:
        try:
            if os.readlink(f"/proc/{p.pid}/ns/net") != mine:
                return p
        except OSError:
            pass
        time.sleep(0.002)


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):6.1f} ms   min {min(ms):6.1f}   max {max(ms):6.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/network.py: run me as root, in the sandbox", file=sys.stderr)
        return 2
    syscalls.unshare(syscalls.CLONE_NEWNET)
    network.loopback_up()

    t = time.perf_counter()
    from pyrun.linux import netlink, nftables
    imported = time.perf_counter() - t
    from pyrun.runtime import network as net

    phases: dict[str, list[float]] = {}

    def timed(module, name, label):
        real = getattr(module, name)

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return real(*a, **kw)
            finally:
                phases.setdefault(label, []).append(time.perf_counter() - t0)
        setattr(module, name, wrapper)

    root = tempfile.mkdtemp(prefix="pyrun-netbench-")
    request = net.parse_request(network="bridge", publish=["8080:80"], environ={})
    procs = []
    counter = [0]

    def one(setup_only=False):
        counter[0] += 1
        cid = f"c{counter[0]}"
        os.mkdir(os.path.join(root, cid))
        p = holder()
        procs.append(p)
        t0 = time.perf_counter()
        record = net.setup(root, cid, p.pid, request if not setup_only else
                           net.parse_request(network="bridge", environ={}),
                           etc_dir=os.path.join(root, cid))
        return cid, record, time.perf_counter() - t0

    def down(cid, record):
        t0 = time.perf_counter()
        net.teardown(root, cid, record)
        return time.perf_counter() - t0

    timed(nftables.Pending, "wait", "nft transaction (wait after overlap)")
    timed(nftables, "chains", "nft -j list (bridge chains present?)")
    timed(netlink, "create_veth_into", "veth pair + config inside")
    timed(netlink, "ensure_bridge", "ensure_bridge (under the lock)")
    timed(netlink, "delete_link", "delete veth")
    timed(netlink, "delete_bridge", "delete bridge")
    timed(net, "write_etc_files", "/etc files")
    timed(net, "_claim", "lease (lock, allocate, write, bridge)")
    try:
        first, last = [], []
        for _ in range(args.runs):
            cid, rec, dt = one()
            first.append(dt)
            last.append(down(cid, rec))
        first_phases = {k: list(v) for k, v in phases.items()}
        phases.clear()
        resident = one(setup_only=True)
        phases.clear()
        usual_setup, usual_teardown = [], []
        for _ in range(args.runs):
            cid, rec, dt = one()
            usual_setup.append(dt)
            usual_teardown.append(down(cid, rec))
        down(*resident[:2])
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print(f"import pyrun.linux.netlink (pyroute2): {imported * 1000:.1f} ms, once per process")
    print(f"setup, bridge present     {fmt(usual_setup)}")
    print(f"teardown, bridge stays    {fmt(usual_teardown)}")
    print(f"setup, first (bridge)     {fmt(first)}")
    print(f"teardown, last (bridge)   {fmt(last)}")
    print("where the time goes (medians of each call; setup+teardown, nft counts both):")
    print(f"  {'':40s} {'bridge present':>14s} {'first/last':>12s}")
    for label, values in phases.items():
        other = first_phases.get(label)
        print(f"  {label:40s} {statistics.median(values) * 1000:11.1f} ms "
              f"{statistics.median(other) * 1000 if other else 0:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
