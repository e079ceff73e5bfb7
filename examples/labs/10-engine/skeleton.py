#!/usr/bin/env python3
"""Level 10, under an engine: a shim that drives a runtime (pyrun, or yours) as containerd's
shim or podman's conmon does.

    sudo .venv/bin/python student.py --root /tmp/state shim \
        --runtime "$PWD/.venv/bin/pyrun" --bundle BUNDLE demo

New at this level: `shim`, the engine's process that stays with one container. It makes
itself a subreaper, then asks the runtime to create the container with a console socket:
the runtime sends the master side of the container's terminal over it and exits, and the
container's init, orphaned, becomes the shim's child. The shim starts the container,
copies its terminal output out, reaps the init to learn its exit status, has the runtime
delete the container, and exits with that status.

Your work: shim() and copy_out() at the end (the rest is level 09's solution).
Check it: sudo .venv/bin/pyrun-lab check 10 (your shim drives pyrun)
"""

import argparse
import errno
import json
import os
import shlex
import shutil
import signal
import socket  # noqa: F401
import subprocess
import sys
import tempfile  # noqa: F401
import time
import traceback
from types import SimpleNamespace

from pyroute2 import IPRoute

from pyrun.config.model import capability_number
from pyrun.linux import (  # noqa: F401
    capabilities,
    cgroups,
    devices,
    mounts,
    namespaces,
    network,
    process,
    seccomp,
    syscalls,
    system,
    tty,
    user,
)
from pyrun.linux.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_STRICTATIME


def run(args) -> int:
    """Run args.command in a container; return its exit status, as a shell reports it."""
    group = None
    if args.memory or args.cpus or args.pids:
        group = make_cgroup(args)
    try:
        pid, from_child = spawn(args, group)
        os.close(from_child)
        _, status = os.waitpid(pid, 0)
    finally:
        if group is not None:
            remove_cgroup(group)
    return exit_status(pid, status)


def spawn(args, group) -> tuple[int, int]:
    """Fork the intermediate and set its namespaces up from outside. Returns its pid, and
    the pipe on which it (and then the init) go on reporting."""
    # Two pipes: the child says when its namespaces exist, we say when they are ready.
    from_child, child_out = os.pipe()
    child_in, to_child = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(from_child)
        os.close(to_child)
        intermediate(args, group, report=child_out, wait=child_in)
    os.close(child_out)
    os.close(child_in)
    try:
        if os.read(from_child, 1) == b"u":  # empty: the child failed before that
            prepare_namespaces(pid, args)
            os.write(to_child, b"g")
    except Exception:
        traceback.print_exc()  # the child reads end-of-file, and gives up
    finally:
        os.close(to_child)
    return pid, from_child


def prepare_namespaces(pid: int, args) -> None:
    """From outside, what the child cannot do for itself: the user namespace's id maps,
    and the host's end of the network.

    uid_map(5) lines read "INSIDE OUTSIDE COUNT". Only a process with privilege over the
    parent namespace may map ids other than its own; each file takes one write, ever.
    """
    if args.uidmap:
        inside, outside, count = args.uidmap.split(":")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"{inside} {outside} {count}\n")
    if args.ip:
        make_veth(pid, args)


def make_veth(pid: int, args) -> None:
    """ip link add vethPID type veth peer name eth0 netns PID
       ip addr add GATEWAY/PREFIX dev vethPID; ip link set vethPID up"""
    prefix = int(args.ip.split("/")[1])
    host_end = f"veth{pid}"  # interface names: 15 characters at most
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:  # an rtnetlink socket in our (the host's) namespace
            # Both ends at once; the peer is born in the container's namespace (its fd).
            ipr.link("add", ifname=host_end, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": netns})
            index = ipr.link_lookup(ifname=host_end)[0]
            ipr.addr("add", index=index, address=args.gateway, prefixlen=prefix)
            ipr.link("set", index=index, state="up")
    finally:
        os.close(netns)
    # No cleanup to write: when the container's namespace goes, so does eth0, and a veth
    # pair dies with either end.


def make_cgroup(args):
    """The container's cgroup at args.cgroup, with its limits written."""
    # pyrun.linux.cgroups: the driver for this host's cgroups; at this level, v2 only.
    group = cgroups.open_group(args.cgroup)
    if group.version != 2:
        sys.exit("--memory, --cpus and --pids need a cgroup v2 host (see the README)")
    # mkdir under /sys/fs/cgroup, after writing "+memory +cpu +pids ..." to each parent's
    # cgroup.subtree_control: a cgroup has a controller's files only if its parent hands
    # the controller down. `made` lists what this call created (destroy removes that only).
    group.made = group.create()
    limits = {}
    if args.memory:
        limits["memory.max"] = str(parse_size(args.memory))  # bytes; beyond it: the OOM killer
    if args.cpus:
        # "QUOTA PERIOD" in microseconds: 0.5 CPU = 50 ms of CPU time every 100 ms.
        limits["cpu.max"] = f"{int(float(args.cpus) * 100_000)} 100000"
    if args.pids:
        limits["pids.max"] = str(args.pids)  # beyond it, fork() fails with EAGAIN
    for name, value in limits.items():
        with open(group.file(name), "w") as f:
            f.write(value)
    return group


def remove_cgroup(group) -> None:
    """Kill whatever is left in the cgroup (cgroup.kill), then rmdir it: a cgroup with
    processes in it cannot be removed."""
    try:
        group.kill_all()
        group.destroy(group.made)
    except Exception as e:
        print(f"cannot remove cgroup {group.path}: {e}", file=sys.stderr)


def parse_size(text: str) -> int:
    """64M -> 67108864. Plain numbers are bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def intermediate(args, group, report: int, wait: int) -> None:
    """The child: joins the cgroup, makes the namespaces, waits for the parent to set them
    up, forks the container's init. For `run` it waits for the init and exits with its
    status; for `create` it reports the init's pid and exits at once. Never returns."""
    try:
        if group is not None:
            # Write our own pid to cgroup.procs (0 means the writer), before forking: the
            # init and all its descendants are born in the cgroup.
            group.add(0)
        # One unshare(2) for all: user (first: it owns the others), mount, UTS (hostname),
        # IPC (System V IPC, POSIX message queues), PID and network. The caller moves into
        # all but the PID namespace at once; CLONE_NEWPID only decides where its children
        # go.
        kinds = ["mount", "uts", "ipc", "pid", "network"]
        if args.uidmap:
            kinds.insert(0, "user")
        # libseccomp now, as the host's root: inside the user namespace we become uid
        # 100000 outside, which may not reach this checkout (under /root, mode 700).
        seccomp.preload()
        namespaces.unshare(kinds)
        os.write(report, b"u")
        if os.read(wait, 1) != b"g":
            os._exit(125)  # the parent could not set our namespaces up (it said why)
        if args.uidmap:
            # We are still the host's uid 0, which has no mapping in here (it shows as
            # 65534, "nobody"). Become the namespace's root, the host's uid 100000: groups
            # first (setgroups needs CAP_SETGID), then gid, then uid (user.switch).
            user.switch(0, 0, [])
        # The copy of the mount table keeps each mount's propagation: where / is shared
        # (systemd makes it so), our mounts would show on the host. MS_REC | MS_PRIVATE
        # on / cuts every link (mount_namespaces(7)). pivot_root(2) insists on it, too.
        mounts.make_root_private()
        pid = os.fork()  # PID 1 of the new PID namespace
        if pid == 0:
            init(args, report)
        if args.fifo:
            # `create`: the parent needs the init's pid as the host sees it (fork's
            # answer here: we are still in the host's PID namespace), then we are done.
            # The init, orphaned, goes to the nearest subreaper (an engine's shim) or to
            # the host's init: a runtime does not stay around (level 10).
            os.write(report, f"{pid}\n".encode())
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    os._exit(128 - code if code < 0 else code)


def init(args, report: int) -> None:
    """PID 1 of the container: hostname and rootfs, then it drops its privileges, (after
    `create`) waits for `start`, and becomes the command. Never returns."""
    try:
        fifo = None
        if args.fifo:
            # An O_PATH fd names the fifo without opening it (opening would block now);
            # after pivot_root its path is out of reach, the fd is not.
            fifo = os.open(args.fifo, os.O_PATH | os.O_CLOEXEC)
        system.set_hostname(args.hostname)  # sethostname(2), in our own UTS namespace
        setup_network(args)  # before pivot_root: pyroute2 imports as it goes
        # libseccomp is a C library that Python loads on first use; after pivot_root it
        # could not be found any more. So: compile the filter now, load it last.
        seccomp_filter = seccomp.compile(SECCOMP_PROFILE)
        if args.rootfs:
            enter_rootfs(args.rootfs)
        drop_privileges(seccomp_filter)
        if fifo is not None:
            os.write(report, b"created\n")  # all set up: `create` may now exit
            os.close(report)
            wait_for_start(fifo)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    exec_command(args.command, args.env, args.cwd)


def wait_for_start(fifo: int) -> None:
    """Block until `start` opens exec.fifo for reading (fifo(7): opening one end blocks
    until the other end is opened), then write one byte to say we go.

    Reopened through the /proc/self/fd/N magic link: the fifo's path is outside our
    root now. The fd stays open until execve closes it (O_CLOEXEC): `start` reads up to
    end-of-file, so it returns once the command is running."""
    fd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fifo)


def setup_network(args) -> None:
    """Inside the container's network namespace:
       ip link set lo up; ip addr add IP dev eth0; ip link set eth0 up
       ip route add default via GATEWAY"""
    network.loopback_up()  # 127.0.0.1 needs lo up; a new namespace has it down
    if not args.ip:
        return
    address, prefix = args.ip.split("/")
    with IPRoute() as ipr:  # opened in the container's namespace: it configures this one
        index = ipr.link_lookup(ifname="eth0")[0]
        ipr.addr("add", index=index, address=address, prefixlen=int(prefix))
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="default", gateway=args.gateway)


def enter_rootfs(rootfs: str) -> None:
    """Make `rootfs` the root of our mount namespace, with a /proc and a /dev; the host's
    tree leaves the namespace."""
    # pivot_root(2) needs the new root to be a mount point: bind the rootfs onto itself.
    mounts.bind_rootfs(rootfs)
    # mount(2): source "proc" is only a label; the type is what counts. nosuid, nodev and
    # noexec: nothing in /proc is a program or a device. A proc mount shows the PID
    # namespace of the process that mounts it: here ours, of which we are PID 1.
    syscalls.mount("proc", os.path.join(rootfs, "proc"), "proc",
                   MS_NOSUID | MS_NODEV | MS_NOEXEC)
    make_dev(rootfs)
    # pyrun.linux.mounts.pivot_root: fchdir into the rootfs, pivot_root(".", "."), which
    # stacks the old root on top of the new one, then unmount that old root (MNT_DETACH).
    # The host's tree is then not in this mount namespace at all; cwd and / are the rootfs.
    # It takes an fd rather than a path: in a user namespace (level 07), the directories
    # above the rootfs may be closed to the container's root.
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        mounts.pivot_root(rootfd)
    finally:
        os.close(rootfd)


# The device nodes programs expect: name -> (major, minor), from the kernel's
# Documentation/admin-guide/devices.txt. All character devices.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
           "urandom": (1, 9), "tty": (5, 0)}


def make_dev(rootfs: str) -> None:
    """A /dev of the container's own: a tmpfs with DEVICES, not the host's /dev (disks...).

    In a user namespace mknod(2) fails (EPERM): a device node made there would reach the
    host's devices. So each node is the host's own, bind-mounted onto an empty file, as
    rootless runc and podman do.
    """
    syscalls.mount("tmpfs", os.path.join(rootfs, "dev"), "tmpfs",
                   MS_NOSUID | MS_STRICTATIME, "mode=755,size=64k")
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in DEVICES:
            # The empty file, made inside the rootfs (openat2), with the host's node on it.
            devices.bind_node(rootfd, f"/dev/{name}")
        for target, link in devices.DEFAULT_LINKS:  # /dev/fd -> /proc/self/fd, stdin, ...
            devices.create_link(rootfd, target, link)
    finally:
        os.close(rootfd)


# Docker's default capabilities: what most programs need from root, and nothing that
# reaches beyond the container (capabilities(7) says what each one allows).
KEEP = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]

# System calls the container may not make at all, capability or not: they reach the
# kernel's global state (modules, keyrings, reboot) or build new containers (unshare,
# mount). Real profiles (Docker's, runc's tests) list what is allowed instead, and deny
# the rest: see the README. The object has the shape of config.json's linux.seccomp,
# which pyrun.linux.seccomp.compile takes.
DENIED = ["mount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "add_key",
          "request_key", "ptrace", "reboot", "kexec_load", "init_module", "finit_module",
          "delete_module", "swapon", "swapoff", "bpf", "perf_event_open", "userfaultfd",
          "open_by_handle_at"]
SECCOMP_PROFILE = SimpleNamespace(
    default_action="SCMP_ACT_ALLOW", default_errno_ret=None, architectures=[], flags=[],
    syscalls=[SimpleNamespace(names=DENIED, action="SCMP_ACT_ERRNO", errno_ret=errno.EPERM,
                              args=[])])


def drop_privileges(seccomp_filter) -> None:
    """What root in the container may not do, set last, in this order."""
    keep = {capability_number(name) for name in KEEP}
    # 1. The bounding set (PR_CAPBSET_DROP): the most a process can ever get back. As
    #    root, execve(2) gives a program every capability in it: dropping only the
    #    effective and permitted sets would not survive the exec.
    capabilities.drop_bounding(keep)
    # 2. effective, permitted and inheritable (capset(2)). Inheritable stays empty: what
    #    is in it passes to programs with file capabilities (CVE-2022-24769).
    capabilities.set_process_caps(effective=keep, permitted=keep, inheritable=set())
    # 3. no_new_privs (PR_SET_NO_NEW_PRIVS): execve never grants more than we have now,
    #    setuid bits and file capabilities are ignored. Unprivileged seccomp needs it.
    capabilities.set_no_new_privs()
    # 4. The seccomp filter, last: it denies calls the steps above make (and unshare,
    #    mount...), and it is inherited by every process the command starts.
    seccomp_filter.load()


def exec_command(command: list[str], env: list[str] | None = None,
                 cwd: str | None = None) -> None:
    """Become `command` (execvp searches PATH), with `env` ("NAME=VALUE" strings) if
    given, else ours, in `cwd`. Never returns."""
    try:
        if cwd:
            os.chdir(cwd)
        if env is None:
            os.execvp(command[0], command)
        # execvpe searches the PATH of the new environment, not ours.
        os.execvpe(command[0], command, dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as e:  # execvp returns only on error
        print(f"cannot run {command[0]}: {e.strerror}", file=sys.stderr)
    # 127: the shell's "command not found". os._exit, not sys.exit: this is the parent's
    # copy, which must not go on to run the parent's code (or its cleanups).
    os._exit(127)


def exit_status(pid: int, status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + N after signal N."""
    code = os.waitstatus_to_exitcode(status)  # negative: killed by signal -code
    if code < 0:
        print(f"{pid} was killed by signal {-code}", file=sys.stderr)
        return 128 - code
    print(f"{pid} exited with status {code}", file=sys.stderr)
    return code


# --- the OCI lifecycle (runtime.md in the runtime spec): one directory per container under
# --root, with state.json and, until `start`, exec.fifo.

OCI_VERSION = "1.0.2"


class ContainerError(Exception):
    """What went wrong, in one line for the user."""


def create(args) -> int:
    """Build the container from the bundle; leave its init waiting on exec.fifo; exit."""
    opts = load_bundle(args.bundle)
    state_dir = os.path.join(args.root, args.id)
    os.makedirs(args.root, mode=0o700, exist_ok=True)
    try:
        os.mkdir(state_dir, 0o700)
    except FileExistsError:
        raise ContainerError(f"container {args.id} exists already") from None
    init_pid = None
    try:
        opts.fifo = os.path.join(state_dir, "exec.fifo")
        os.mkfifo(opts.fifo, 0o600)
        pid, from_child = spawn(opts, None)
        os.waitpid(pid, 0)  # the intermediate exits once the init is forked
        words = read_all(from_child).split()  # "INIT_PID created", or less on failure
        if words and words[0].isdigit():
            init_pid = int(words[0])
        if words[1:] != ["created"]:
            raise ContainerError("the container's init failed (its error is above)")
        write_state(state_dir, {
            "ociVersion": OCI_VERSION, "id": args.id, "pid": init_pid,
            # With the pid, its start time names the process for sure: pids are reused.
            "startTime": process.start_time(init_pid),
            "bundle": os.path.abspath(args.bundle), "hooks": opts.hooks,
            "annotations": opts.annotations})
    except BaseException:
        if init_pid and process.start_time(init_pid) is not None:
            os.kill(init_pid, signal.SIGKILL)
        shutil.rmtree(state_dir, ignore_errors=True)  # a failed create leaves nothing
        raise
    return 0


def start(args) -> int:
    """Let the created container's init go on to exec the command; run poststart hooks."""
    state_dir, state = load_state(args.root, args.id)
    status = status_of(state_dir, state)
    if status != "created":
        raise ContainerError(f"cannot start a container that is {status}")
    # Opening the fifo for reading unblocks the init's open for writing. (If the init
    # died just now, this open would wait forever: pyrun polls instead, see
    # src/pyrun/runtime/start.py.) Its "0", then end-of-file at its execve.
    with open(os.path.join(state_dir, "exec.fifo"), "rb") as fifo:
        if fifo.read() != b"0":
            raise ContainerError("the container's init exited before start")
    os.unlink(os.path.join(state_dir, "exec.fifo"))  # from now on: "running"
    run_hooks(state, "poststart", "running")
    return 0


def state_cmd(args) -> int:
    """Print the container's state as JSON, its status found out now."""
    state_dir, state = load_state(args.root, args.id)
    status = status_of(state_dir, state)
    print(json.dumps(public_state(state, status), indent=2))
    return 0


def kill(args) -> int:
    """Send a signal to the container's init."""
    state_dir, state = load_state(args.root, args.id)
    if status_of(state_dir, state) not in ("created", "running"):
        raise ContainerError("container not running")
    name = args.signal.upper().removeprefix("SIG")
    number = int(name) if name.isdigit() else signal.Signals["SIG" + name].value
    os.kill(state["pid"], number)
    return 0


def delete(args) -> int:
    """Forget a stopped container (--force: kill it first); run poststop hooks."""
    state_dir, state = load_state(args.root, args.id)
    if status_of(state_dir, state) != "stopped":
        if not args.force:
            raise ContainerError("cannot delete a container that is not stopped "
                                "(kill it, or delete --force)")
        os.kill(state["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 5
        while status_of(state_dir, state) != "stopped" and time.monotonic() < deadline:
            time.sleep(0.01)
    run_hooks(state, "poststop", "stopped")
    shutil.rmtree(state_dir)
    return 0


def status_of(state_dir: str, state: dict) -> str:
    """created: the init waits on exec.fifo; running: the fifo is gone and the init lives;
    stopped: the init is gone, or a zombie, or its pid now names another process."""
    if process.start_time(state["pid"]) != state["startTime"]:
        return "stopped"
    if os.path.exists(os.path.join(state_dir, "exec.fifo")):
        return "created"
    return "running"


def public_state(state: dict, status: str) -> dict:
    """The state the runtime spec defines (what `state` prints and hooks read)."""
    out = {"ociVersion": state["ociVersion"], "id": state["id"], "status": status,
           "bundle": state["bundle"], "annotations": state["annotations"]}
    if status != "stopped":
        out["pid"] = state["pid"]
    return out


def run_hooks(state: dict, kind: str, status: str) -> None:
    """Run config.json's hooks.KIND in order, each with the state on stdin. poststart and
    poststop failures are warnings only (config.md, POSIX-platform Hooks)."""
    for hook in state["hooks"].get(kind, []):
        env = dict(e.split("=", 1) for e in hook.get("env", []) if "=" in e)
        try:
            subprocess.run(hook.get("args", [hook["path"]]), executable=hook["path"],
                           input=json.dumps(public_state(state, status)).encode(),
                           env=env, timeout=hook.get("timeout"), check=True)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"warning: {kind} hook {hook['path']}: {e}", file=sys.stderr)


def load_bundle(bundle: str) -> argparse.Namespace:
    """config.json as the options `run` takes: the fields this runtime knows (it ignores
    the rest: mounts, capabilities, resources...). A real runtime must refuse what it
    cannot do; this one is for learning."""
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    root = config["root"]["path"]
    linux = config.get("linux", {})
    uidmap = None
    if "user" in [ns["type"] for ns in linux.get("namespaces", [])]:
        m = linux["uidMappings"][0]
        uidmap = f"{m['containerID']}:{m['hostID']}:{m['size']}"
    return argparse.Namespace(
        rootfs=os.path.join(os.path.abspath(bundle), root), command=config["process"]["args"],
        env=config["process"].get("env", []), cwd=config["process"].get("cwd", "/"),
        hostname=config.get("hostname", "container"), uidmap=uidmap, ip=None, gateway=None,
        hooks=config.get("hooks", {}), annotations=config.get("annotations", {}), fifo=None)


def load_state(root: str, container_id: str) -> tuple[str, dict]:
    state_dir = os.path.join(root, container_id)
    try:
        with open(os.path.join(state_dir, "state.json")) as f:
            return state_dir, json.load(f)
    except FileNotFoundError:
        raise ContainerError(f"container {container_id} does not exist") from None


def write_state(state_dir: str, state: dict) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    tmp = os.path.join(state_dir, "state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, os.path.join(state_dir, "state.json"))


def read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


# --- the shim: what an engine keeps running next to each container


def shim(args) -> int:
    """Run the bundle's container through args.runtime; exit with its status."""
    runtime = [*shlex.split(args.runtime), "--root", args.root]  # noqa: F841 (yours)
    # TODO 1: make this process a subreaper first: syscalls.set_child_subreaper()
    #         (prctl(2) PR_SET_CHILD_SUBREAPER). The runtime's create forks the container's
    #         init and exits; the orphan then comes to us rather than to the host's init,
    #         and only a parent can wait for a process.
    # TODO 2: a console socket: in a temporary directory (tempfile.mkdtemp), a listening
    #         AF_UNIX stream socket (socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
    #         bind(path), listen(1)).
    # TODO 3: subprocess.run([*runtime, "create", "--bundle", args.bundle,
    #         "--console-socket", SOCKET, "--pid-file", PIDFILE, args.id], check=True).
    #         The runtime sends the master side of the container's terminal over the
    #         socket, as SCM_RIGHTS (unix(7)), and exits.
    # TODO 4: master = tty.recv_console_master(listener); the init's pid from PIDFILE;
    #         tty.clear_onlcr(master), so that lines end in "\n" rather than "\r\n".
    # TODO 5: subprocess.run([*runtime, "start", args.id], check=True), then
    #         copy_out(master).
    # TODO 6: _, status = os.waitpid(pid, 0): the init is our child now. Return
    #         exit_status(pid, status).
    # TODO 7: whatever happens after a successful create: have the runtime delete the
    #         container ([*runtime, "delete", "--force", args.id]); remove the temporary
    #         directory.
    raise ContainerError("TODO: shim")


def copy_out(master: int) -> None:
    """Copy the container's terminal output to our stdout until its side closes."""
    # TODO 8: os.read(master, 4096) and write it to sys.stdout.buffer (flush), until the
    #         read fails with EIO: no process holds the pty's slave side any more (the
    #         container is gone). Then close the master.
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="mini-runtime")
    parser.add_argument("--root", default="/run/mini-runtime",
                        help="where the containers' state lives")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("run", help="run a command")
    p.add_argument("--rootfs", help="the directory the command sees as /")
    p.add_argument("--hostname", default="container", help="the container's hostname")
    p.add_argument("--cgroup", default=f"/pyrun-lab/{os.getpid()}",
                   help="the container's cgroup, below /sys/fs/cgroup")
    p.add_argument("--memory", help="memory limit in bytes (or 64M, 1G)")
    p.add_argument("--cpus", help="CPU time limit, in CPUs (0.5: half of one)")
    p.add_argument("--pids", type=int, help="the most processes the container may have")
    p.add_argument("--uidmap", metavar="INSIDE:OUTSIDE:COUNT",
                   help="a user namespace with these uids and gids (e.g. 0:100000:65536)")
    p.add_argument("--ip", metavar="ADDRESS/PREFIX",
                   help="eth0's address in the container (e.g. 10.200.0.2/24)")
    p.add_argument("--gateway", metavar="ADDRESS",
                   help="the host end's address, the container's default route")
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    p.set_defaults(func=run, fifo=None, env=None, cwd=None)
    p = verbs.add_parser("create", help="create a container from a bundle")
    p.add_argument("--bundle", "-b", default=".", help="the bundle directory")
    p.add_argument("id")
    p.set_defaults(func=create)
    for name, func, text in (("start", start, "start a created container"),
                             ("state", state_cmd, "print a container's state")):
        p = verbs.add_parser(name, help=text)
        p.add_argument("id")
        p.set_defaults(func=func)
    p = verbs.add_parser("kill", help="send a signal to a container's init")
    p.add_argument("id")
    p.add_argument("signal", nargs="?", default="TERM")
    p.set_defaults(func=kill)
    p = verbs.add_parser("shim", help="run a bundle's container through a runtime")
    p.add_argument("--runtime", required=True, help="the runtime's command (e.g. pyrun)")
    p.add_argument("--bundle", "-b", default=".", help="the bundle directory")
    p.add_argument("id")
    p.set_defaults(func=shim)
    p = verbs.add_parser("delete", help="delete a stopped container")
    p.add_argument("--force", "-f", action="store_true", help="kill it first if it runs")
    p.add_argument("id")
    p.set_defaults(func=delete)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return args.func(args)
    except ContainerError as e:
        print(f"mini-runtime: {args.verb} {getattr(args, 'id', '')}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
