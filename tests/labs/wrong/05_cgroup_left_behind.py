"""Level 05, a typical wrong attempt: limits set and enforced, but the cgroup is never
removed: one leftover directory under /sys/fs/cgroup per container run."""

import runpy
from pathlib import Path

from pyrun.linux.cgroups.v2 import V2Group

V2Group.kill_all = V2Group.destroy = lambda self, *args: None  # the mistake

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "05-cgroups" / "solution.py"), run_name="__main__")
