"""The ladder: one entry per level of examples/labs/, in order."""

import importlib
import os
from pathlib import Path


class Level:
    def __init__(self, number: str, slug: str, title: str, minutes: str,
                 needs: tuple[str, ...] = ()):
        self.number, self.slug, self.title, self.minutes = number, slug, title, minutes
        self.needs = ("root", *needs)

    @property
    def dirname(self) -> str:
        return f"{self.number}-{self.slug}"

    def directory(self) -> Path:
        return labs_dir() / self.dirname

    def default_program(self) -> Path:
        """The student's working copy if there is one, else the untouched skeleton."""
        student = self.directory() / "student.py"
        return student if student.exists() else self.directory() / "skeleton.py"

    def checker(self):
        return importlib.import_module(f"pyrun.lab.checks.l{self.number}").check

    def __str__(self):
        return f"level {self.number} ({self.title})"


LEVELS = [
    Level("00", "fork-exec", "fork and exec", "30 min"),
    Level("01", "chroot", "chroot, and breaking out of it", "45 min"),
    Level("02", "mount-namespace", "the mount namespace and /proc", "45 min"),
    Level("03", "pivot-root", "pivot_root and /dev", "1 h"),
    Level("04", "uts-pid", "UTS and PID namespaces", "1 h"),
    Level("05", "cgroups", "cgroup v2: memory, cpu and pids", "1 h", ("cgroup2",)),
    Level("06", "capabilities-seccomp", "capabilities, no_new_privs and seccomp", "1.5 h",
          ("libseccomp",)),
    Level("07", "user-namespace", "user namespaces", "1.5 h"),
    Level("08", "veth-network", "veth networking with pyroute2", "1.5 h", ("pyroute2",)),
    Level("09", "oci-lifecycle", "the OCI bundle, lifecycle and hooks", "2-3 h"),
    Level("10", "engine", "under an engine: subreaper, console socket, exit status", "1.5 h"),
]
BY_NUMBER = {level.number: level for level in LEVELS}


class NoSuchLevel(Exception):
    pass


def find(number: str) -> Level:
    key = number.zfill(2)
    if key not in BY_NUMBER:
        raise NoSuchLevel(f"no level {number!r}: levels are 00 to {LEVELS[-1].number}")
    return BY_NUMBER[key]


def labs_dir() -> Path:
    """examples/labs of the checkout pyrun runs from (or $PYRUN_LABS)."""
    env = os.environ.get("PYRUN_LABS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "examples" / "labs"


def repo_dir() -> Path:
    return labs_dir().parents[1]
