"""`pyrun kill ID [SIGNAL]` and `--all`."""

import _signal  # not `signal`: it builds its enums at import (~6 ms)

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def parse_signal(text: str) -> int:
    """'TERM', 'SIGTERM', 'term', '15', and 'RTMIN+3' or 'SIGRTMAX-1' -> the number, as
    runc accepts them; 0 (no signal: the processes are only checked for) too."""
    if text.isdigit():
        number = int(text)
        if 0 <= number < _signal.NSIG:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        base, sign, offset = name.partition("+") if "+" in name else name.partition("-")
        number = getattr(_signal, base, None) if base[3:].isalnum() else None
        if isinstance(number, int) and number > 0 and not sign:
            return number
        if base in ("SIGRTMIN", "SIGRTMAX") and sign and offset.isdigit():
            number += int(offset) if sign == "+" else -int(offset)
            if _signal.SIGRTMIN <= number <= _signal.SIGRTMAX:
                return number
    raise PyrunError(f"invalid signal {text!r}")


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    c = state.open_container(root, container_id)
    if common.status_of(c) == "stopped":
        raise PyrunError("container not running")
    if all_processes:
        common.cgroup_of(c).signal_all(sig)
    else:
        common.signal_init(c, sig)
