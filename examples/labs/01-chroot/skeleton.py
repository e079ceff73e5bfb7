#!/usr/bin/env python3
"""Level 01, chroot: run the command with another directory as its /.

    sudo .venv/bin/pyrun-lab rootfs /tmp/rootfs       # a busybox root filesystem
    sudo .venv/bin/python student.py run --rootfs /tmp/rootfs -- /bin/sh

New at this level: --rootfs. The child chroots into it, with a /proc of its own so that
ps works inside. Then try to break out (README): a chroot changes how paths are looked up,
nothing more.

Your work: enter_rootfs() below. Check it: sudo .venv/bin/pyrun-lab check 01
"""

import argparse
import os
import sys
import traceback

from pyrun.linux import syscalls  # noqa: F401  (mount, umount2: your TODOs)
from pyrun.linux.syscalls import MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID  # noqa: F401


def run(args) -> int:
    """Run args.command in a child; return its exit status, as a shell would report it."""
    pid = os.fork()
    if pid == 0:
        child(args)
    # The parent: wait for the child to end, then say how it ended.
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
    """Make `rootfs` the calling process's / (and its working directory), with a /proc."""
    # TODO 1: mount a proc filesystem on ROOTFS/proc, so that ps works inside:
    #         syscalls.mount("proc", os.path.join(rootfs, "proc"), "proc", flags), with
    #         flags MS_NOSUID | MS_NODEV | MS_NOEXEC (nothing in /proc is a program or a
    #         device). Read mount(2).
    # TODO 2: os.chroot(rootfs): from now on "/" means rootfs for path lookups (chroot(2)).
    # TODO 3: the working directory does not move with chroot: os.chdir("/").
    # TODO 4: without a mount namespace (level 02), this proc mount is the host's: in run(),
    #         once the child is gone, unmount it: syscalls.umount2(ROOTFS/proc, MNT_DETACH).
    pass


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
