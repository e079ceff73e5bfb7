"""`pyrun create`: set a container up to the point where only execve is left.

P (this process) validates the config, claims the state directory, makes the cgroup and
exec.fifo, forks the intermediate (see pyrun.init), and waits on the sync channel for the
init's pid and then "created" (or one line of error). Then it records state.json and the
pid file. On any failure it removes everything it made: nothing half-made survives.
"""

import os
import time

from pyrun import config, failpoints, state
from pyrun.errors import PyrunError, wrap
from pyrun.init import InitOptions, intermediate
from pyrun.linux import cgroups, process, sync
from pyrun.linux.sync import Channel
from pyrun.runtime import common, security


class CreateOptions:
    __slots__ = ("bundle", "pid_file", "console_socket", "no_pivot", "no_new_keyring",
                 "preserve_fds", "detached", "systemd_cgroup", "network", "publish", "ip")

    def __init__(self, bundle=".", pid_file=None, console_socket=None, no_pivot=False,
                 no_new_keyring=False, preserve_fds=0, detached=True, systemd_cgroup=False,
                 network=None, publish=(), ip=None):
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.detached = detached  # pyrun exits before the container: create, run -d
        self.systemd_cgroup = systemd_cgroup  # cgroupsPath is slice:prefix:name
        # --network, --publish, --ip: see pyrun.runtime.network
        self.network = network
        self.publish = list(publish)
        self.ip = ip


class Created:
    """A container just created: its state, the channel to its init (until exec), and the
    pty master when pyrun itself is to proxy the container's terminal."""

    def __init__(self, container: state.Container, channel: Channel, console: int | None):
        self.container = container
        self.channel = channel
        self.console = console


def create(root: str, container_id: str, opts: CreateOptions) -> Created:
    state.validate_id(container_id)
    bundle = os.path.abspath(opts.bundle)
    if not os.path.isdir(bundle):
        raise PyrunError(f"bundle {bundle}", "no such directory")
    cfg = config.load(bundle)
    check_terminal(cfg.process.terminal, opts.detached, opts.console_socket)
    cgroup_path = cgroups.resolve_path(cfg.linux.cgroups_path, container_id,
                                       systemd=opts.systemd_cgroup)
    security.check_lsm(cfg.process)
    seccomp = security.compile_seccomp(cfg.linux.seccomp)  # nothing made yet if it fails
    net = network_request(cfg, opts)
    c = state.Container(root, container_id)
    c.create_dir()
    failpoints.reached("create: made the state directory")
    c.lock()
    try:
        return _create_in(c, cfg, cgroup_path, opts, seccomp, net)
    except BaseException:
        common.destroy(c)
        raise


def check_terminal(terminal: bool, detached: bool, console_socket: str | None) -> None:
    """runc's rules: a detached terminal goes to a console socket, and only then."""
    if terminal and detached and not console_socket:
        raise PyrunError("cannot allocate tty if pyrun will detach without setting "
                         "console socket")
    if console_socket and not (terminal and detached):
        raise PyrunError("cannot use console socket if pyrun will not detach or allocate tty")


def network_request(cfg: config.Config, opts: CreateOptions):
    """The bridge network asked for by flags or annotations (a network.Request), or None;
    checked before anything is made. Without either, the network package is not even
    imported: a container's network is its config's."""
    if opts.network is None and not opts.publish and opts.ip is None and \
            not any(k.startswith("org.pyrun.") for k in cfg.annotations):
        return None
    from pyrun.runtime.network import attach

    return attach.request_of(cfg, opts.network, opts.publish, opts.ip)


def _create_in(c: state.Container, cfg: config.Config, cgroup_path: str,
               opts: CreateOptions, seccomp, net) -> Created:
    # Record what destroy() needs before making it, so a failure at any point below
    # knows what to remove.
    c.data = {"id": c.id, "cgroup_path": cgroup_path, "cgroup_made": [],
              "oci_version": cfg.oci_version,
              "bundle": cfg.bundle, "annotations": cfg.annotations}
    if cfg.hooks:
        c.data["hooks"] = cfg.hooks_json  # prestart .. poststop, run from create to delete
    if cfg.seccomp_json is not None:
        c.data["seccomp"] = cfg.seccomp_json  # exec loads it too
    group = cgroups.open_group(cgroup_path)
    with wrap("create cgroup"):
        claim_cgroup(c, group)
        group.apply(cfg.linux.resources)
        # runc's default allow-list, whatever the config says: a container with CAP_MKNOD
        # must still not open a disk it makes. Kept, for `update` to change it from.
        rules = config.device_allow_list(cfg)
        group.set_devices(rules)
        c.data["device_rules"] = config.device_rules_json(rules)
        c.data["created_nodes"] = config.created_nodes(cfg)
    failpoints.reached("create: applied the limits")
    if net is not None:
        from pyrun.runtime.network import attach

        attachment = attach.claim(c, cfg, net)  # the /etc files join cfg.mounts
    os.mkfifo(c.fifo_path)
    # Writable by all (chmod: mkfifo's mode is cut by the umask): the init opens it after
    # switching to the container's uid. Only the init can reach it: the directory is 0700.
    os.chmod(c.fifo_path, 0o622)
    console_socket = connect_console_socket(opts.console_socket)
    parent, child = Channel.pair()
    close_fds = [c._lock_fd, parent.fileno()]
    if console_socket is not None:
        close_fds.append(console_socket.fileno())
    # Opened here and inherited: the init may join a mount namespace that cannot see them,
    # or a user namespace whose root may not walk the paths to them.
    inherited = [os.open(c.fifo_path, os.O_PATH | os.O_CLOEXEC),
                 os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]
    fifo_fd, host_proc_fd = inherited
    with wrap("join cgroup"):
        placement = group.placement()  # the init joins by itself: see its join_cgroup
    if cfg.linux.namespace("user") is not None:
        placement.without_clone()  # forked by a user namespace's root: see Placement
    init_opts = InitOptions(
        fifo_fd=fifo_fd, host_proc_fd=host_proc_fd, no_pivot=opts.no_pivot,
        no_new_keyring=opts.no_new_keyring, preserve_fds=opts.preserve_fds,
        cgroup_mounts=group.mount_sources(), close_fds=close_fds, seccomp=seccomp,
        placement=placement)
    pid = os.fork()
    if pid == 0:
        intermediate(cfg, child, init_opts)  # never returns
    child.close()
    placement.close()
    for fd in inherited:
        os.close(fd)
    failpoints.reached("create: forked")
    init_pid = _await_init_pid(parent, pid, cfg)
    failpoints.reached("create: got the init's pid")
    c.data.update(pid=init_pid, pid_start_time=process.start_time(init_pid))
    c.save()  # the journal: the init is there to kill, whatever happens to us next
    failpoints.reached("create: journaled the init")
    if net is not None:
        # while the init builds its rootfs; before the create hooks, which may want it
        try:
            netns_fd = os.open(f"/proc/{init_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            # The init has exited: its own error is waiting on the channel.
            _await_created(parent, c, cfg, console_socket)
            raise PyrunError("container init exited during setup") from None
        try:
            attach.connect(c, attachment, netns_fd)
        finally:
            os.close(netns_fd)
    console = _await_created(parent, c, cfg, console_socket)
    failpoints.reached("create: the init said created")
    c.data.update(rootfs=cfg.root.path, created=_rfc3339_now(), owner="",
                  process=cfg.process_json)
    c.save()
    failpoints.reached("create: saved the state")
    if opts.pid_file:
        write_pid_file(opts.pid_file, init_pid)
        failpoints.reached("create: wrote the pid file")
    return Created(c, parent, console)


def claim_cgroup(c: state.Container, group) -> None:
    """Make (or take) the container's cgroup, as runc does: one that already holds a
    process, or is frozen, belongs to someone else and is refused. From here on pyrun may
    kill whatever is in it (`cgroup_claimed`), and removes only the directories it made.

    The claim is written to state.json before any directory is made: a `delete --force`
    after pyrun was killed at any later point finds what to remove (the journal)."""
    if group.exists():
        if pids := group.all_procs():
            raise PyrunError(f"container's cgroup is not empty: {len(pids)} process(es) found")
        if group.frozen():
            raise PyrunError("container's cgroup unexpectedly frozen")
    c.data.update(cgroup_made=group.dirs_to_make(), cgroup_claimed=True)
    c.save()
    failpoints.reached("create: journaled the cgroup")
    c.data["cgroup_made"] = group.create()
    failpoints.reached("create: made the cgroup")
    if group.frozen():
        # A frozen parent's: never move a process into it (it would stop at once).
        raise PyrunError("container's cgroup unexpectedly frozen")


def _await_init_pid(chan: Channel, intermediate_pid: int, cfg: config.Config) -> int:
    """The init's pid, from the intermediate; on the way, the maps of the user namespace
    it made (root in the parent namespace writes them: no newuidmap)."""
    try:
        while True:
            message = chan.wait(sync.ID_MAPS, sync.PID)
            if message.kind == sync.PID:
                return message.data["pid"]
            from pyrun.linux import userns  # (imported by the intermediate anyway)

            with wrap("write the user namespace's id maps"):
                userns.write_id_maps(intermediate_pid, cfg.linux.uid_mappings,
                                     cfg.linux.gid_mappings)
            chan.send_id_maps_written()
    except sync.ChannelClosed:
        raise PyrunError("setup process exited without a word") from None
    finally:
        os.waitpid(intermediate_pid, 0)


def _await_created(chan: Channel, c: state.Container, cfg: config.Config,
                   console_socket) -> int | None:
    """Wait for "created". On the way, run the prestart and createRuntime hooks when the
    init asks (after its mounts, before pivot_root: runtime.md, "Lifecycle" step 5), and
    take the pty master it sends: to the console socket, or kept (returned) to proxy."""
    console = None
    while True:
        try:
            message = chan.wait(sync.RUNTIME_HOOKS, sync.CONSOLE, sync.SECCOMP_FD,
                                sync.CREATED)
        except sync.ChannelClosed:
            raise init_exited(c) from None
        if message.kind == sync.CREATED:
            return console
        if message.kind == sync.RUNTIME_HOOKS:
            chan.send_runtime_hooks_done(_run_create_hooks(c))
        elif message.kind == sync.SECCOMP_FD and message.fds:
            security.hand_over_seccomp_fd(message.fds[0], cfg.linux.seccomp,
                                          _seccomp_agent_state(c))
        elif message.fds:
            console = hand_over_console(message.fds[0], console_socket)


def init_exited(c: state.Container) -> PyrunError:
    """Why the init died without a word: the OOM killer, when its cgroup counted a kill
    (a memory limit below what setting up needs), else no more is known."""
    try:
        killed = common.cgroup_of(c).oom_kills()
    except (PyrunError, OSError):
        killed = 0
    if killed:
        return PyrunError("container init was killed by the OOM killer during setup",
                          "linux.resources.memory.limit is below what it needs")
    return PyrunError("container init exited during setup")


def _seccomp_agent_state(c: state.Container) -> dict:
    """The container's state as the seccomp agent gets it: `pyrun state`'s, creating."""
    return {"ociVersion": c.data.get("oci_version", ""), "id": c.id, "status": "creating",
            "pid": c.pid, "bundle": c.data.get("bundle", ""),
            **({"annotations": c.data["annotations"]} if c.data.get("annotations") else {})}


def connect_console_socket(path: str | None):
    """Connected before anything is made, as runc: a bad path fails early and cleanly."""
    if not path:
        return None
    from pyrun.linux import tty

    try:
        return tty.connect_console_socket(path)
    except OSError as e:
        raise PyrunError(f"console socket {path}", e.strerror or str(e)) from None


def hand_over_console(master: int, console_socket) -> int | None:
    if console_socket is None:
        return master  # pyrun run in the foreground proxies it
    from pyrun.linux import tty

    try:
        tty.send_master(console_socket, master)
    except OSError as e:
        raise PyrunError("send the pty master to the console socket",
                         e.strerror or str(e)) from None
    finally:
        os.close(master)
        console_socket.close()
    return None


def _run_create_hooks(c: state.Container) -> dict:
    """prestart and createRuntime, in the runtime namespace; returns the state they got."""
    from pyrun.linux.hooks import run_hooks

    hook_state = common.hook_state(c.data, "creating", c.pid)
    for name in ("prestart", "createRuntime"):
        # in the bundle: runc chdirs there first, and hooks find config.json by it
        run_hooks(common.hooks_of(c.data, name), hook_state, name=name, cwd=c.data["bundle"])
    return hook_state


def write_pid_file(path: str, pid: int) -> None:
    """Atomically, as runc: engines poll for this file and must never read half of it."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError as e:
        raise PyrunError(f"pid file {path}", e.strerror or str(e)) from None


def _rfc3339_now() -> str:
    """runc's `created` format: UTC with nanoseconds."""
    ns = time.time_ns()
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"
