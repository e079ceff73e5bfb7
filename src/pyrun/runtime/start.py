"""`pyrun start`: release a created container's init into its program.

The init is blocked opening exec.fifo for writing; opening it for reading lets it through,
and the byte it writes says it got there. The fifo's removal is what makes the status
"running" rather than "created".
"""

import os
import select

from pyrun import failpoints, state
from pyrun.errors import PyrunError
from pyrun.runtime import common

POLL_SECONDS = 0.05


def start(root: str, container_id: str) -> None:
    c = state.open_container(root, container_id).lock()
    status = common.status_of(c)
    if status == "stopped":
        raise PyrunError("cannot start a container that has stopped")
    if status != "created":
        raise PyrunError(f"cannot start an already {status} container")
    release(c)
    common.run_warning_hooks(c.data, "poststart", "running", c.pid)


def release(c: state.Container) -> None:
    """Open exec.fifo, wait for the init's byte, remove the fifo."""
    try:
        fd = os.open(c.fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PyrunError("cannot start an already running container") from None
    failpoints.reached("start: opened exec.fifo")
    try:
        # A non-blocking reader that never saw a writer is not readable on Linux, so we
        # can poll, and notice an init that dies instead of ever writing.
        while not select.select([fd], [], [], POLL_SECONDS)[0]:
            if not common.init_alive(c):
                raise PyrunError("container init exited before start")
        if os.read(fd, 1) != b"0":
            raise PyrunError("container init exited before start")
        failpoints.reached("start: the init went")
        error = _read_to_end(fd)
    finally:
        os.close(fd)
    os.unlink(c.fifo_path)
    failpoints.reached("start: removed exec.fifo")
    if error:
        raise PyrunError(error)


def _read_to_end(fd: int) -> str:
    """After its "0" the init holds the fifo open until execve (close-on-exec), so end of
    file means the program runs; anything written first is why it does not (a failing
    startContainer hook). Waiting for it also orders startContainer before poststart."""
    chunks = []
    while True:
        select.select([fd], [], [])
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks).decode(errors="replace").strip()
        chunks.append(chunk)
