"""`pyrun events`: a container's statistics (`--stats`, once) or a stream of them every
`--interval`, with an {"type": "oom"} event whenever the OOM killer strikes in it, until
the container stops."""

import json
import sys
import time

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def stats_event(c: state.Container) -> dict:
    return {"type": "stats", "id": c.id, "data": common.cgroup_of(c).stats()}


def events(root: str, container_id: str, interval: float, stats_once: bool) -> None:
    """runc's `events`: statistics every `interval`, an oom event as soon as the OOM
    killer strikes in the container (checked every 0.1 s), until the container stops."""
    c = state.open_container(root, container_id)
    if common.status_of(c) == "stopped":
        raise PyrunError("container not running")
    if stats_once:
        print(json.dumps(stats_event(c), separators=(",", ":")))
        return
    group = common.cgroup_of(c)
    ooms = group.oom_kills()
    next_stats = time.monotonic()
    while common.status_of(c) != "stopped":
        now_ooms = group.oom_kills()
        if now_ooms > ooms:
            _emit({"type": "oom", "id": c.id})
            ooms = now_ooms
        if time.monotonic() >= next_stats:
            _emit(stats_event(c))
            next_stats += interval
        time.sleep(max(0.0, min(OOM_POLL_SECONDS, next_stats - time.monotonic())))


OOM_POLL_SECONDS = 0.1


def _emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def parse_interval(text: str) -> float:
    """Go durations as runc takes them: '5s', '100ms', '1m', '1.5s'."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            try:
                seconds = float(number) * scale
            except ValueError:
                break
            if seconds > 0:
                return seconds
    raise PyrunError(f"invalid --interval {text!r}", "expected a duration like 5s or 100ms")
