#!/usr/bin/env python3
"""Level 02, the mount namespace: the container's mounts are its own.

    sudo .venv/bin/python student.py run --rootfs /tmp/rootfs -- /bin/sh

New at this level: the child makes a mount namespace of its own before it mounts /proc,
and makes its copy of / private, so that the mount never shows on the host; when the
last process in the namespace exits, the kernel takes every mount in it down.

Your work: the TODOs in enter_rootfs() and run(). Check it: sudo .venv/bin/pyrun-lab check 02
"""

import argparse
import os
import sys
import traceback

from pyrun.linux import mounts, namespaces, syscalls  # noqa: F401
from pyrun.linux.syscalls import MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID


def run(args) -> int:
    """Run args.command in a child; return its exit status, as a shell would report it."""
    pid = os.fork()
    if pid == 0:
        child(args)
    _, status = os.waitpid(pid, 0)
    if args.rootfs:
        # Without a mount namespace (level 02) the child's /proc mount is the host's:
        # nobody else will take it down.
        # TODO 3: with one, the kernel takes it down with the namespace: drop this umount.
        try:
            syscalls.umount2(os.path.join(args.rootfs, "proc"), MNT_DETACH)
        except OSError as e:
            print(f"umount {args.rootfs}/proc: {e.strerror}", file=sys.stderr)
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
    """Make `rootfs` the calling process's / (and its working directory), with a /proc
    mounted in a mount namespace of its own."""
    # TODO 1: a mount namespace of our own, before any mount: namespaces.unshare(["mount"])
    #         (unshare(2) with CLONE_NEWNS). From then on this process has its own copy of
    #         the mount table.
    # TODO 2: the copy keeps each mount's propagation: where / is shared (systemd makes it
    #         so, and so does the checker), a mount made here would still show on the host.
    #         Make / private, recursively: mounts.make_root_private() (mount(2) with
    #         MS_REC | MS_PRIVATE on /; read mount_namespaces(7), "Shared subtrees").
    # mount(2): source "proc" is only a label; the type is what counts. nosuid, nodev and
    # noexec: nothing in /proc is a program or a device.
    syscalls.mount("proc", os.path.join(rootfs, "proc"), "proc",
                   MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chroot(rootfs)  # chroot(2): "/" now means rootfs for path lookups
    # chroot does not move the working directory: it stays outside the new root, and
    # `cd ..` from there walks up the host's tree (see the README). Move it inside.
    os.chdir("/")


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
