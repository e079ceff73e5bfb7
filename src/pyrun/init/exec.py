"""`pyrun exec`: a new process in a running container's namespaces and cgroup.

    exec's fork          joins the namespaces (setns of a pid namespace applies to its
                         children) and the init's root, forks the process into the
                         container's cgroup, reports its pid, exits; it never joins the
                         cgroup itself
    the process          joins the cgroup (the rest of it), the container's process
                         settings (process.py), then execve
"""

import os

from pyrun.config import Process, cpu_set
from pyrun.errors import wrap
from pyrun.init import process
from pyrun.init.common import chroot_into, fork_into, join_cgroup, report_and_exit
from pyrun.linux import execution, namespaces, userns
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


def exec_intermediate(chan: Channel, ns_fds: list[tuple[str, int]], root_fd: int,
                      proc: Process, preserve_fds: int, close_fds: list[int], seccomp=None,
                      placement=None, sc=real_syscalls):
    """Runs in the exec command's fork; never returns. It never joins the cgroup: only the
    process does (see pyrun.linux.cgroups.base.Placement)."""
    try:
        for fd in close_fds:
            os.close(fd)
        affinity = proc.exec_cpu_affinity
        if affinity and affinity.initial:  # the process's before it joins the cgroup
            with wrap("set execCPUAffinity.initial"):
                execution.set_cpus(0, cpu_set("process.execCPUAffinity.initial",
                                              affinity.initial), sc)
        for kind, fd in ns_fds:
            with wrap(f"join the container's {kind} namespace"):
                namespaces.join([(kind, fd)], sc)
        if any(kind == "user" for kind, _ in ns_fds):
            with wrap("become root in the container's user namespace"):
                userns.become_root(sc)
        enter_root(root_fd, sc)
        pid = fork_into(placement, sc)
        if pid == 0:
            exec_process(chan, proc, preserve_fds, seccomp, placement, sc)
        chan.send_pid(pid)
        os._exit(0)
    except BaseException as e:
        report_and_exit(chan, e)


def enter_root(root_fd: int, sc=real_syscalls) -> None:
    """The init's root (`root_fd`: its /proc/PID/root) becomes ours. Joining the mount
    namespace alone gives that namespace's root: the container's after its pivot_root, but
    not when the container has no mount namespace of its own (its init chrooted) or when
    pyrun itself runs chrooted."""
    with wrap("enter the container's root"):
        chroot_into(root_fd, sc)
    os.close(root_fd)


def exec_process(chan: Channel, proc: Process, preserve_fds: int, seccomp=None,
                 placement=None, sc=real_syscalls):
    """The exec'd process: into the cgroup, the container's process settings (its seccomp
    filter too), then execve. Never returns; the channel closes at execve (close-on-exec),
    which tells pyrun it worked."""
    try:
        join_cgroup(placement)
        sc.setsid()
        affinity = proc.exec_cpu_affinity
        if affinity and affinity.final:  # in the container's cgroup now
            with wrap("set execCPUAffinity.final"):
                execution.set_cpus(0, cpu_set("process.execCPUAffinity.final",
                                              affinity.final), sc)
        if proc.terminal:
            process.open_terminal(proc, chan, sc)
        program = process.find_program(proc)
        process.prepare_process(proc, new_keyring=False, preserve_fds=preserve_fds,
                                chan=chan, seccomp=seccomp, sc=sc)
        process.exec_program(program, proc, sc)
    except BaseException as e:
        report_and_exit(chan, e)
