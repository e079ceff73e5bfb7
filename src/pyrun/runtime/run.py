"""`pyrun run`: create + start in one process, then (in the foreground) stay as the
container's parent: forward signals, reap, and exit with its status.

Before forking, pyrun becomes a child subreaper, so the init (a grandchild, whose parent
exits right after forking it) is re-parented to us and we can wait for it.
"""

import _signal
import os

from pyrun.errors import PyrunError
from pyrun.linux.sync import ChannelClosed
from pyrun.runtime import common
from pyrun.runtime.create import CreateOptions, create
from pyrun.runtime.start import release

# `_signal` is the C core of `signal`, which imports enum (~4 ms on every run).
FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
                     _signal.SIGUSR1, _signal.SIGUSR2)


def run(root: str, container_id: str, opts: CreateOptions, detach: bool = False,
        keep: bool = False) -> int:
    if not detach:
        import _prctl

        _prctl.prctl(_prctl.PR_SET_CHILD_SUBREAPER, 1)
    created = create(root, container_id, opts)
    c = created.container
    try:
        release(c)
        common.run_warning_hooks(c.data, "poststart", "running", c.pid)
    except BaseException:
        common.destroy(c)
        # An init that died at the last step said why on the channel: report that.
        reason = _init_error(created.channel)
        if reason:
            raise PyrunError(reason) from None
        raise
    c.unlock()  # other commands (kill, state) may act while we wait
    if detach:
        return 0
    try:
        status = wait_for_init(c.pid)
        exec_error = _init_error(created.channel)
    finally:
        if not keep:
            c.lock()
            common.destroy(c)
            common.run_warning_hooks(c.data, "poststop", "stopped", None)
    if exec_error:
        raise PyrunError(exec_error)
    return status


def wait_for_init(init_pid: int) -> int:
    """Forward signals to the init until it exits; reap every child re-parented to us.
    Returns the shell-style status: the exit code, or 128+N when killed by signal N."""

    def forward(signum, _frame):
        try:
            os.kill(init_pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, forward)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == init_pid:
            break
    _reap_orphans()
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _reap_orphans() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _init_error(chan) -> str | None:
    """If the init failed after "created" (at start or execve), it said why before exiting;
    None if it said nothing (it exec'd, or died without a word)."""
    chan.set_blocking(False)
    try:
        message = chan.recv()
    except (ChannelClosed, BlockingIOError):
        return None
    return message.get("message") if message.get("type") == "error" else None
