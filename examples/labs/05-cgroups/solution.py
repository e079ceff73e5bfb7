#!/usr/bin/env python3
"""Level 05, cgroup v2: limits on memory, CPU time and the number of processes.

    sudo .venv/bin/python solution.py run --rootfs /tmp/rootfs --memory 64M --cpus 0.5 \
        --pids 64 -- /bin/sh

New at this level: before forking, the parent makes a cgroup (a directory in the cgroup2
filesystem) and writes the limits into its files; the child moves itself into it first
thing, so that the container's init and everything it forks are counted and limited
there. When the container is gone the parent removes the cgroup. Needs a cgroup v2 host.
"""

import argparse
import os
import sys
import traceback

from pyrun.linux import cgroups, devices, mounts, namespaces, syscalls, system
from pyrun.linux.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_STRICTATIME


def run(args) -> int:
    """Run args.command in a container; return its exit status, as a shell reports it."""
    group = None
    if args.memory or args.cpus or args.pids:
        group = make_cgroup(args)
    try:
        pid = os.fork()
        if pid == 0:
            intermediate(args, group)
        _, status = os.waitpid(pid, 0)
    finally:
        if group is not None:
            remove_cgroup(group)
    return exit_status(pid, status)


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


def intermediate(args, group) -> None:
    """The child: joins the cgroup, makes the namespaces, forks the container's init, waits
    for it and exits with its status. Never returns."""
    try:
        if group is not None:
            # Write our own pid to cgroup.procs (0 means the writer), before forking: the
            # init and all its descendants are born in the cgroup.
            group.add(0)
        # One unshare(2) for all: mount, UTS (hostname), IPC (System V IPC, POSIX message
        # queues) and PID. The caller moves into the first three at once; CLONE_NEWPID
        # only decides where its children go (pid_namespaces(7)).
        namespaces.unshare(["mount", "uts", "ipc", "pid"])
        # The copy of the mount table keeps each mount's propagation: where / is shared
        # (systemd makes it so), our mounts would show on the host. MS_REC | MS_PRIVATE
        # on / cuts every link (mount_namespaces(7)). pivot_root(2) insists on it, too.
        mounts.make_root_private()
        pid = os.fork()  # PID 1 of the new PID namespace
        if pid == 0:
            init(args)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    os._exit(128 - code if code < 0 else code)


def init(args) -> None:
    """PID 1 of the container: hostname and rootfs, then the command. Never returns."""
    try:
        system.set_hostname(args.hostname)  # sethostname(2), in our own UTS namespace
        if args.rootfs:
            enter_rootfs(args.rootfs)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    exec_command(args.command)


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
    """A /dev of the container's own: a tmpfs with DEVICES, not the host's /dev (disks...)."""
    syscalls.mount("tmpfs", os.path.join(rootfs, "dev"), "tmpfs",
                   MS_NOSUID | MS_STRICTATIME, "mode=755,size=64k")
    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    old_umask = os.umask(0)  # mknod(2) applies the umask: 0666 would become 0644
    try:
        for name, (major, minor) in DEVICES.items():
            # mknod(2) inside the rootfs (resolved with openat2, so a symlink in an
            # untrusted rootfs cannot send it elsewhere), then chown to root.
            devices.create_node(rootfd, f"/dev/{name}", "c", major, minor, 0o666, 0, 0)
        for target, link in devices.DEFAULT_LINKS:  # /dev/fd -> /proc/self/fd, stdin, ...
            devices.create_link(rootfd, target, link)
    finally:
        os.umask(old_umask)
        os.close(rootfd)


def exec_command(command: list[str]) -> None:
    """Become `command` (execvp searches PATH). Never returns."""
    try:
        os.execvp(command[0], command)
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


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="mini-runtime")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("run", help="run a command")
    p.add_argument("--rootfs", help="the directory the command sees as /")
    p.add_argument("--hostname", default="container", help="the container's hostname")
    p.add_argument("--cgroup", default=f"/pyrun-lab/{os.getpid()}",
                   help="the container's cgroup, below /sys/fs/cgroup")
    p.add_argument("--memory", help="memory limit in bytes (or 64M, 1G)")
    p.add_argument("--cpus", help="CPU time limit, in CPUs (0.5: half of one)")
    p.add_argument("--pids", type=int, help="the most processes the container may have")
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
