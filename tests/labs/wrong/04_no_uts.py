"""Level 04, a typical wrong attempt: sethostname without a UTS namespace of its own, which
renames the host (here the checker's throwaway box)."""

import runpy
from pathlib import Path

from pyrun.linux import namespaces

unshare = namespaces.unshare
namespaces.unshare = lambda kinds, *a: unshare([k for k in kinds if k != "uts"], *a)

labs = Path(__file__).resolve().parents[3] / "examples" / "labs"
runpy.run_path(str(labs / "04-uts-pid" / "solution.py"), run_name="__main__")
