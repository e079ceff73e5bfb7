"""pyrun's command line: runc's commands, flags, output and exit codes.

Argument parsing only: flags.py holds runc's flags as tables and their parser,
commands.py one small function per command; here is the entry point, which turns every
failure into one line on stderr (and --log) and exit status 1.
"""

import os
import sys

from pyrun import __version__
from pyrun.cli.commands import HANDLERS
from pyrun.cli.flags import (
    COMMANDS,
    CREATE_FLAGS,
    GLOBAL_FLAGS,
    HELP_FLAG,
    UsageError,
    command_usage,
    parse_flags,
    usage,
)
from pyrun.state import DEFAULT_ROOT

__all__ = ["CREATE_FLAGS", "UsageError", "main", "parse_flags"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    g = {"root": DEFAULT_ROOT, "log": None, "log_format": "text", "debug": False}
    command = ""
    try:
        flags, rest = parse_flags(argv, GLOBAL_FLAGS)
        g.update(flags)
        if g.get("log") or g["log_format"] != "text":
            _configure_log(g)
        if g.get("version"):
            print_version()
            return 0
        if g.get("help") or not rest:
            print(usage())
            return 0 if g.get("help") else 1
        command, args = rest[0], rest[1:]
        if command not in COMMANDS:
            raise UsageError(f"no such command {command!r}")
        if COMMANDS[command].flags is None:
            return HANDLERS[command](g, {}, args)
        cmd = COMMANDS[command]
        opts, positional = parse_flags(args, cmd.flags + [HELP_FLAG],
                                       interspersed=cmd.interspersed)
        if opts.get("help"):
            print(command_usage(cmd))
            return 0
        return HANDLERS[command](g, opts, positional)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read our output (`events | head`) is gone: nothing more to say, and
        # nothing to flush at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        return 0
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        return report(g, command, argv, e)


def report(g: dict, command: str, argv: list[str], err: BaseException) -> int:
    from pyrun.errors import PyrunError, reason_of
    from pyrun.errors import report as report_line

    context = command
    container_id = _guess_id(command, argv)
    if container_id:
        context = f"{command} {container_id}"
    if isinstance(err, PyrunError):
        message = err.with_context(context).message
    elif isinstance(err, UsageError):
        message = f"{context}: {err}" if context else str(err)
    elif isinstance(err, OSError):
        message = f"{context}: {reason_of(err)}"
    else:
        message = f"{context}: internal error: {type(err).__name__}: {err}"
    if g.get("debug"):
        import traceback

        traceback.print_exception(err)
    report_line("error", message)
    return err.exit_status if isinstance(err, PyrunError) else 1


def _guess_id(command: str, argv: list[str]) -> str:
    """The container id for the error prefix: the first positional after the command."""
    if command not in COMMANDS or not COMMANDS[command].args.startswith("<container-id>") \
            or COMMANDS[command].flags is None:
        return ""
    try:
        after = argv[argv.index(command) + 1:]
        cmd = COMMANDS[command]
        _, positional = parse_flags(after, cmd.flags + GLOBAL_FLAGS,
                                    interspersed=cmd.interspersed)
    except (UsageError, ValueError):
        return ""
    return positional[0] if positional else ""


def _configure_log(g: dict) -> None:
    """--log FILE and --log-format text|json (runc's: containerd reads the last error-level
    line back from the file)."""
    from pyrun.errors import configure_log

    fmt = g["log_format"]
    if fmt not in ("text", "json"):
        raise UsageError(f"--log-format {fmt!r}: expected text or json")
    configure_log(g.get("log"), fmt)


def print_version() -> None:
    from pyrun import OCI_VERSION

    print(f"pyrun version {__version__}\nspec: {OCI_VERSION}\n"
          f"python: {sys.version.split()[0]}")


