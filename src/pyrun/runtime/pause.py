"""`pyrun pause` / `pyrun resume`: freeze and thaw every process of the container."""

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def pause(root: str, container_id: str) -> None:
    c = state.open_container(root, container_id).lock()
    status = common.status_of(c)
    if status != "running":
        raise PyrunError("container not running" if status != "paused" else
                         "container already paused")
    common.cgroup_of(c).freeze()


def resume(root: str, container_id: str) -> None:
    c = state.open_container(root, container_id).lock()
    if common.status_of(c) != "paused":
        raise PyrunError("container not paused")
    common.cgroup_of(c).thaw()

