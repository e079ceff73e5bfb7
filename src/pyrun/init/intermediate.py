"""The intermediate process (C): into the container's namespaces, then fork its init.

setns(2) of a pid namespace, and unshare(2) of a new one, apply to the caller's children
only: hence this process, which exists to fork PID 1 of the container.
"""

import _signal
import os

from pyrun.config import Config
from pyrun.errors import wrap
from pyrun.init.common import InitOptions, report_and_exit
from pyrun.init.container import container_init
from pyrun.linux import namespaces
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


def intermediate(cfg: Config, chan: Channel, opts: InitOptions, sc=real_syscalls):
    """Runs in P's fork; never returns."""
    try:
        parent = os.getppid()
        for fd in opts.close_fds:
            os.close(fd)
        sc.set_pdeathsig(_signal.SIGKILL)  # die with P while it still needs us
        if os.getppid() != parent:
            os._exit(1)  # P died before the line above: nobody would reap us
        join_and_unshare(cfg, sc)
        pid = os.fork()
        if pid == 0:
            container_init(cfg, chan, opts, sc)  # never returns
        chan.send_pid(pid)
        os._exit(0)
    except BaseException as e:
        report_and_exit(chan, e)


def join_and_unshare(cfg: Config, sc=real_syscalls) -> None:
    ns = cfg.linux.namespaces
    to_join = {n.type: n.path for n in ns if n.path}
    with wrap("open namespace"):
        fds = namespaces.open_paths(to_join)
    for kind, fd in fds:
        with wrap(f"join {kind} namespace {to_join[kind]}"):
            namespaces.join([(kind, fd)], sc)
    with wrap("unshare namespaces"):
        # A new cgroup namespace is the init's to make, once it is in its cgroup.
        namespaces.unshare([n.type for n in ns if not n.path and n.type != "cgroup"], sc)
