"""Level 01, a typical wrong attempt: chroot without chdir: the working directory stays
outside the new root, where `cd ..` walks up the host's tree."""

import os
import runpy
from pathlib import Path

os.chdir = lambda path: None  # the mistake (the child's only chdir is the one after chroot)

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "01-chroot" / "solution.py"), run_name="__main__")
