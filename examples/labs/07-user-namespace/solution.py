#!/usr/bin/env python3
"""Level 07, user namespaces: root in the container is an ordinary user on the host.

    sudo .venv/bin/python solution.py run --rootfs /tmp/rootfs --uidmap 0:100000:65536 \
        -- /bin/sh

New at this level: the intermediate makes a user namespace first, together with the
others (which it then owns). The parent, still the host's root, writes the mapping into
/proc/CHILD/uid_map and gid_map: uid 0 inside is uid 100000 outside. Until it has, the
child waits on a pipe; then it becomes the namespace's root. The init binds the host's
device nodes, as a user namespace may not mknod.
"""

import argparse
import errno
import os
import sys
import traceback
from types import SimpleNamespace

from pyrun.config.model import capability_number
from pyrun.linux import (
    capabilities,
    cgroups,
    devices,
    mounts,
    namespaces,
    seccomp,
    syscalls,
    system,
    user,
)
from pyrun.linux.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_STRICTATIME


def run(args) -> int:
    """Run args.command in a container; return its exit status, as a shell reports it."""
    group = None
    if args.memory or args.cpus or args.pids:
        group = make_cgroup(args)
    try:
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
            os.close(from_child)
            os.close(to_child)
        _, status = os.waitpid(pid, 0)
    finally:
        if group is not None:
            remove_cgroup(group)
    return exit_status(pid, status)


def prepare_namespaces(pid: int, args) -> None:
    """From outside, what the child cannot do for itself: the user namespace's id maps.

    uid_map(5) lines read "INSIDE OUTSIDE COUNT". Only a process with privilege over the
    parent namespace may map ids other than its own; each file takes one write, ever.
    """
    if args.uidmap:
        inside, outside, count = args.uidmap.split(":")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"{inside} {outside} {count}\n")


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
    up, forks the container's init, waits for it and exits with its status. Never returns."""
    try:
        if group is not None:
            # Write our own pid to cgroup.procs (0 means the writer), before forking: the
            # init and all its descendants are born in the cgroup.
            group.add(0)
        # One unshare(2) for all: user (first: it owns the others), mount, UTS (hostname),
        # IPC (System V IPC, POSIX message queues) and PID. The caller moves into all but
        # the PID namespace at once; CLONE_NEWPID only decides where its children go.
        kinds = ["mount", "uts", "ipc", "pid"]
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
            init(args)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    os._exit(128 - code if code < 0 else code)


def init(args) -> None:
    """PID 1 of the container: hostname and rootfs, then it drops its privileges and
    becomes the command. Never returns."""
    try:
        system.set_hostname(args.hostname)  # sethostname(2), in our own UTS namespace
        # libseccomp is a C library that Python loads on first use; after pivot_root it
        # could not be found any more. So: compile the filter now, load it last.
        seccomp_filter = seccomp.compile(SECCOMP_PROFILE)
        if args.rootfs:
            enter_rootfs(args.rootfs)
        drop_privileges(seccomp_filter)
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
    p.add_argument("--uidmap", metavar="INSIDE:OUTSIDE:COUNT",
                   help="a user namespace with these uids and gids (e.g. 0:100000:65536)")
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
