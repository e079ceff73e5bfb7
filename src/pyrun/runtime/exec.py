"""`pyrun exec`: run another process in a running container.

The process starts from the container's own `process` (kept in state.json at create) with
the command line's changes, or from `--process FILE`. A fork joins the container's cgroup
and namespaces and forks the process inside them (see pyrun.init.exec_intermediate); in the
foreground pyrun then waits for it like `run` does and exits with its status.
"""

import os

from pyrun import config, failpoints, state
from pyrun.errors import PyrunError, wrap
from pyrun.init.exec import exec_intermediate
from pyrun.linux import namespaces, sync
from pyrun.linux.sync import Channel
from pyrun.runtime import common, security
from pyrun.runtime.create import (
    check_terminal,
    connect_console_socket,
    hand_over_console,
    write_pid_file,
)


class ExecOptions:
    __slots__ = ("args", "process_file", "cwd", "env", "user", "additional_gids", "caps",
                 "no_new_privs", "tty", "console_socket", "detach", "pid_file",
                 "preserve_fds", "apparmor", "process_label", "ignore_paused")

    def __init__(self, args=(), process_file=None, cwd=None, env=(), user=None,
                 additional_gids=(), caps=(), no_new_privs=False, tty=False,
                 console_socket=None, detach=False, pid_file=None, preserve_fds=0,
                 apparmor=None, process_label=None, ignore_paused=False):
        self.args = list(args)
        self.process_file = process_file
        self.cwd = cwd
        self.env = list(env)
        self.user = user
        self.additional_gids = list(additional_gids)
        self.caps = list(caps)
        self.no_new_privs = no_new_privs
        self.tty = tty
        self.console_socket = console_socket
        self.detach = detach
        self.pid_file = pid_file
        self.preserve_fds = preserve_fds
        self.apparmor = apparmor  # profile and label instead of the container's
        self.process_label = process_label
        self.ignore_paused = ignore_paused  # start it frozen, to run once resumed


def exec_in(root: str, container_id: str, opts: ExecOptions) -> int:
    c = state.open_container(root, container_id)
    # As runc: a created container's namespaces are there to join (its init waits for
    # start); a stopped one's are gone.
    status = common.status_of(c)
    if status == "stopped":
        raise PyrunError("cannot exec in a stopped container")
    if status == "paused" and not opts.ignore_paused:
        raise PyrunError("cannot exec in a paused container (use --ignore-paused to "
                         "override)")
    proc = process_for(c, opts)
    check_terminal(proc.terminal, opts.detach, opts.console_socket)
    security.check_lsm(proc)
    profile = config.parse_seccomp(c.data["seccomp"]) if c.data.get("seccomp") else None
    seccomp = security.compile_seccomp(profile)  # the container's filter: exec's too
    if proc.terminal and not opts.detach and not proc.console_size:
        proc.console_size = _host_terminal_size()  # set before the process starts, as runc
    console_socket = connect_console_socket(opts.console_socket)
    if not opts.detach:
        from pyrun.linux import syscalls

        syscalls.set_child_subreaper()  # the process is our grandchild
    pid, master = _start(c, proc, opts.preserve_fds, seccomp, profile)
    failpoints.reached("exec: the process started")
    if master is not None:
        master = hand_over_console(master, console_socket)
    if opts.pid_file:
        write_pid_file(opts.pid_file, pid)
    if opts.detach:
        return 0
    from pyrun.runtime.run import Terminal, wait_for_init

    terminal = Terminal(master) if master is not None else None
    try:
        return wait_for_init(pid, terminal)
    finally:
        if terminal:
            terminal.close()


def process_for(c: state.Container, opts: ExecOptions) -> config.Process:
    """The process to run: --process FILE, or the container's process (as create kept it
    in state.json) with the command line's changes applied to the model."""
    if opts.process_file:
        return config.parse_process(_read_json(opts.process_file), "process")
    if not opts.args:
        raise PyrunError("exec needs a command (or --process FILE)")
    proc = config.parse_process(dict(c.data.get("process") or {}, args=opts.args), "process")
    proc.terminal = opts.tty
    proc.env = _merged_env(proc.env, opts.env)
    if opts.cwd:
        if not opts.cwd.startswith("/"):
            raise PyrunError(f"--cwd {opts.cwd!r}", "must be an absolute path")
        proc.cwd = opts.cwd
    _apply_user(proc.user, opts.user, opts.additional_gids)
    if opts.caps:
        caps = {name: list(names) for name, names in (proc.capabilities or {}).items()}
        for kind in ("bounding", "effective", "permitted"):
            caps[kind] = caps.get(kind, []) + opts.caps
        proc.capabilities = config.parse_capabilities(caps)
    if opts.no_new_privs:
        proc.no_new_privileges = True
    if opts.apparmor is not None:
        proc.apparmor_profile = opts.apparmor
    if opts.process_label is not None:
        proc.selinux_label = opts.process_label
    return proc


def _start(c: state.Container, proc: config.Process, preserve_fds: int, seccomp, profile):
    """Fork into the container; returns the process's pid once it has exec'd, and its pty
    master if it has a terminal.

    The process joins the cgroup by itself, as the init does (cgroups.base.Placement): no
    pyrun process ever does. A container paused since exec_in checked joins frozen, and
    waits for `resume`, as runc's does; `exec --ignore-paused` asks for that."""
    ns_fds = namespaces.open_paths(_namespaces_to_join(c.pid))
    with wrap("open the container's root"):
        root_fd = os.open(f"/proc/{c.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    with wrap("join cgroup"):
        placement = common.cgroup_of(c).placement()
    if any(kind == "user" for kind, _ in ns_fds):
        placement.without_clone()  # forked by a user namespace's root: see Placement
    parent, child = Channel.pair()
    try:
        pid = os.fork()
        if pid == 0:
            exec_intermediate(child, ns_fds, root_fd, proc, preserve_fds, [parent.fileno()],
                              seccomp, placement)
    finally:
        child.close()
        placement.close()
        os.close(root_fd)
        for _, fd in ns_fds:
            os.close(fd)
    failpoints.reached("exec: forked")
    return _await_exec(parent, pid, c, profile)


def _await_exec(chan: Channel, fork_pid: int, c: state.Container, profile):
    """The process's pid (from the fork), and its pty master and seccomp notify fd (from
    the process), in any order, until end of file: the fork exited and the process
    exec'd (the channel is close-on-exec)."""
    pid = master = None
    try:
        while True:
            message = chan.wait(sync.PID, sync.CONSOLE, sync.SECCOMP_FD)
            if message.kind == sync.PID:
                pid = message.data["pid"]
            elif message.kind == sync.SECCOMP_FD and message.fds:
                state = {"ociVersion": c.data.get("oci_version", ""), "id": c.id,
                         "status": "running", "pid": c.pid,
                         "bundle": c.data.get("bundle", "")}
                security.hand_over_seccomp_fd(message.fds[0], profile, state)
            elif message.fds:
                master = message.fds[0]
    except sync.ChannelClosed:
        pass
    except BaseException:
        if master is not None:
            os.close(master)
        raise
    finally:
        chan.close()
        os.waitpid(fork_pid, 0)
    if pid is None:
        if master is not None:
            os.close(master)
        raise PyrunError("exec setup process exited without a word")
    return pid, master


def _host_terminal_size():
    from pyrun.linux import tty, ttyproxy

    host = ttyproxy.open_host_terminal()
    if host is None:
        return None
    try:
        return tty.get_window_size(host)
    except OSError:
        return None
    finally:
        os.close(host)


def _namespaces_to_join(init_pid: int) -> dict[str, str]:
    """Every namespace of the container's init that differs from ours, by /proc path."""
    paths = {}
    for kind in namespaces.JOIN_ORDER:
        name = namespaces.proc_name(kind)
        theirs = f"/proc/{init_pid}/ns/{name}"
        try:
            if os.readlink(theirs) != os.readlink(f"/proc/self/ns/{name}"):
                paths[kind] = theirs
        except FileNotFoundError:
            continue  # a namespace kind this kernel lacks (time, before 5.6)
    return paths


def _merged_env(base: list[str], extra: list[str]) -> list[str]:
    """`-e NAME=value` overrides the container's NAME; new names are added."""
    env = {e.split("=", 1)[0]: e for e in base}
    for entry in extra:
        if "=" not in entry:
            raise PyrunError(f"--env {entry!r}", "expected NAME=value")
        env[entry.split("=", 1)[0]] = entry
    return list(env.values())


def _apply_user(user: config.model.User, spec: str | None, gids: list[str]) -> None:
    """--user UID[:GID] and --additional-gids, onto the container's user."""
    if spec:
        uid, _, gid = spec.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise PyrunError(f"--user {spec!r}", "expected uid[:gid] as numbers")
        user.uid = int(uid)
        if gid:
            user.gid = int(gid)
    if gids:
        if not all(g.isdigit() for g in gids):
            raise PyrunError(f"--additional-gids {gids}", "expected numbers")
        user.additional_gids = [int(g) for g in gids]


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read(config.MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise PyrunError(f"--process {path}", e.strerror or str(e)) from None
    if len(raw) > config.MAX_CONFIG_BYTES:
        raise PyrunError(f"--process {path}", "larger than 8 MiB")
    return config.parse_json(raw, f"--process {path}")
