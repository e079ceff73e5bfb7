"""The intermediate process (C): into the container's namespaces, then fork its init.

setns(2) of a pid namespace, and unshare(2) of a new one, apply to the caller's children
only: hence this process, which exists to fork PID 1 of the container.
"""

import _signal
import os

from pyrun.config import Config
from pyrun.errors import wrap
from pyrun.init.common import InitOptions, fork_into, report_and_exit
from pyrun.init.container import container_init
from pyrun.linux import namespaces, userns
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
        join_and_unshare(cfg, chan, opts, sc)
        # P must hear the init's pid before anything from the init itself (which needs
        # no word from P any more): the init waits for our end of this pipe to close.
        told_r, told_w = os.pipe2(os.O_CLOEXEC)
        pid = fork_into(opts.placement, sc)
        if pid == 0:
            os.close(told_w)
            os.read(told_r, 1)  # end of file: the intermediate has sent our pid, or died
            os.close(told_r)
            container_init(cfg, chan, opts, sc)  # never returns
        chan.send_pid(pid)
        os._exit(0)
    except BaseException as e:
        report_and_exit(chan, e)


def join_and_unshare(cfg: Config, chan: Channel, opts: InitOptions,
                     sc=real_syscalls) -> None:
    """Join the namespaces given by path (as the host's root, user first), make a new
    user namespace if asked (P writes its maps), then the other new namespaces, which
    that user namespace then owns. A new cgroup namespace is the init's to make, once it
    is in its cgroup.

    The rootfs is opened here, in the new mount namespace (a mount's source must be in
    the caller's), and while our uid is still the host's root, who may walk the
    directories above it; only then do we become the user namespace's own root."""
    lx = cfg.linux
    to_join = {n.type: n.path for n in lx.namespaces if n.path}
    with wrap("open namespace"):
        fds = namespaces.open_paths(to_join)
    for kind, fd in fds:
        with wrap(f"join {kind} namespace {to_join[kind]}"):
            namespaces.join([(kind, fd)], sc)
    if lx.owns("user"):
        with wrap("unshare user namespace"):
            namespaces.unshare(["user"], sc)
        chan.request_id_maps()
    with wrap("unshare namespaces"):
        namespaces.unshare([n.type for n in lx.namespaces
                            if not n.path and n.type not in ("cgroup", "user")], sc)
    if lx.time_offsets:
        # Before any process enters the new time namespace: our children will.
        with wrap("set the time namespace's offsets"):
            sc.write_file("/proc/self/timens_offsets",
                          userns.timens_offsets_text(lx.time_offsets))
    with wrap(f"open rootfs {cfg.root.path}"):
        opts.rootfs_fd = os.open(cfg.root.path, ROOTFS_FLAGS)
        opts.rootfs_parent_fd = os.open(os.path.dirname(cfg.root.path), ROOTFS_FLAGS)
    if lx.namespace("user"):
        open_bind_sources(cfg, opts)
        with wrap("become root in the user namespace"):
            userns.become_root(sc)
            sc.set_pdeathsig(_signal.SIGKILL)  # a change of uid clears it (prctl(2))


ROOTFS_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def open_bind_sources(cfg: Config, opts: InitOptions) -> None:
    """The sources of bind mounts, opened while we may still walk to them (see above):
    the init binds them from these fds (runc 1.2's mount source fds)."""
    for i, m in enumerate(cfg.mounts):
        if m.type == "bind" or {"bind", "rbind"} & set(m.options):
            source = m.source if m.source.startswith("/") else \
                os.path.join(cfg.bundle, m.source)
            with wrap(f"open the source of mount {m.destination}: {source}"):
                opts.bind_sources[i] = os.open(source, os.O_PATH | os.O_CLOEXEC)
