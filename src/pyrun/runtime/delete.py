"""`pyrun delete [--force] ID`: remove a stopped (or, forced, any) container."""

import os

from pyrun import state
from pyrun.errors import PyrunError
from pyrun.runtime import common


def delete(root: str, container_id: str, force: bool = False) -> None:
    state.validate_id(container_id)
    c = state.Container(root, container_id)
    if not os.path.isdir(c.dir):
        if force:
            return
        raise PyrunError(f"container {container_id}", "does not exist")
    c.lock()
    try:
        c.load()
    except PyrunError:
        if not force:
            raise
        c.remove_dir()  # a create killed before it wrote state.json: nothing else to find
        return
    status = common.status_of(c)
    if status in ("running", "paused") and not force:
        raise PyrunError(f"cannot delete container {container_id} that is not stopped: "
                         f"{status}")
    common.destroy(c)
    common.run_warning_hooks(c.data, "poststop", "stopped", None)
