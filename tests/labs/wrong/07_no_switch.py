"""Level 07, a typical wrong attempt: the maps are written, but the child never becomes the
namespace's root: it stays the host's uid 0 (unmapped: 65534 inside)."""

import runpy
from pathlib import Path

from pyrun.linux import user

user.switch = lambda *args, **kw: None  # the mistake

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "07-user-namespace" / "solution.py"), run_name="__main__")
