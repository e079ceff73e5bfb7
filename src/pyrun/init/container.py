"""The container's init (I): PID 1 of the container, from fork to execve.

`run_container_init` reads top to bottom in the order of the runtime spec's lifecycle
(runtime.md, "Lifecycle"): namespaces are made by now (intermediate.py); then the rootfs
and the create hooks (rootfs.py), the terminal, identity, the finishing touches on the
rootfs, the process settings (process.py), "created", the wait for `pyrun start`, the
startContainer hooks (hooks.py), and execve.
"""

import os

from pyrun.config import Config
from pyrun.errors import wrap
from pyrun.init import hooks, process, rootfs
from pyrun.init.common import InitOptions, join_cgroup, join_cgroup_late, report_and_exit
from pyrun.linux import namespaces, network, system
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


class CgroupEntry:
    """The init enters its cgroup in two steps (pyrun.linux.cgroups.base.Placement): every
    hierarchy but v1's memory first thing, then, once, `complete()`: v1's memory, and the
    container's own cgroup namespace (whose root is the cgroup we are in at that moment).
    Completed as late as it may be: before a "cgroup" mount, before the create hooks (they
    see the container in its cgroup), and before the process settings."""

    def __init__(self, cfg: Config, opts: InitOptions, sc=real_syscalls):
        self.new_namespace = cfg.linux.owns("cgroup")
        self.placement = opts.placement
        self.sc = sc
        self.done = False
        join_cgroup(self.placement, late_too=False)

    def complete(self) -> None:
        if self.done:
            return
        join_cgroup_late(self.placement)
        if self.new_namespace:
            with wrap("unshare cgroup namespace"):
                namespaces.unshare(["cgroup"], self.sc)
        self.done = True


def container_init(cfg: Config, chan: Channel, opts: InitOptions, sc=real_syscalls):
    """PID 1 of the container; never returns."""
    try:
        run_container_init(cfg, chan, opts, sc)
    except BaseException as e:
        report_and_exit(chan, e)


def run_container_init(cfg: Config, chan: Channel, opts: InitOptions, sc=real_syscalls):
    """Everything the init does, in order. Returns only when `sc.execve` does (a test's)."""
    cgroup = CgroupEntry(cfg, opts, sc)
    sc.setsid()
    sc.umask(0)  # device nodes and mountpoints get exactly the modes asked for
    if cfg.linux.owns("network"):
        with wrap("bring up loopback"):
            network.loopback_up(sc)
    hook_state = rootfs.prepare_rootfs(cfg, opts, cgroup, chan, sc)
    if cfg.process.terminal:
        # /dev/console too, unless /dev is the host's, or the mount table is not ours
        console = cfg.linux.owns("mount") and not rootfs.dev_is_bound(cfg)
        process.open_terminal(cfg.process, chan, sc, console=console)
    set_identity(cfg, sc)  # before finalize_rootfs makes /proc/sys read-only
    rootfs.finalize_rootfs(cfg, sc)
    cgroup.complete()
    program = process.find_program(cfg.process)
    process.prepare_process(cfg.process, new_keyring=not opts.no_new_keyring,
                            preserve_fds=opts.preserve_fds, chan=chan, seccomp=opts.seccomp,
                            personality=cfg.linux.personality, sc=sc)
    chan.send_created()
    started = wait_for_start(opts.fifo_fd, opts.host_proc_fd)
    hooks.run_start_hooks(cfg, hook_state, started)
    process.exec_program(program, cfg.process, sc)


def set_identity(cfg: Config, sc=real_syscalls) -> None:
    """Hostname, domainname and namespaced sysctls (validated against the namespaces)."""
    if cfg.hostname:
        with wrap(f"set hostname {cfg.hostname!r}"):
            system.set_hostname(cfg.hostname, sc)
    if cfg.domainname:
        with wrap(f"set domainname {cfg.domainname!r}"):
            system.set_domainname(cfg.domainname, sc)
    for key, value in cfg.linux.sysctl.items():
        with wrap(f"sysctl {key}={value}"):
            system.set_sysctl(key, value, sc)


def wait_for_start(fifo_fd: int, host_proc: int) -> int:
    """Block until `pyrun start` opens exec.fifo for reading, then tell it we go. The write
    end stays open (close-on-exec) until execve: `start` reads to its end.

    The O_PATH fd is reopened for writing through its /proc/self/fd magic link, which
    checks only the fifo's own mode: the state directory (0700) is out of reach of a
    container uid that is not root."""
    with wrap("wait for start on exec.fifo"):
        fd = os.open(f"self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=host_proc)
        os.close(host_proc)
        os.write(fd, b"0")
        os.close(fifo_fd)
    return fd
