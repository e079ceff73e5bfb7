"""The container's process settings, shared by the init and `pyrun exec`: its terminal,
limits, identity and privileges, in the only order that works, and the final execve."""

import errno
import os

from pyrun.config import Process
from pyrun.errors import PyrunError, wrap
from pyrun.linux import capabilities, execution, lsm, rlimits, tty, user
from pyrun.linux import syscalls as real_syscalls
from pyrun.linux.sync import Channel

DEFAULT_UMASK = 0o022
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def open_terminal(proc: Process, chan: Channel, sc=real_syscalls, console=False) -> None:
    """process.terminal: a pty from the devpts of our mount namespace (the container's,
    after pivot_root or exec's setns: so /dev/ptmx is the container's); with `console`,
    also seen as /dev/console. Its master goes to pyrun (for the console socket, or to
    proxy) and its slave becomes our controlling terminal and stdio. Only the slave is
    chowned to the container's uid: never the host's stdio."""
    with wrap("allocate a pty in the container's devpts"):
        master, slave, slave_path = tty.open_pty_in_devpts()
        size = proc.console_size
        if size and size[0] and size[1]:
            tty.set_window_size(master, size[0], size[1])
    if console:
        with wrap("bind the pty to /dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            sc.mount(slave_path, "/dev/console", None, sc.MS_BIND)
    chan.send_console(master)
    os.close(master)
    with wrap("make the pty the controlling terminal"):
        tty.make_controlling_terminal(slave, sc)
        sc.fchown(0, proc.user.uid, -1)


def prepare_process(proc: Process, *, new_keyring: bool, preserve_fds: int,
                    chan: Channel | None = None, seccomp=None, personality=None,
                    sc=real_syscalls) -> None:
    """Limits, identity and privileges, in the only order that works (runc's): what
    needs root first (rlimits, oom_score_adj, keyring, scheduling, the labels of the next
    execve); the seccomp filter here if it may not rely on no_new_privs (loading it then
    needs CAP_SYS_ADMIN); the bounding set, the uid switch keeping capabilities, the
    final capability sets and no_new_privs; else the filter last, as close to execve as
    can be, so that it filters as few of pyrun's own calls as possible."""
    for limit in proc.rlimits:
        with wrap(f"set {limit.type}"):
            rlimits.set_limit(limit.type, limit.soft, limit.hard, sc)
    if proc.oom_score_adj is not None:
        with wrap(f"set oom_score_adj {proc.oom_score_adj}"):
            user.set_oom_score_adj(proc.oom_score_adj, sc)
    if new_keyring:
        with wrap("join a new session keyring"):
            _new_session_keyring(sc)
    set_execution(proc, personality, sc)
    set_lsm_labels(proc, sc)
    if not proc.no_new_privileges:
        load_seccomp(seccomp, chan, sc)
    caps = proc.capability_numbers()
    with wrap("drop bounding capabilities"):
        capabilities.drop_bounding(caps["bounding"], sc)
    # The cwd while still root (a directory only root may enter), and again as the
    # container's user if root may not (a volume chowned to that user), as runc.
    entered = _enter_cwd(proc.cwd, sc)
    u = proc.user
    with wrap(f"switch to uid {u.uid} gid {u.gid}"):
        capabilities.set_keepcaps(True, sc)
        user.switch(u.uid, u.gid, u.additional_gids, sc)
        capabilities.set_keepcaps(False, sc)
    if not entered:
        with wrap(f"chdir {proc.cwd}"):
            sc.chdir(proc.cwd)
    with wrap("set capabilities"):
        capabilities.set_process_caps(caps["effective"], caps["permitted"],
                                      caps["inheritable"], sc)
        capabilities.set_ambient(caps["ambient"], caps["permitted"], caps["inheritable"], sc)
    if proc.no_new_privileges:
        with wrap("set no_new_privs"):
            capabilities.set_no_new_privs(sc)
        load_seccomp(seccomp, chan, sc)
    sc.umask(DEFAULT_UMASK if u.umask is None else u.umask)
    keep_only_fds(3 + preserve_fds)


def _enter_cwd(cwd: str, sc) -> bool:
    """chdir as root; False if root may not (to try again as the container's user)."""
    try:
        sc.chdir(cwd)
    except PermissionError:
        return False
    except OSError as e:
        raise PyrunError(f"chdir {cwd}", e.strerror or str(e)) from None
    return True


def set_execution(proc: Process, personality, sc=real_syscalls) -> None:
    """The execution domain (linux.personality), I/O priority and CPU scheduler."""
    if personality is not None:
        with wrap(f"set personality {personality.domain}"):
            execution.set_personality(personality.domain, sc)
    if proc.io_priority is not None:
        io = proc.io_priority
        with wrap(f"set I/O priority {io.io_class} {io.priority}"):
            execution.set_io_priority(io.io_class, io.priority, sc)
    if proc.scheduler is not None:
        s = proc.scheduler
        with wrap(f"set scheduler {s.policy}"):
            execution.set_scheduler(s.policy, s.flags, s.nice, s.priority, s.runtime,
                                    s.deadline, s.period, sc)


def set_lsm_labels(proc: Process, sc=real_syscalls) -> None:
    """The AppArmor profile (pyrun refused it at create if AppArmor is off) and SELinux
    label (ignored where SELinux is off, as runc) the program is executed under."""
    if proc.apparmor_profile:
        with wrap(f"set AppArmor profile {proc.apparmor_profile}"):
            lsm.exec_under_apparmor_profile(proc.apparmor_profile, sc)
    if proc.selinux_label and lsm.selinux_enabled():
        with wrap(f"set SELinux label {proc.selinux_label}"):
            lsm.exec_under_selinux_label(proc.selinux_label, sc)


def load_seccomp(seccomp, chan: Channel | None, sc=real_syscalls) -> None:
    """Load the filter pyrun compiled; a notify fd goes to pyrun, for the agent."""
    if seccomp is None:
        return
    with wrap("load the seccomp filter"):
        notify_fd = sc.seccomp_load(seccomp)
    if notify_fd is not None:
        chan.send_seccomp_fd(notify_fd)
        os.close(notify_fd)


def find_program(proc: Process) -> str:
    """args[0] resolved with the container's PATH (execve itself does not search)."""
    name = proc.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(proc.cwd, name)]
    else:
        path = next((e[5:] for e in reversed(proc.env) if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    if "/" in name:
        if os.path.isdir(candidates[0]):
            raise PyrunError(f'exec "{name}"', "is a directory")
        raise PyrunError(f'exec "{name}"', "no such file or directory")
    raise PyrunError(f'exec "{name}"', "executable file not found in $PATH")


def keep_only_fds(first_closed: int) -> None:
    """Fds 0..first_closed-1 reach the container; every other fd closes at exec."""
    for fd in range(3, first_closed):
        os.set_inheritable(fd, True)
    try:
        open_fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = range(first_closed, 1024)
    for fd in open_fds:
        if fd >= first_closed:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def exec_program(program: str, proc: Process, sc=real_syscalls):
    env = dict(e.split("=", 1) for e in proc.env)
    sc.reset_signals()
    with wrap(f'exec "{proc.args[0]}"'):
        sc.execve(program, proc.args, env)


def _new_session_keyring(sc) -> None:
    """A fresh session keyring, so the container cannot read the host's keys."""
    try:
        sc.keyctl_join_session_keyring(None)
    except OSError as e:
        if e.errno != errno.ENOSYS:  # a kernel without keyrings: nothing to isolate
            raise
