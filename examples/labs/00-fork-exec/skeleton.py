#!/usr/bin/env python3
"""Level 00, fork and exec: run a command as a child process and report how it ended.

    sudo .venv/bin/python student.py run -- /bin/echo hello

This file grows into a container runtime, one kernel feature a level. Here it is only what
every runtime is at heart: a parent that forks, a child that becomes the command (execve),
and a parent that waits and passes the command's exit status on.

Your work: the TODOs below. Check it: sudo .venv/bin/pyrun-lab check 00
"""

import argparse
import os
import sys


def run(args) -> int:
    """Run args.command in a child; return its exit status, as a shell would report it."""
    # TODO 1: fork: os.fork() returns twice, 0 in the child, the child's pid in the parent.
    # TODO 2: in the child, exec_command(args.command).
    # TODO 3: in the parent, wait for the child (os.waitpid(pid, 0)) and return
    #         exit_status(pid, status).
    print(f"TODO: run {args.command}", file=sys.stderr)
    return 1


def exec_command(command: list[str]) -> None:
    """Become `command` (execvp searches PATH). Never returns."""
    # TODO 4: os.execvp(command[0], command). It returns only on error (OSError): print
    #         why on stderr, then leave with os._exit(127), the shell's "command not
    #         found". os._exit, not sys.exit: this is the parent's copy, which must not go
    #         on to run the parent's code (or its cleanups).
    os._exit(127)


def exit_status(pid: int, status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128 + N after signal N."""
    # TODO 5: os.waitstatus_to_exitcode(status) is the exit code, or -N when signal N
    #         killed the process. Print "PID exited with status N" (or "PID was killed
    #         by signal N") on stderr; return the code, or 128 + N after a signal.
    return os.waitstatus_to_exitcode(status)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="mini-runtime")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("run", help="run a command")
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
