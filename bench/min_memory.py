"""The smallest memory limit under which `RUNTIME run` of /bin/true still succeeds.

Binary search over linux.resources.memory.limit (swap set equal: no swap) on one busybox
bundle, for pyrun and runc side by side (crun with --crun). A run succeeds when it exits 0;
each probe is repeated (--tries) and must succeed every time, so a limit that works only
sometimes does not count. Prints the smallest working limit of each, in KiB.

    .venv/bin/python bench/min_memory.py [--only pyrun,runc] [--tries 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PAGE = 4096


def make_bundle(tmp: str) -> str:
    bundle = os.path.join(tmp, "bundle")
    os.makedirs(bundle)
    subprocess.run(["sh", os.path.join(REPO, "examples", "make-rootfs.sh"),
                    os.path.join(bundle, "rootfs")], check=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    return bundle


def set_limit(bundle: str, limit: int) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    resources = config["linux"].setdefault("resources", {})
    resources["memory"] = {"limit": limit, "swap": limit}
    with open(path, "w") as f:
        json.dump(config, f)


def works(runtime: list[str], root: str, bundle: str, limit: int, tries: int) -> bool:
    set_limit(bundle, limit)
    for _ in range(tries):
        cid = "mm-" + uuid.uuid4().hex[:8]
        result = subprocess.run([*runtime, "--root", root, "run", "-b", bundle, cid],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        subprocess.run([*runtime, "--root", root, "delete", "-f", cid], capture_output=True)
        if result.returncode != 0:
            return False
    return True


def smallest(runtime, root, bundle, tries, lo=64 * 1024, hi=256 << 20) -> int | None:
    """Smallest page-aligned limit in [lo, hi] that works (the search assumes monotony)."""
    if not works(runtime, root, bundle, hi, tries):
        return None
    while hi - lo > 16 * PAGE:
        mid = (lo + hi) // 2 // PAGE * PAGE
        if works(runtime, root, bundle, mid, tries):
            hi = mid
        else:
            lo = mid
    return hi


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="pyrun,runc")
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--pyrun", default=os.path.join(REPO, ".venv", "bin", "pyrun"))
    args = parser.parse_args()
    runtimes = {"pyrun": [args.pyrun], "runc": ["runc"], "crun": ["crun"]}
    tmp = tempfile.mkdtemp(prefix="pyrun-minmem.")
    try:
        bundle = make_bundle(tmp)
        for name in args.only.split(","):
            root = os.path.join(tmp, f"root-{name}")
            found = smallest(runtimes[name], root, bundle, args.tries)
            shown = "failed even at 256 MiB" if found is None else f"{found // 1024} KiB"
            print(f"{name:6} smallest working memory limit: {shown}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
