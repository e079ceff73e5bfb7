"""What runs inside the new namespaces, between fork and execve.

Two processes, forked by `pyrun create` (the parent, P):

    intermediate (C)   intermediate.py: setns into given namespaces, unshare new ones (all
                       but cgroup), fork the init, tell P its pid, exit.
    init (I)           container.py: PID 1 of the new pid namespace. Builds the rootfs
                       (rootfs.py) and the process settings (process.py) in the spec's
                       order, runs the container's hooks (hooks.py), tells P "created",
                       then blocks on exec.fifo until `pyrun start`, and execs the program.

and one more pair by `pyrun exec` (exec.py): a fork that joins the container's namespaces
and forks the process, which applies the process settings and execs.

I enters the container's cgroup by itself, first thing: C forks it into the cgroup v2
directory (clone3's CLONE_INTO_CGROUP), and I writes "0" to each v1 hierarchy's `tasks`.
Moving it from outside, as P once did, costs the kernel an RCU grace period (2-20 ms
here, a third of a run); neither of these does (pyrun.linux.cgroups.base.Placement). I
waits, through a pipe, until C has told P its pid: P hears of I before hearing from it.

Every failure is sent to P as one line ("mount /proc (proc): Operation not permitted")
over the sync channel (pyrun.linux.sync), and the process exits; P reports it and
removes everything it made. Every system call goes through one `sc` object
(pyrun.linux.syscalls), which unit tests replace with a recorder (tests/fakes.py).
"""

from pyrun.init.common import InitOptions
from pyrun.init.intermediate import intermediate

# pyrun.init.exec is imported by `pyrun exec` alone: `create` does not pay for it.
__all__ = ["InitOptions", "intermediate"]
