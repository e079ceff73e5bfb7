"""Level 03, a typical wrong attempt: pivot_root(new, put_old) without unmounting put_old,
which leaves the host's whole tree inside the container, at /.oldroot."""

import os
import runpy
from pathlib import Path

from pyrun.linux import mounts, syscalls


def pivot_keep_old(new_root_fd, sc=None):
    os.fchdir(new_root_fd)
    os.makedirs(".oldroot", exist_ok=True)
    syscalls.pivot_root(".", ".oldroot")
    os.chdir("/")  # the mistake: no umount2("/.oldroot", MNT_DETACH)


mounts.pivot_root = pivot_keep_old

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "03-pivot-root" / "solution.py"), run_name="__main__")
