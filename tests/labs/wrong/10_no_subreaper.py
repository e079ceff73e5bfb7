"""Level 10, a typical wrong attempt: the shim is not a subreaper, so the container's init,
orphaned when pyrun create exits, goes elsewhere and the shim cannot wait for it."""

import importlib.util
import sys
from pathlib import Path

from pyrun.linux import syscalls

syscalls.set_child_subreaper = lambda: None  # the mistake

path = Path(__file__).resolve().parents[3] / "examples/labs/10-engine/solution.py"
spec = importlib.util.spec_from_file_location("solution", path)
solution = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solution)
sys.exit(solution.main())
