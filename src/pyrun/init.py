"""What runs inside the new namespaces, between fork and execve.

Two processes, forked by `pyrun create` (the parent, P):

    intermediate (C): setns into given namespaces, unshare new ones (all but cgroup), fork
                      the init, tell P its pid, exit.
    init (I):         PID 1 of the new pid namespace. Builds the rootfs and the process
                      settings in the order below, tells P "created", then blocks on
                      exec.fifo until `pyrun start`, and execs the container's program.

P moves I into the container's cgroup while I builds the rootfs, and I waits for that
("cgroup joined") only where it needs it: before unsharing its cgroup namespace (whose
root is the cgroup it is in at that moment), before a "cgroup" mount, and before going
on to the process settings. Overlapping pays: the first cgroup.procs write of a run costs
~11 ms (the kernel's threadgroup rwsem switching to its slow mode), a third of a run.

Every failure is sent to P as one line ("mount /proc: Operation not permitted") over the
sync channel, and the process exits; P reports it and removes everything it made.
"""

import os

from pyrun.config import Config, Process
from pyrun.linux import (
    capabilities,
    devices,
    mounts,
    namespaces,
    network,
    paths,
    rlimits,
    system,
    tty,
    user,
)
from pyrun.linux import syscalls as sc
from pyrun.linux.sync import Channel

DEFAULT_UMASK = 0o022


class InitOptions:
    """What the command line adds to the config."""

    __slots__ = ("fifo_fd", "host_proc_fd", "no_pivot", "no_new_keyring", "preserve_fds",
                 "cgroup_mounts", "close_fds", "hooks", "runtime_hooks", "terminal")

    def __init__(self, fifo_fd, host_proc_fd, no_pivot=False, no_new_keyring=False,
                 preserve_fds=0, cgroup_mounts=(), close_fds=(), hooks=None,
                 runtime_hooks=False, terminal=False):
        self.fifo_fd = fifo_fd  # O_PATH on exec.fifo, opened by P: the init's view may lack it
        # The host's /proc, to reopen the fifo through once the rootfs is entered (the
        # container may have no /proc). Closed before anything of the container's runs.
        self.host_proc_fd = host_proc_fd
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds  # fds 3 .. 3+N-1 stay open in the container
        self.cgroup_mounts = list(cgroup_mounts)  # (name, host dir) for a "cgroup" mount
        self.close_fds = list(close_fds)  # P's fds the children must not keep (the lock)
        self.hooks = hooks or {}  # the hooks the init runs: createContainer, startContainer
        self.runtime_hooks = runtime_hooks  # P has prestart/createRuntime hooks to run
        self.terminal = terminal  # process.terminal: a pty from the container's devpts


class Step:
    """`with Step("mount /proc"):` turns an OSError into InitError("mount /proc: reason")."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, OSError) and not isinstance(err, InitError):
            raise InitError(f"{self.what}: {err.strerror or err}") from None
        return False


class InitError(OSError):
    """A setup step failed; the message is the one line P prints."""


# ---------------------------------------------------------------------------------------
# The intermediate process


def intermediate(cfg: Config, chan: Channel, opts: InitOptions):
    """Runs in P's fork; never returns."""
    try:
        for fd in opts.close_fds:
            os.close(fd)
        import _prctl

        _prctl.prctl(_prctl.PR_SET_PDEATHSIG, 9)  # die with P while it still needs us
        join_and_unshare(cfg)
        pid = os.fork()
        if pid == 0:
            container_init(cfg, chan, opts, CgroupGate(chan, _owns(cfg, "cgroup")))
        chan.send({"type": "pid", "pid": pid})
        os._exit(0)
    except BaseException as e:
        _report_and_exit(chan, e)


def join_and_unshare(cfg: Config) -> None:
    ns = cfg.linux.namespaces
    to_join = {n.type: n.path for n in ns if n.path}
    with Step("open namespace"):
        fds = namespaces.open_paths(to_join)
    for kind, fd in fds:
        with Step(f"join {kind} namespace {to_join[kind]}"):
            namespaces.join([(kind, fd)])
    with Step("unshare namespaces"):
        # A new cgroup namespace is the init's to make, once it is in its cgroup.
        namespaces.unshare([n.type for n in ns if not n.path and n.type != "cgroup"])


class CgroupGate:
    """Waits (once) for P's word that the init is in its cgroup, then unshares the
    cgroup namespace if the container has its own."""

    def __init__(self, chan: Channel, new_namespace: bool):
        self.chan = chan
        self.new_namespace = new_namespace
        self.passed = False

    def wait(self) -> None:
        if self.passed:
            return
        message = self.chan.recv()
        if message.get("type") != "cgroup joined":
            raise InitError(f"expected cgroup joined, got {message}")
        if self.new_namespace:
            with Step("unshare cgroup namespace"):
                namespaces.unshare(["cgroup"])
        self.passed = True


# ---------------------------------------------------------------------------------------
# The container's init


def container_init(cfg: Config, chan: Channel, opts: InitOptions, gate: CgroupGate):
    """PID 1 of the container; never returns."""
    try:
        os.setsid()
        os.umask(0)  # device nodes and mountpoints get exactly the modes asked for
        if _owns(cfg, "network"):
            with Step("bring up loopback"):
                network.loopback_up()
        hook_state = prepare_rootfs(cfg, opts, gate, chan)
        if opts.terminal:
            setup_terminal(cfg, chan)
        set_identity(cfg)  # before finalize_rootfs makes /proc/sys read-only
        finalize_rootfs(cfg)
        gate.wait()
        proc = cfg.process
        program = find_program(proc)
        prepare_process(proc, new_keyring=not opts.no_new_keyring,
                        preserve_fds=opts.preserve_fds)
        chan.send({"type": "created"})
        started = wait_for_start(opts.fifo_fd, opts.host_proc_fd)
        run_start_hooks(opts, hook_state, started)
        exec_program(program, proc)
    except BaseException as e:
        _report_and_exit(chan, e)


def prepare_rootfs(cfg: Config, opts: InitOptions, gate: CgroupGate, chan: Channel):
    """The mount table, from the host's view to the container's (with finalize_rootfs,
    every mount is here). The create hooks run between the mounts and pivot_root; returns
    the state they were given (None without hooks), for startContainer."""
    if not _owns(cfg, "mount"):
        return chroot_rootfs(cfg, opts, gate, chan)
    rootfs = cfg.root.path
    with Step("make / rslave"):
        # rslave, as runc: unmounts on the host still reach us (so we never pin a host
        # mount busy), and nothing we mount goes back to the host.
        mounts.make_root_private(mounts.MS_SLAVE | mounts.MS_REC)
    with Step(f"bind rootfs {rootfs}"):
        mounts.bind_rootfs(rootfs)
    with Step(f"open rootfs {rootfs}"):
        rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev_is_bind = False
        for m in cfg.mounts:
            if m.type == "cgroup":
                gate.wait()
            dev_is_bind |= mount_one(rootfd, cfg, m, opts)
        if not dev_is_bind:
            with Step("create devices in /dev"):
                devices.populate_dev(rootfd, [_node(d) for d in cfg.linux.devices])
        with Step(f"create cwd {cfg.process.cwd}"):
            os.close(paths.make_dirs(rootfd, cfg.process.cwd))
    finally:
        os.close(rootfd)
    hook_state = run_create_hooks(opts, gate, chan)
    if opts.no_pivot:
        with Step("move rootfs to / (--no-pivot)"):
            mounts.move_root(rootfs)
    else:
        with Step(f"pivot_root {rootfs}"):
            mounts.pivot_root(rootfs)
    return hook_state


def chroot_rootfs(cfg: Config, opts: InitOptions, gate: CgroupGate, chan: Channel):
    """No mount namespace of the container's own (none asked for, or another's joined):
    that mount table is not ours to change, so no mount is made at all (config refuses
    the fields that would need one) and the rootfs is entered with chroot, as runc does.
    pivot_root here would swap the root of every process in that namespace."""
    rootfs = cfg.root.path
    with Step(f"open rootfs {rootfs}"):
        rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with Step(f"create cwd {cfg.process.cwd}"):
            os.close(paths.make_dirs(rootfd, cfg.process.cwd))
    finally:
        os.close(rootfd)
    hook_state = run_create_hooks(opts, gate, chan)
    capabilities.last_cap()  # from the host's /proc: the rootfs may have none mounted
    with Step(f"chroot {rootfs}"):
        os.chroot(rootfs)
        os.chdir("/")
    return hook_state


def finalize_rootfs(cfg: Config) -> None:
    """Inside the new root: hide and freeze what the container must not touch."""
    propagation = mounts.PROPAGATION_OPTIONS.get(cfg.linux.rootfs_propagation)
    for path in cfg.linux.masked_paths:
        with Step(f"mask {path}"):
            mounts.mask_path(path)
    for path in cfg.linux.readonly_paths:
        with Step(f"make {path} read-only"):
            mounts.readonly_path(path)
    if cfg.root.readonly:
        with Step("remount / read-only"):
            mounts.remount_readonly("/")
    if propagation:
        with Step(f"set / propagation {cfg.linux.rootfs_propagation}"):
            mounts.set_root_propagation(propagation)


def setup_terminal(cfg: Config, chan: Channel) -> None:
    """process.terminal: a pty from the container's own devpts (after pivot_root, so
    /dev/ptmx is the container's), also seen as /dev/console; its master goes to pyrun
    (for the console socket, or to proxy) and its slave becomes our controlling terminal
    and stdio. Only the slave is chowned to the container's uid: never the host's stdio."""
    proc = cfg.process
    with Step("allocate a pty in the container's devpts"):
        master, slave, slave_path = tty.open_pty_in_devpts()
    size = proc.console_size
    if size and size[0] and size[1]:
        with Step("set the console size"):
            tty.set_window_size(master, size[0], size[1])
    if _owns(cfg, "mount") and not _dev_is_bound(cfg):
        with Step("bind the pty to /dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            sc.mount(slave_path, "/dev/console", None, sc.MS_BIND)
    chan.send({"type": "console"}, fds=[master])
    os.close(master)
    with Step("make the pty the controlling terminal"):
        tty.make_controlling_terminal(slave)
        os.fchown(0, proc.user.uid, -1)


def _exec_terminal(proc: Process, chan: Channel) -> None:
    """exec --tty: a pty from the container's devpts (we are in its mount namespace)."""
    with Step("allocate a pty in the container's devpts"):
        master, slave, _ = tty.open_pty_in_devpts()
        size = proc.console_size
        if size and size[0] and size[1]:
            tty.set_window_size(master, size[0], size[1])
    chan.send({"type": "console"}, fds=[master])
    os.close(master)
    with Step("make the pty the controlling terminal"):
        tty.make_controlling_terminal(slave)
        os.fchown(0, proc.user.uid, -1)


def _dev_is_bound(cfg: Config) -> bool:
    """/dev comes from the host (a bind): pyrun makes no device nodes in it."""
    return any(m.destination == "/dev" and (m.type == "bind" or
                                            {"bind", "rbind"} & set(m.options))
               for m in cfg.mounts)


def mount_one(rootfd: int, cfg: Config, m, opts: InitOptions) -> bool:
    """Mount one config entry; returns True when it bind-mounts the whole /dev."""
    try:
        parsed = mounts.parse_options(m.options)
    except mounts.UnsupportedOption as e:
        raise InitError(f"mount {m.destination}: option {e}: not supported yet") from None
    if m.type == "bind":
        parsed.flags |= sc.MS_BIND
    source = m.source
    if parsed.is_bind and not source.startswith("/"):
        source = os.path.join(cfg.bundle, source)
    with Step(f"mount {m.destination} ({m.type or 'bind'})"):
        if m.type == "cgroup":
            mounts.mount_cgroup_tree(rootfd, m.destination, parsed, opts.cgroup_mounts,
                                     own_namespace=_owns(cfg, "cgroup"))
        else:
            mounts.mount_entry(rootfd, m.destination, m.type, source, parsed)
    return parsed.is_bind and m.destination == "/dev"


def set_identity(cfg: Config) -> None:
    """Hostname, domainname and namespaced sysctls (validated against the namespaces)."""
    if cfg.hostname:
        with Step(f"set hostname {cfg.hostname!r}"):
            system.set_hostname(cfg.hostname)
    if cfg.domainname:
        with Step(f"set domainname {cfg.domainname!r}"):
            system.set_domainname(cfg.domainname)
    for key, value in cfg.linux.sysctl.items():
        with Step(f"sysctl {key}={value}"):
            system.set_sysctl(key, value)


def prepare_process(proc: Process, *, new_keyring: bool, preserve_fds: int) -> None:
    """Limits, identity and privileges, in the only order that works: what needs root
    first (rlimits, oom_score_adj, keyring, bounding set), then the uid switch keeping
    capabilities, then the final capability sets and no_new_privs."""
    for limit in proc.rlimits:
        with Step(f"set {limit.type}"):
            rlimits.set_limit(limit.type, limit.soft, limit.hard)
    if proc.oom_score_adj is not None:
        with Step(f"set oom_score_adj {proc.oom_score_adj}"):
            user.set_oom_score_adj(proc.oom_score_adj)
    if new_keyring:
        with Step("join a new session keyring"):
            _new_session_keyring()
    caps = _capability_numbers(proc)
    with Step("drop bounding capabilities"):
        capabilities.drop_bounding(caps["bounding"])
    u = proc.user
    with Step(f"switch to uid {u.uid} gid {u.gid}"):
        capabilities.set_keepcaps(True)
        user.switch(u.uid, u.gid, u.additional_gids)
        capabilities.set_keepcaps(False)
    with Step(f"chdir {proc.cwd}"):
        os.chdir(proc.cwd)
    with Step("set capabilities"):
        capabilities.set_process_caps(caps["effective"], caps["permitted"], caps["inheritable"])
        capabilities.set_ambient(caps["ambient"], caps["permitted"], caps["inheritable"])
    if proc.no_new_privileges:
        with Step("set no_new_privs"):
            capabilities.set_no_new_privs()
    os.umask(DEFAULT_UMASK if u.umask is None else u.umask)
    keep_only_fds(3 + preserve_fds)


def find_program(proc: Process) -> str:
    """args[0] resolved with the container's PATH (execve itself does not search)."""
    name = proc.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(proc.cwd, name)]
    else:
        path = next((e[5:] for e in reversed(proc.env) if e.startswith("PATH=")),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    if "/" in name:
        if os.path.isdir(candidates[0]):
            raise InitError(f'exec "{name}": is a directory')
        raise InitError(f'exec "{name}": no such file or directory')
    raise InitError(f'exec "{name}": executable file not found in $PATH')


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


def run_create_hooks(opts: InitOptions, gate: CgroupGate, chan: Channel):
    """prestart and createRuntime (P runs them, in the runtime namespace), then
    createContainer (here, in the container's namespaces, before pivot_root)."""
    if not (opts.runtime_hooks or opts.hooks):
        return None
    from pyrun.linux import hooks

    hooks.preload()  # startContainer runs after pivot_root, where the stdlib is out of reach
    gate.wait()
    chan.send({"type": "run runtime hooks"})
    reply = chan.recv()
    if reply.get("type") != "runtime hooks done":
        raise InitError(f"expected runtime hooks done, got {reply}")
    _run_hooks(opts, "createContainer", reply["state"])
    return reply["state"]


def run_start_hooks(opts: InitOptions, hook_state, fifo_fd: int) -> None:
    """startContainer, after start and before execve. A failure is written to exec.fifo,
    which `pyrun start` reads until execve closes it."""
    if not opts.hooks.get("startContainer"):
        return
    try:
        _run_hooks(opts, "startContainer", dict(hook_state, status="created"))
    except InitError as e:
        os.write(fifo_fd, str(e).encode())
        raise


def _run_hooks(opts: InitOptions, name: str, hook_state: dict) -> None:
    entries = opts.hooks.get(name)
    if not entries:
        return
    from pyrun.linux import hooks

    try:
        hooks.run_hooks([hooks.Hook.from_json(h) for h in entries], hook_state, name=name)
    except hooks.HookError as e:
        raise InitError(e.message) from None


def wait_for_start(fifo_fd: int, host_proc: int) -> int:
    """Block until `pyrun start` opens exec.fifo for reading, then tell it we go. The write
    end stays open (close-on-exec) until execve: `start` reads to its end.

    The O_PATH fd is reopened for writing through its /proc/self/fd magic link, which
    checks only the fifo's own mode: the state directory (0700) is out of reach of a
    container uid that is not root."""
    with Step("wait for start on exec.fifo"):
        fd = os.open(f"self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC, dir_fd=host_proc)
        os.close(host_proc)
        os.write(fd, b"0")
        os.close(fifo_fd)
    return fd


def exec_program(program: str, proc: Process):
    env = dict(e.split("=", 1) for e in proc.env)
    import _signal  # the C core of `signal`, without its enum import

    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve. Restore them,
    # and unblock everything, so the program starts with the default dispositions.
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
    with Step(f'exec "{proc.args[0]}"'):
        os.execve(program, proc.args, env)


# ---------------------------------------------------------------------------------------
# `pyrun exec`: a new process in a running container's namespaces


def exec_intermediate(chan: Channel, ns_fds: list[tuple[str, int]], proc: Process,
                      preserve_fds: int, close_fds: list[int]):
    """Runs in the exec command's fork; never returns. Waits until pyrun has moved it into
    the container's cgroup (a process never joins a cgroup itself: one that is frozen
    would stop it for good), joins the namespaces (setns of a pid namespace applies to
    children), forks the process, reports its pid, and exits."""
    try:
        for fd in close_fds:
            os.close(fd)
        message = chan.recv()
        if message.get("type") != "cgroup joined":
            raise InitError(f"expected cgroup joined, got {message}")
        for kind, fd in ns_fds:
            with Step(f"join the container's {kind} namespace"):
                namespaces.join([(kind, fd)])
        pid = os.fork()
        if pid == 0:
            exec_process(chan, proc, preserve_fds)
        chan.send({"type": "pid", "pid": pid})
        os._exit(0)
    except BaseException as e:
        _report_and_exit(chan, e)


def exec_process(chan: Channel, proc: Process, preserve_fds: int):
    """The exec'd process: the container's process settings, then execve. Never returns;
    the channel closes at execve (close-on-exec), which tells pyrun it worked."""
    try:
        os.setsid()
        if proc.terminal:
            _exec_terminal(proc, chan)
        program = find_program(proc)
        prepare_process(proc, new_keyring=False, preserve_fds=preserve_fds)
        exec_program(program, proc)
    except BaseException as e:
        _report_and_exit(chan, e)


# ---------------------------------------------------------------------------------------
# Helpers


def _owns(cfg: Config, kind: str) -> bool:
    ns = cfg.linux.namespace(kind)
    return ns is not None and not ns.path


def _node(d) -> devices.Node:
    return devices.Node(d.path, d.type, d.major, d.minor,
                        0o666 if d.file_mode is None else d.file_mode,
                        d.uid or 0, d.gid or 0)


def _capability_numbers(proc: Process) -> dict[str, set[int]]:
    given = proc.capabilities or {}
    return {name: {capabilities.number(c) for c in given.get(name, [])}
            for name in ("bounding", "effective", "permitted", "inheritable", "ambient")}


def _new_session_keyring() -> None:
    """A fresh session keyring, so the container cannot read the host's keys."""
    try:
        sc.keyctl_join_session_keyring(None)
    except OSError as e:
        if e.errno != 38:  # ENOSYS: kernel without keyrings, nothing to isolate
            raise


def _report_and_exit(chan: Channel, err: BaseException):
    if isinstance(err, InitError):
        message = str(err)
    elif isinstance(err, OSError):
        message = f"{err.strerror or err}" + (f": {err.filename}" if err.filename else "")
    else:
        message = f"{type(err).__name__}: {err}"
    try:
        chan.send({"type": "error", "message": message})
    finally:
        os._exit(1)
