#!/usr/bin/env python3
"""Level 00, fork and exec: run a command as a child process and report how it ended.

    sudo .venv/bin/python solution.py run -- /bin/echo hello

This file grows into a container runtime, one kernel feature a level. Here it is only what
every runtime is at heart: a parent that forks, a child that becomes the command (execve),
and a parent that waits and passes the command's exit status on.
"""

import argparse
import os
import sys


def run(args) -> int:
    """Run args.command in a child; return its exit status, as a shell would report it."""
    pid = os.fork()
    if pid == 0:
        # The child: a copy of this program, which becomes the command.
        exec_command(args.command)
    # The parent: wait for the child to end, then say how it ended.
    _, status = os.waitpid(pid, 0)
    return exit_status(pid, status)


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
    p.add_argument("command", nargs="+", help="the command and its arguments, after --")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
