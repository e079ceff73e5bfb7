"""Time pyrun.linux.seccomp: its import, the first compile() (which loads libseccomp), and
compiling + loading Docker's default profile in a forked child (root: the load needs
CAP_SYS_ADMIN, since the filter leaves no_new_privs to the container's config).

Each figure is the median of N fresh interpreters (the venv's python -I -S, as the pyrun
launcher runs), so that nothing is cached between samples but the page cache.
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv/bin/python")


def _site_paths() -> list[str]:
    """What the pyrun launcher puts on sys.path besides src/ (scripts/write-launcher.sh)."""
    code = "import sysconfig; p = sysconfig.get_paths(); print(p['purelib']); print(p['platlib'])"
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split()


SETUP = f"""
import sys, time
sys.path[:0] = {[str(REPO / "src"), str(REPO), *_site_paths()]!r}
"""

# os and pyrun.errors: every pyrun command has them already.
IMPORT = SETUP + """
import os, pyrun.errors
t = time.perf_counter()
import pyrun.linux.seccomp
print((time.perf_counter() - t) * 1000)
"""

FIRST_COMPILE = SETUP + """
from pyrun.linux import seccomp
from tests.seccomp_profiles import deny
profile = deny("mkdir")
t = time.perf_counter()
seccomp.preload()
t1 = time.perf_counter()
seccomp.compile(profile).release()
t2 = time.perf_counter()
print((t1 - t) * 1000, (t2 - t1) * 1000)
"""

DOCKER = SETUP + """
import os
from pyrun.linux import seccomp
from tests.seccomp_profiles import docker_default
profile = docker_default()
seccomp.preload()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    t = time.perf_counter()
    filt = seccomp.compile(profile)
    t1 = time.perf_counter()
    filt.load()
    t2 = time.perf_counter()
    os.write(w, f"{(t1 - t) * 1000} {(t2 - t1) * 1000}".encode())
    os._exit(0)
os.close(w)
print(os.read(r, 100).decode())
os.waitpid(pid, 0)
"""


def samples(code: str, runs: int) -> list[list[float]]:
    out = []
    for _ in range(runs):
        done = subprocess.run([PYTHON, "-I", "-S", "-c", code], capture_output=True,
                              text=True)
        if done.returncode:
            sys.exit(f"bench/seccomp.py: a sample failed:\n{done.stderr}")
        out.append([float(x) for x in done.stdout.split()])
    return out


def median_of(rows: list[list[float]], i: int) -> float:
    return statistics.median(row[i] for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    imp = samples(IMPORT, runs)
    first = samples(FIRST_COMPILE, runs)
    print(f"median of {runs} fresh interpreters, ms")
    print(f"import pyrun.linux.seccomp (name tables): {median_of(imp, 0):7.2f}")
    print(f"preload() (pyrun._seccomp, libseccomp):   {median_of(first, 0):7.2f}")
    print(f"first compile() of a one-rule profile:    {median_of(first, 1):7.2f}")
    if os.geteuid() != 0:
        print("Docker's default profile: needs root to load; skipped")
        return 0
    docker = samples(DOCKER, runs)
    print(f"Docker default: compile():                {median_of(docker, 0):7.2f}")
    print(f"Docker default: load():                   {median_of(docker, 1):7.2f}")
    both = statistics.median(a + b for a, b in docker)
    print(f"Docker default: compile() + load():       {both:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
