"""runc's command line as tables: the global flags, each command's flags, and a parser.

The parser is a table walk, not argparse: argparse costs ~4 ms on every call, an eighth
of a whole `pyrun run`. Like runc (urfave/cli), `--flag v`, `--flag=v` and the
single-dash `-flag v` spellings are all accepted.
"""


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
    Flag("process-label", "process_label", "LABEL", "SELinux label of the process"),
    Flag("apparmor", "apparmor", "PROFILE", "AppArmor profile of the process"),
    Flag("cgroup", "cgroup", "PATH", "a sub-cgroup (not supported yet)"),
    Flag("ignore-paused", "ignore_paused", None, "exec in a paused container: the process "
         "runs once it is resumed"),
]


class Command:
    __slots__ = ("args", "flags", "name", "summary", "interspersed")

    def __init__(self, name, summary, args="<container-id>", flags=(), interspersed=True):
        self.name = name
        self.summary = summary
        self.args = args
        self.flags = None if flags is None else list(flags)  # None: any (not parsed)
        # Flags may follow the id, as in runc; not for exec and ps, whose arguments after
        # the id are another program's (runc's SkipArgReorder).
        self.interspersed = interspersed


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
            EXEC_FLAGS, interspersed=False),
    Command("ps", "list a container's processes", "<container-id> [ps options]", [
        Flag("format,f", "format", "FORMAT", "table (default: the host's ps) or json")],
        interspersed=False),
    Command("pause", "freeze a container's processes"),
    Command("resume", "thaw a paused container"),
    Command("events", "show a container's events and statistics", flags=[
        Flag("stats", "stats", None, "print the statistics once and exit"),
        Flag("interval", "interval", "DURATION", "between statistics (default 5s)")]),
    Command("update", "change a container's resource limits", flags=UPDATE_FLAGS),
    Command("features", "show what this runtime supports", ""),
    # runc's, answered so that an engine that asks gets a clear no, whatever its flags
    Command("checkpoint", "not supported: checkpoint a container (CRIU)", flags=None),
    Command("restore", "not supported: restore a container (CRIU)", flags=None),
]}


def parse_flags(argv: list[str], flags: list[Flag], *,
                interspersed: bool = False) -> tuple[dict, list[str]]:
    """Flags and positional arguments. Flags end at `--`; without `interspersed` also at
    the first positional argument (the global flags; `exec` and `ps`, whose arguments
    after the id are a command's), with it they may come after positional ones too, as
    runc takes them for its other commands (urfave/cli's argument reordering)."""
    by_name = {name: f for f in flags for name in f.names}
    values: dict = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional += argv[i + 1:]
            break
        if not arg.startswith("-") or arg == "-":
            if not interspersed:
                positional += argv[i:]
                break
            positional.append(arg)
            i += 1
            continue
        i = _take_flag(argv, i, by_name, values)
    return values, positional


def _take_flag(argv: list[str], i: int, by_name: dict, values: dict) -> int:
    """Parse the flag at argv[i] into `values`; returns the index after it (and its value)."""
    arg = argv[i]
    name, eq, inline = arg.lstrip("-").partition("=")
    flag = by_name.get(name)
    if flag is None:
        raise UsageError(f"flag provided but not defined: {arg}")
    if flag.value is None:
        if eq and inline not in ("true", "false"):
            raise UsageError(f"invalid boolean value {inline!r} for {arg}")
        values[flag.dest] = inline != "false"
        return i + 1
    if not eq:
        i += 1
        if i >= len(argv):
            raise UsageError(f"flag needs an argument: {arg}")
        inline = argv[i]
    if flag.multi:
        values.setdefault(flag.dest, []).append(inline)
    else:
        values[flag.dest] = inline
    return i + 1


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
