"""Helpers the lifecycle operations share: a container's status, its cgroup, stopping its
processes, and removing everything it owns."""

import _signal  # not `signal`: it imports enum (~4 ms)
import os

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.linux import cgroups, process


def cgroup_of(c: state.Container):
    return cgroups.open_group(c.data["cgroup_path"])


def init_alive(c: state.Container) -> bool:
    """The init process still exists and is the one we started (not a reused pid)."""
    pid = c.pid
    return pid > 0 and process.start_time(pid) == c.data.get("pid_start_time")


def status(c: state.Container, frozen=None) -> str:
    """creating | created | running | paused | stopped, derived from the process, never
    stored. `frozen` is a callable telling whether the cgroup is frozen (the cgroup
    layer's). A state.json without `created` is create's journal: not done yet."""
    if not init_alive(c):
        return "stopped"
    if not c.data.get("created"):
        return "creating"
    if c.fifo_exists():
        return "created"
    if frozen is not None and frozen():
        return "paused"
    return "running"


def status_of(c: state.Container) -> str:
    group = cgroup_of(c) if c.data.get("cgroup_path") else None
    return status(c, frozen=group.frozen if group else None)


def signal_init(c: state.Container, sig: int) -> None:
    """Signal the init through a pidfd, checked against the recorded start time, so a
    reused pid can never be hit."""
    fd = process.pidfd_open(c.pid)
    if fd is None:
        raise PyrunError("container not running")
    try:
        if not init_alive(c):
            raise PyrunError("container not running")
        _signal.pidfd_send_signal(fd, sig)
    finally:
        os.close(fd)


def kill_init_and_wait(pid: int, start_time, timeout: float = 10.0) -> None:
    """SIGKILL a (possibly not-our-child) init and wait until it is gone."""
    fd = process.pidfd_open(pid)
    if fd is None:
        return
    try:
        if start_time is not None and process.start_time(pid) != start_time:
            return
        try:
            _signal.pidfd_send_signal(fd, _signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait_gone(fd, timeout)
    finally:
        os.close(fd)


def destroy(c: state.Container) -> None:
    """Kill whatever is left, remove the cgroup and the state directory.

    Only what pyrun started or made: the cgroup's processes are killed only once the
    cgroup was claimed (it held no process when create took it, so whatever is in it now
    is the container's), and only directories create made are removed. The cgroup kill
    goes first: it reaches every process, and thaws a paused container so that it can die.
    """
    group = cgroup_of(c) if c.data.get("cgroup_path") else None
    if group is not None and c.data.get("cgroup_claimed") and group.exists():
        group.kill_all()
    if c.data.get("pid"):
        kill_init_and_wait(c.pid, c.data.get("pid_start_time"))  # one not yet in it
    if group is not None:
        group.destroy(c.data.get("cgroup_made") or [])
    c.remove_dir()


# --- hooks run by pyrun itself (the runtime namespace); see pyrun.linux.hooks


def hook_state(data: dict, status: str, pid: int | None) -> dict:
    from pyrun.linux.hooks import state_for_hooks

    return state_for_hooks(oci_version=data.get("oci_version", ""), container_id=data["id"],
                           status=status, pid=pid, bundle=data.get("bundle", ""),
                           annotations=data.get("annotations") or {})


def hooks_of(data: dict, name: str) -> list:
    """The hooks of kind `name` kept in state.json (config.Hook objects)."""
    if not (data.get("hooks") or {}).get(name):
        return []
    from pyrun.config import parse_hooks

    return parse_hooks(data["hooks"]).get(name, [])


def run_warning_hooks(data: dict, name: str, status: str, pid: int | None) -> None:
    """poststart and poststop: a failure is a warning and the rest still run (runtime.md)."""
    hooks = hooks_of(data, name)
    if not hooks:
        return
    from pyrun.errors import warn
    from pyrun.linux.hooks import run_hooks_best_effort

    # in the bundle, as runc's hooks are where containerd and podman start runc
    for failure in run_hooks_best_effort(hooks, hook_state(data, status, pid), name=name,
                                         cwd=data.get("bundle") or None):
        warn(failure.message)
