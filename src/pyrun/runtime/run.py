"""`pyrun run`: create + start in one process, then (in the foreground) stay as the
container's parent: forward signals, reap, and exit with its status.

Before forking, pyrun becomes a child subreaper, so the init (a grandchild, whose parent
exits right after forking it) is re-parented to us and we can wait for it.
"""

import _signal
import os

from pyrun.errors import PyrunError
from pyrun.linux import sync
from pyrun.runtime import common
from pyrun.runtime.create import CreateOptions, create
from pyrun.runtime.start import release

# `_signal` is the C core of `signal`, which imports enum (~4 ms on every run).
FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT,
                     _signal.SIGUSR1, _signal.SIGUSR2)


def run(root: str, container_id: str, opts: CreateOptions, detach: bool = False,
        keep: bool = False) -> int:
    if not detach:
        from pyrun.linux import syscalls

        syscalls.set_child_subreaper()
    created = create(root, container_id, opts)
    c = created.container
    terminal = Terminal(created.console) if created.console is not None else None
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
        status = wait_for_init(c.pid, terminal)
        exec_error = _init_error(created.channel)
    finally:
        if terminal:
            terminal.close()
        if not keep:
            c.lock()
            common.destroy(c)
            common.run_warning_hooks(c.data, "poststop", "stopped", None)
    if exec_error:
        raise PyrunError(exec_error)
    return status


class Terminal:
    """The container's pty as pyrun proxies it in the foreground (runc's behaviour): no
    CR added to output, the window size of pyrun's own terminal, following its resizes.
    Set up before start, so the program's first look at its size is already right."""

    def __init__(self, master: int):
        from pyrun.linux import tty, ttyproxy

        self.master = master
        tty.clear_onlcr(master)
        self.host = ttyproxy.open_host_terminal()  # None when pyrun has no terminal itself
        self.old_winch = tty.follow_resizes(self.host, master) if self.host is not None \
            else None

    def proxy(self, child_exited) -> None:
        from pyrun.linux import ttyproxy

        ttyproxy.proxy(self.master, 0, 1, child_exited=child_exited, terminal_fd=self.host)

    def close(self) -> None:
        if self.host is not None:
            _signal.signal(_signal.SIGWINCH, self.old_winch or _signal.SIG_DFL)
            os.close(self.host)
        os.close(self.master)


def wait_for_init(init_pid: int, terminal: Terminal | None = None) -> int:
    """Forward signals to the init until it exits, proxying its terminal if it has one;
    reap every child re-parented to us. Returns the shell-style status: the exit code, or
    128+N when killed by signal N."""

    def forward(signum, _frame):
        try:
            os.kill(init_pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        _signal.signal(sig, forward)
    statuses = {}
    if terminal is not None:
        terminal.proxy(lambda: _reap(init_pid, statuses, block=False))
    _reap(init_pid, statuses, block=True)
    _reap_orphans()
    code = os.waitstatus_to_exitcode(statuses[init_pid])
    return 128 - code if code < 0 else code


def _reap(init_pid: int, statuses: dict, block: bool) -> bool:
    """Reap children until the init's status is known (or, not blocking, none is left to
    reap now); True once it is."""
    while init_pid not in statuses:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return False
        statuses[pid] = status
    return True


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
        chan.wait()  # after "created", only an error can come
    except sync.ChildFailed as e:
        return e.message
    except (sync.ChannelClosed, sync.UnexpectedMessage, BlockingIOError):
        pass
    return None
