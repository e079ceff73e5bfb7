"""Level 02, a typical wrong attempt: a mount namespace of its own, but / left shared (no
make_root_private), so every mount the container makes propagates to the host."""

import runpy
from pathlib import Path

from pyrun.linux import mounts

mounts.make_root_private = lambda *args, **kw: None  # the mistake

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "02-mount-namespace" / "solution.py"), run_name="__main__")
