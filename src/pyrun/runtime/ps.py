"""`pyrun ps`: the container's processes, as runc shows them: the host's `ps` output (with
the given ps options, default -ef) restricted to the pids in the container's cgroup."""

import json
import subprocess

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def ps(root: str, container_id: str, fmt: str, ps_args: list[str]) -> str:
    c = state.open_container(root, container_id)
    pids = common.cgroup_of(c).procs()
    if fmt == "json":
        return json.dumps(pids, separators=(",", ":"))  # runc's: compact
    if fmt != "table":
        raise PyrunError(f"invalid format {fmt!r}", "table or json")
    try:
        out = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise PyrunError("ps", str(getattr(e, "stderr", "") or e).strip()) from None
    header, *lines = out.splitlines()
    if "PID" not in header.split():
        raise PyrunError("ps", "its output has no PID column")
    column = header.split().index("PID")
    wanted = {str(p) for p in pids}
    keep = [line for line in lines
            if len(line.split()) > column and line.split()[column] in wanted]
    return "\n".join([header, *keep])
