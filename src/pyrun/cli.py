"""pyrun's command line: runc's commands, flags, output and exit codes.

Argument parsing only: each command is one small function that imports what it needs
when it runs (a `pyrun run` must not pay for `pyrun list`). The parser is a table, not
argparse: argparse costs ~4 ms on every call, an eighth of a whole `pyrun run`.

Like runc (urfave/cli), flags come before positional arguments; `--flag v`, `--flag=v`
and the single-dash `-flag v` spellings are all accepted.
"""

import os
import sys

from pyrun import __version__
from pyrun.state import DEFAULT_ROOT


class UsageError(Exception):
    pass


class Flag:
    __slots__ = ("names", "dest", "value", "help", "multi")

    def __init__(self, names: str, dest: str, value: str | None = None, help: str = "",
                 multi: bool = False):
        self.names = names.split(",")
        self.dest = dest
        self.value = value  # None: a boolean switch; else the metavar of its argument
        self.help = help
        self.multi = multi  # may be given many times: a list of values


GLOBAL_FLAGS = [
    Flag("root", "root", "DIR", "state directory (default /run/pyrun)"),
    Flag("log", "log", "FILE", "also write errors and debug messages to FILE"),
    Flag("log-format", "log_format", "FORMAT", "text (default) or json"),
    Flag("debug", "debug", None, "debug output, tracebacks on errors"),
    Flag("systemd-cgroup", "systemd_cgroup", None, "cgroupsPath is slice:prefix:name"),
    Flag("criu", "criu", "PATH", "accepted for runc compatibility; unused"),
    Flag("rootless", "rootless", "VALUE", "accepted for runc compatibility; unused"),
    HELP_FLAG := Flag("help,h", "help", None, "show help"),
    Flag("version,v", "version", None, "print the version"),
]

CREATE_FLAGS = [
    Flag("bundle,b", "bundle", "DIR", "bundle directory (default: current directory)"),
    Flag("console-socket", "console_socket", "PATH", "AF_UNIX socket for the pty master"),
    Flag("pid-file", "pid_file", "FILE", "write the container's pid to FILE"),
    Flag("no-pivot", "no_pivot", None, "use MS_MOVE + chroot instead of pivot_root"),
    Flag("no-new-keyring", "no_new_keyring", None, "keep the caller's session keyring"),
    Flag("preserve-fds", "preserve_fds", "N", "pass N extra fds (3..3+N-1) to the container"),
]


# runc's update flags: (flag, Resources field, kind); sizes take k/m/g suffixes.
UPDATE_RESOURCE_FLAGS = [
    ("memory", "memory_limit", "bytes"), ("memory-reservation", "memory_reservation", "bytes"),
    ("memory-swap", "memory_swap", "bytes"), ("cpu-share", "cpu_shares", "int"),
    ("cpu-quota", "cpu_quota", "int"), ("cpu-period", "cpu_period", "int"),
    ("cpu-rt-period", "cpu_realtime_period", "int"),
    ("cpu-rt-runtime", "cpu_realtime_runtime", "int"), ("cpuset-cpus", "cpu_cpus", "str"),
    ("cpuset-mems", "cpu_mems", "str"), ("pids-limit", "pids_limit", "int"),
    ("blkio-weight", "blkio_weight", "int"),
]
UPDATE_FLAGS = [Flag("resources,r", "resources", "FILE",
                     "a linux.resources JSON file, - for stdin")]
UPDATE_FLAGS += [Flag(name, field, "VALUE", f"set {field.replace('_', ' ')}")
                 for name, field, _ in UPDATE_RESOURCE_FLAGS]


EXEC_FLAGS = [
    Flag("process,p", "process", "FILE", "the process as JSON (instead of a command)"),
    Flag("cwd", "cwd", "DIR", "working directory"),
    Flag("env,e", "env", "NAME=VALUE", "set an environment variable", multi=True),
    Flag("user,u", "user", "UID[:GID]", "run as this user"),
    Flag("additional-gids,g", "additional_gids", "GID", "a supplementary group", multi=True),
    Flag("cap,c", "cap", "CAP", "add a capability", multi=True),
    Flag("no-new-privs", "no_new_privs", None, "set no_new_privs"),
    Flag("tty,t", "tty", None, "allocate a pseudo-terminal"),
    Flag("console-socket", "console_socket", "PATH", "AF_UNIX socket for the pty master"),
    Flag("detach,d", "detach", None, "return once the process has started"),
    Flag("pid-file", "pid_file", "FILE", "write the process's pid to FILE"),
    Flag("preserve-fds", "preserve_fds", "N", "pass N extra fds (3..3+N-1)"),
    Flag("process-label", "process_label", "LABEL", "SELinux label (not supported yet)"),
    Flag("apparmor", "apparmor", "PROFILE", "AppArmor profile (not supported yet)"),
    Flag("cgroup", "cgroup", "PATH", "a sub-cgroup (not supported yet)"),
    Flag("ignore-paused", "ignore_paused", None, "accepted for runc compatibility"),
]


class Command:
    __slots__ = ("args", "flags", "name", "summary")

    def __init__(self, name, summary, args="<container-id>", flags=()):
        self.name = name
        self.summary = summary
        self.args = args
        self.flags = list(flags)


COMMANDS = {c.name: c for c in [
    Command("spec", "write a new config.json template", "", [
        Flag("bundle,b", "bundle", "DIR", "where to write config.json"),
        Flag("rootless", "rootless", None, "a template for rootless containers")]),
    Command("create", "create a container", flags=CREATE_FLAGS),
    Command("start", "start a created container"),
    Command("run", "create and start a container", flags=CREATE_FLAGS + [
        Flag("detach,d", "detach", None, "return after start"),
        Flag("keep", "keep", None, "do not delete the container after it exits"),
        Flag("no-subreaper", "no_subreaper", None, "accepted for runc compatibility")]),
    Command("state", "print a container's state as JSON"),
    Command("list", "list containers", "", [
        Flag("format,f", "format", "FORMAT", "table (default) or json"),
        Flag("quiet,q", "quiet", None, "print only ids")]),
    Command("kill", "send a signal to a container's init", "<container-id> [SIGNAL]", [
        Flag("all,a", "all", None, "signal every process of the container")]),
    Command("delete", "delete a container", flags=[
        Flag("force,f", "force", None, "kill a running container first")]),
    Command("exec", "run a process in a container", "<container-id> <command> [args...]",
            EXEC_FLAGS),
    Command("ps", "list a container's processes", "<container-id> [ps options]", [
        Flag("format,f", "format", "FORMAT", "table (default: the host's ps) or json")]),
    Command("pause", "freeze a container's processes"),
    Command("resume", "thaw a paused container"),
    Command("events", "show a container's events and statistics", flags=[
        Flag("stats", "stats", None, "print the statistics once and exit"),
        Flag("interval", "interval", "DURATION", "between statistics (default 5s)")]),
    Command("update", "change a container's resource limits", flags=UPDATE_FLAGS),
    Command("features", "show what this runtime supports", ""),
]}


def parse_flags(argv: list[str], flags: list[Flag]) -> tuple[dict, list[str]]:
    """Flags up to the first positional argument (or `--`); the rest is positional."""
    by_name = {name: f for f in flags for name in f.names}
    values: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, inline = arg.lstrip("-").partition("=")
        flag = by_name.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: {arg}")
        if flag.value is None:
            if eq and inline not in ("true", "false"):
                raise UsageError(f"invalid boolean value {inline!r} for {arg}")
            values[flag.dest] = inline != "false"
            i += 1
            continue
        if not eq:
            i += 1
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: {arg}")
            inline = argv[i]
        if flag.multi:
            values.setdefault(flag.dest, []).append(inline)
        else:
            values[flag.dest] = inline
        i += 1
    return values, argv[i:]


# ---------------------------------------------------------------------------------------
# Commands. Each gets (globals, flags, positional args) and returns an exit status.


def cmd_spec(g, o, args):
    import json

    from pyrun.config import default_spec
    from pyrun.errors import PyrunError

    path = os.path.join(o.get("bundle", "."), "config.json")
    if os.path.exists(path):
        raise PyrunError(path, "file exists (remove it first)")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=o.get("rootless", False)), f, indent="\t")
        f.write("\n")
    return 0


def _create_options(g, o, detached: bool):
    from pyrun.runtime.create import CreateOptions

    fds = o.get("preserve_fds", "0")
    if not fds.isdigit():
        raise UsageError(f"--preserve-fds: {fds!r} is not a number")
    listen = os.environ.get("LISTEN_FDS", "")
    extra = int(listen) if listen.isdigit() else 0
    return CreateOptions(bundle=o.get("bundle", "."), pid_file=o.get("pid_file"),
                         console_socket=o.get("console_socket"),
                         no_pivot=o.get("no_pivot", False),
                         no_new_keyring=o.get("no_new_keyring", False),
                         preserve_fds=int(fds) + extra, detached=detached,
                         systemd_cgroup=g.get("systemd_cgroup", False))


def _warm_up_cgroups():
    """Start the slow part of joining a cgroup now, before ~7 ms of imports (see
    pyrun.linux.cgroups.start_migration_warmup)."""
    from pyrun.runtime.warmup import start_migration_warmup

    start_migration_warmup()


def cmd_create(g, o, args):
    _warm_up_cgroups()
    from pyrun.runtime.create import create

    create(g["root"], _one_id(args), _create_options(g, o, detached=True))
    return 0


def cmd_run(g, o, args):
    _warm_up_cgroups()
    from pyrun.runtime.run import run

    detach = o.get("detach", False)
    return run(g["root"], _one_id(args), _create_options(g, o, detached=detach), detach=detach,
               keep=o.get("keep", False))


def cmd_start(g, o, args):
    from pyrun.runtime.start import start

    start(g["root"], _one_id(args))
    return 0


def cmd_state(g, o, args):
    from pyrun.runtime.query import show_state

    print(show_state(g["root"], _one_id(args)))
    return 0


def cmd_list(g, o, args):
    import json

    from pyrun.runtime.query import format_table, list_containers

    entries = list_containers(g["root"])
    fmt = o.get("format", "table")
    if o.get("quiet"):
        print("\n".join(e["id"] for e in entries))
    elif fmt == "json":
        print(json.dumps(entries))
    elif fmt == "table":
        print(format_table(entries))
    else:
        raise UsageError(f"invalid format option {fmt!r} (table or json)")
    return 0


def cmd_kill(g, o, args):
    from pyrun.runtime.kill import kill, parse_signal

    if not args or len(args) > 2:
        raise UsageError("kill takes <container-id> [SIGNAL]")
    sig = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    kill(g["root"], args[0], sig, all_processes=o.get("all", False))
    return 0


def cmd_delete(g, o, args):
    from pyrun.runtime.delete import delete

    delete(g["root"], _one_id(args), force=o.get("force", False))
    return 0


def cmd_pause(g, o, args):
    from pyrun.runtime.pause import pause

    pause(g["root"], _one_id(args))
    return 0


def cmd_resume(g, o, args):
    from pyrun.runtime.pause import resume

    resume(g["root"], _one_id(args))
    return 0


def cmd_ps(g, o, args):
    from pyrun.runtime.ps import ps

    if not args:
        raise UsageError("ps takes <container-id> [ps options]")
    print(ps(g["root"], args[0], o.get("format", "table"), args[1:]))
    return 0


def cmd_events(g, o, args):
    from pyrun.runtime.events import events, parse_interval

    interval = parse_interval(o.get("interval", "5s"))
    events(g["root"], _one_id(args), interval, stats_once=o.get("stats", False))
    return 0


def cmd_update(g, o, args):
    from pyrun.config import Resources
    from pyrun.runtime.update import parse_bytes, read_resources_json, update
    from pyrun.state import open_container

    container_id = _one_id(args)
    open_container(g["root"], container_id)  # an unknown id: "does not exist" first
    changes = read_resources_json(o["resources"]) if "resources" in o else Resources()
    for name, field, kind in UPDATE_RESOURCE_FLAGS:
        if field in o:
            text = o[field]
            if kind == "bytes":
                value = parse_bytes(text)
            elif kind == "int":
                if not text.lstrip("-").isdigit():
                    raise UsageError(f"--{name}: {text!r} is not a number")
                value = int(text)
            else:
                value = text
            setattr(changes, field, value)
    if changes.is_empty():
        raise UsageError("update: nothing to change (see pyrun update --help)")
    update(g["root"], container_id, changes)
    return 0


def cmd_exec(g, o, args):
    from pyrun.errors import NotSupportedYet
    from pyrun.runtime.exec import ExecOptions, exec_in

    for flag in ("process_label", "apparmor", "cgroup"):
        if flag in o:
            raise NotSupportedYet(f"exec --{flag.replace('_', '-')}")
    if not args:
        raise UsageError("exec takes <container-id> <command> [args...]")
    fds = o.get("preserve_fds", "0")
    if not fds.isdigit():
        raise UsageError(f"--preserve-fds: {fds!r} is not a number")
    opts = ExecOptions(
        args=args[1:], process_file=o.get("process"), cwd=o.get("cwd"), env=o.get("env", []),
        user=o.get("user"), additional_gids=o.get("additional_gids", []),
        caps=o.get("cap", []), no_new_privs=o.get("no_new_privs", False),
        tty=o.get("tty", False), console_socket=o.get("console_socket"),
        detach=o.get("detach", False), pid_file=o.get("pid_file"), preserve_fds=int(fds))
    return exec_in(g["root"], args[0], opts)


def cmd_features(g, o, args):
    from pyrun.runtime.features import show

    print(show())
    return 0


HANDLERS = {
    "spec": cmd_spec, "create": cmd_create, "run": cmd_run, "start": cmd_start,
    "state": cmd_state, "list": cmd_list, "kill": cmd_kill, "delete": cmd_delete,
    "pause": cmd_pause, "resume": cmd_resume, "ps": cmd_ps, "events": cmd_events,
    "update": cmd_update, "exec": cmd_exec, "features": cmd_features,
}


def _one_id(args):
    if len(args) != 1:
        raise UsageError(f"expected exactly one container id, got {len(args)} arguments")
    return args[0]


# ---------------------------------------------------------------------------------------
# Entry point: parse, dispatch, and turn every failure into one line and exit status 1.


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    g = {"root": DEFAULT_ROOT, "log": None, "log_format": "text", "debug": False}
    command = ""
    try:
        flags, rest = parse_flags(argv, GLOBAL_FLAGS)
        g.update(flags)
        if g.get("version"):
            print_version()
            return 0
        if g.get("help") or not rest:
            print(usage())
            return 0 if g.get("help") else 1
        command, args = rest[0], rest[1:]
        if command not in COMMANDS:
            raise UsageError(f"no such command {command!r}")
        opts, positional = parse_flags(args, COMMANDS[command].flags + [HELP_FLAG])
        if opts.get("help"):
            print(command_usage(COMMANDS[command]))
            return 0
        return HANDLERS[command](g, opts, positional)
    except KeyboardInterrupt:
        return 130
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        return report(g, command, argv, e)


def report(g: dict, command: str, argv: list[str], err: BaseException) -> int:
    from pyrun.errors import PyrunError, reason_of

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
    message = " ".join(message.split("\n"))
    if g.get("debug"):
        import traceback

        traceback.print_exception(err)
    print(f"pyrun: {message}", file=sys.stderr)
    if g.get("log"):
        _log_error(g["log"], g.get("log_format", "text"), message)
    return 1


def _guess_id(command: str, argv: list[str]) -> str:
    """The container id for the error prefix: the first positional after the command."""
    if command not in COMMANDS or not COMMANDS[command].args.startswith("<container-id>"):
        return ""
    try:
        after = argv[argv.index(command) + 1:]
        _, positional = parse_flags(after, COMMANDS[command].flags + GLOBAL_FLAGS)
    except (UsageError, ValueError):
        return ""
    return positional[0] if positional else ""


def _log_error(path: str, fmt: str, message: str) -> None:
    """containerd's shim reads the last error from --log (JSON with --log-format json)."""
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if fmt == "json":
        import json

        line = json.dumps({"level": "error", "msg": message, "time": stamp})
    else:
        line = f'time="{stamp}" level=error msg="{message}"'
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def print_version() -> None:
    from pyrun import OCI_VERSION

    print(f"pyrun version {__version__}\nspec: {OCI_VERSION}\n"
          f"python: {sys.version.split()[0]}")


def usage() -> str:
    lines = ["usage: pyrun [global options] <command> [options] [arguments]", "",
             "commands:"]
    lines += [f"  {c.name:10} {c.summary}" for c in COMMANDS.values()]
    lines += ["", "global options:"] + _flag_lines(GLOBAL_FLAGS)
    return "\n".join(lines)


def command_usage(cmd: Command) -> str:
    lines = [f"usage: pyrun {cmd.name} [options] {cmd.args}".rstrip(), "", cmd.summary]
    if cmd.flags:
        lines += ["", "options:"] + _flag_lines(cmd.flags)
    return "\n".join(lines)


def _flag_lines(flags: list[Flag]) -> list[str]:
    out = []
    for f in flags:
        spelled = ", ".join(("-" if len(n) == 1 else "--") + n for n in f.names)
        if f.value:
            spelled += f" {f.value}"
        out.append(f"  {spelled:28} {f.help}")
    return out
