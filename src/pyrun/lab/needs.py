"""What a level needs from the machine, and the cgroup v2 VM for hosts without cgroup v2.

Each need is a function returning None when met, or one line saying what is missing and
how to get it.
"""

import importlib.util
import os
import shutil
import sys

from pyrun.lab.levels import Level, repo_dir


def _root():
    if os.geteuid() != 0:
        return ("the checker runs your program as root (it mounts, makes namespaces): "
                f"sudo {' '.join(sys.argv)}")
    return None


def _cgroup2():
    from pyrun.linux import cgroups

    if cgroups.detect() != "v2":
        return ("a cgroup v2 host (/sys/fs/cgroup a cgroup2 mount with the memory, cpu and "
                "pids controllers); this one has cgroup v1 or a hybrid layout")
    with open("/sys/fs/cgroup/cgroup.controllers") as f:
        missing = {"memory", "cpu", "pids"} - set(f.read().split())
    if missing:
        return f"the cgroup v2 controllers {', '.join(sorted(missing))} (not enabled here)"
    return None


def _libseccomp():
    try:
        from pyrun.linux import seccomp

        seccomp.preload()
    except Exception as e:
        return f"libseccomp (apt-get install libseccomp-dev, then reinstall pyrun): {e}"
    return None


def _pyroute2():
    if importlib.util.find_spec("pyroute2") is None:
        return "pyroute2: .venv/bin/pip install pyroute2 (or install pyrun with .[net])"
    return None


CHECKS = {"root": _root, "cgroup2": _cgroup2, "libseccomp": _libseccomp,
          "pyroute2": _pyroute2}


def missing(level: Level) -> list[tuple[str, str]]:
    """(need, what is missing) for each need of `level` this machine does not meet."""
    out = []
    for need in level.needs:
        problem = CHECKS[need]()
        if problem:
            out.append((need, problem))
    return out


def vm_command(level: Level, programs: list[str], extra: list[str]) -> list[str] | None:
    """The command that runs this check in the project's cgroup v2 VM (vm/run.sh), or None
    when there is no VM here (no vm/run.sh or no qemu)."""
    run_sh = repo_dir() / "vm" / "run.sh"
    if not run_sh.exists() or shutil.which("qemu-system-x86_64") is None:
        return None
    keep = []
    for program in programs:
        folder = os.path.dirname(os.path.realpath(program))
        if folder.startswith(("/tmp/", "/var/tmp/", "/run/")):
            keep += ["--keep", folder]
    return [str(run_sh), "-q", "--cwd", str(repo_dir()), "--timeout", "900",
            "--env", "PYRUN_LAB_TIMEOUT_SCALE=10", *keep, "--",
            sys.executable, "-m", "pyrun.lab.cli", "check", level.number,
            *[os.path.realpath(p) for p in programs], "--no-vm", *extra]


VM_HOWTO = """\
On this machine, run level {n} in the project's cgroup v2 VM (qemu, ~15 s to boot):
    sudo vm/install-deps.sh          # once: qemu and a Debian kernel
    sudo .venv/bin/pyrun-lab check {n}   # then boots the VM by itself
or on any machine booted with cgroup v2 only (Debian 11+, Ubuntu 21.10+, Fedora 31+, the
Vagrant box: vagrant up && vagrant ssh -c 'cd /vagrant && sudo .venv/bin/pyrun-lab check {n}')."""
