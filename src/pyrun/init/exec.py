"""`pyrun exec`: a new process in a running container's namespaces and cgroup.

    exec's fork          waits until pyrun has moved it into the container's cgroup,
                         joins the namespaces (setns of a pid namespace applies to its
                         children), forks the process, reports its pid, exits
    the process          the container's process settings (process.py), then execve
"""

import os

from pyrun.config import Process
from pyrun.errors import wrap
from pyrun.init import process
from pyrun.init.common import report_and_exit
from pyrun.linux import namespaces
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel


def exec_intermediate(chan: Channel, ns_fds: list[tuple[str, int]], proc: Process,
                      preserve_fds: int, close_fds: list[int], sc=real_syscalls):
    """Runs in the exec command's fork; never returns. It never joins the cgroup itself:
    pyrun moves it in from outside, since joining a frozen cgroup would stop it for good."""
    try:
        for fd in close_fds:
            os.close(fd)
        chan.wait_cgroup_joined()
        for kind, fd in ns_fds:
            with wrap(f"join the container's {kind} namespace"):
                namespaces.join([(kind, fd)], sc)
        pid = os.fork()
        if pid == 0:
            exec_process(chan, proc, preserve_fds, sc)
        chan.send_pid(pid)
        os._exit(0)
    except BaseException as e:
        report_and_exit(chan, e)


def exec_process(chan: Channel, proc: Process, preserve_fds: int, sc=real_syscalls):
    """The exec'd process: the container's process settings, then execve. Never returns;
    the channel closes at execve (close-on-exec), which tells pyrun it worked."""
    try:
        sc.setsid()
        if proc.terminal:
            process.open_terminal(proc, chan, sc)
        program = process.find_program(proc)
        process.prepare_process(proc, new_keyring=False, preserve_fds=preserve_fds, sc=sc)
        process.exec_program(program, proc, sc)
    except BaseException as e:
        report_and_exit(chan, e)
