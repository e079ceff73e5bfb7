"""Level 09, a typical wrong attempt: the init does not wait on exec.fifo, so the command
runs at `create`, before anyone said `start`."""

import importlib.util
import sys
from pathlib import Path

path = Path(__file__).resolve().parents[3] / "examples/labs/09-oci-lifecycle/solution.py"
spec = importlib.util.spec_from_file_location("solution", path)
solution = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solution)
solution.wait_for_start = lambda fifo: None  # the mistake
sys.exit(solution.main())
