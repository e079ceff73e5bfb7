"""Level 06, a typical wrong attempt: capabilities dropped with capset(2) only, not from the
bounding set: as root, execve gives them all back."""

import runpy
from pathlib import Path

from pyrun.linux import capabilities

capabilities.drop_bounding = lambda keep, *args: None  # the mistake

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "06-capabilities-seccomp" / "solution.py"), run_name="__main__")
