"""`pyrun kill ID [SIGNAL]` and `--all`."""

import signal

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def parse_signal(text: str) -> int:
    """'TERM', 'SIGTERM', 'term' or '15' -> 15, as runc accepts them; 0 (no signal: the
    processes are only checked for) too."""
    if text.isdigit():
        number = int(text)
        if 0 <= number < signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
        if sig is not None:
            return int(sig)
    raise PyrunError(f"invalid signal {text!r}")


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    c = state.open_container(root, container_id)
    if common.status_of(c) == "stopped":
        raise PyrunError("container not running")
    if all_processes:
        common.cgroup_of(c).signal_all(sig)
    else:
        common.signal_init(c, sig)
