#!/usr/bin/env python3
"""Level 03, pivot_root: the rootfs becomes the root of the mount namespace, and the host's
tree leaves it; a /dev of the container's own.

    sudo .venv/bin/python solution.py run --rootfs /tmp/rootfs -- /bin/sh

New at this level: instead of chroot (which only changes where path lookups start),
pivot_root swaps the namespace's root mount for the rootfs, and the old root (the host's
whole tree) is unmounted: there is nothing left to escape to. /dev is a small tmpfs with
the usual device nodes rather than the host's /dev with its disks.
"""

import argparse
import os
import sys
import traceback

from pyrun.linux import devices, mounts, namespaces, syscalls
from pyrun.linux.syscalls import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_STRICTATIME


def run(args) -> int:
    """Run args.command in a child; return its exit status, as a shell would report it."""
    pid = os.fork()
    if pid == 0:
        child(args)
    _, status = os.waitpid(pid, 0)
    return exit_status(pid, status)


def child(args) -> None:
    """The child, from fork to exec. Never returns: an error ends it with status 125."""
    try:
        if args.rootfs:
            enter_rootfs(args.rootfs)
    except BaseException:
        traceback.print_exc()
        os._exit(125)
    exec_command(args.command)


def enter_rootfs(rootfs: str) -> None:
    """Make `rootfs` the root of a mount namespace of the calling process's own, with a /proc
    and a /dev; the host's tree is not in that namespace any more."""
    # unshare(2) CLONE_NEWNS: from now on this process has its own copy of the mount table.
    namespaces.unshare(["mount"])
    # The copy keeps each mount's propagation: where / is shared (systemd makes it so), a
    # mount here would still show on the host, and the host's here. MS_REC | MS_PRIVATE
    # on / cuts every link (mount_namespaces(7)). pivot_root(2) insists on it, too.
    mounts.make_root_private()
    # pivot_root(2) needs the new root to be a mount point: bind the rootfs onto itself.
    mounts.bind_rootfs(rootfs)
    # mount(2): source "proc" is only a label; the type is what counts. nosuid, nodev and
    # noexec: nothing in /proc is a program or a device.
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
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
