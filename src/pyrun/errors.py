"""pyrun's errors: one base class, turned by the command line into one line and status 1.

    pyrun: <command> <id>: <what failed>: <reason>

Every failure pyrun reports is a PyrunError (ConfigError, NotSupportedYet, and the kernel
modules' own: CgroupError, HookError, ...). Context is added once, where it is known, as
crun's libcrun_error_t does (crun_make_error, then prepend on the way up):

    with wrap("mount /proc (proc)"):       # an OSError inside becomes
        syscalls.mount(...)                 #   "mount /proc (proc): Operation not permitted"

and the command line adds "<command> <id>" at the top (`with_context`). An OSError's own
text is its strerror alone: the call that failed is named by the `wrap` around it, so no
message says the operation twice.
"""


class PyrunError(Exception):
    """A failure to report to the user as one line.

    `what` names the thing that failed (a file, a JSON path, a mount); `reason` says why,
    usually an OS error's text. The command and container id are added by the layer that
    knows them (`with_context`), giving `<command> <id>: <what>: <reason>`.
    """

    exit_status = 1  # pyrun's exit status for it (exec: 255, runc's "exec failed")

    def __init__(self, what: str, reason: str = "", *, context: str = ""):
        self.what = what
        self.reason = reason
        self.context = context
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return ": ".join(p for p in (self.context, self.what, self.reason) if p)

    def with_context(self, context: str) -> "PyrunError":
        """Add the command and container id, once (the outermost caller's wins)."""
        if not self.context:
            self.context = context
            self.args = (self.message,)
        return self

    def within(self, what: str) -> "PyrunError":
        """Prepend the step this failure happened in: "join cgroup" + "<file>: <reason>"."""
        self.what = f"{what}: {self.what}" if self.what else what
        self.args = (self.message,)
        return self


class ConfigError(PyrunError):
    """config.json (or a process.json) is malformed: `what` is the JSON path."""


class NotSupportedYet(PyrunError):
    """A feature pyrun knows about and deliberately refuses rather than silently ignores."""

    def __init__(self, what: str):
        super().__init__(what, "not supported yet")


def reason_of(err: OSError) -> str:
    """An OSError as the reason part of a line: its text, and the file it names."""
    text = err.strerror or str(err)
    return f"{text}: {err.filename}" if err.filename else text


class wrap:
    """`with wrap("mount /proc"):` names the step for any failure inside it: an OSError
    becomes PyrunError("mount /proc", its text); a PyrunError gets the step prepended.
    A plain class, not contextlib (which costs an import on the hot path)."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if isinstance(err, PyrunError):
            raise err.within(self.what)
        if isinstance(err, OSError):
            # The step names the object (a path, a mount): its text alone, not the file
            # name the OSError may carry again.
            raise PyrunError(self.what, err.strerror or str(err)) from None
        return False


class _Log:
    """Where --log and --log-format send pyrun's warnings and errors (the command line
    sets it up): runc's line shapes, which containerd and conmon read back."""

    path: str | None = None
    format = "text"


def configure_log(path: str | None, fmt: str) -> None:
    _Log.path, _Log.format = path, fmt


def log_line(level: str, message: str) -> str:
    """One line as runc's logrus writes it: JSON `{"level":..,"msg":..,"time":..}` or
    text `time="..." level=... msg="..."`."""
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if _Log.format == "json":
        from pyrun import fastjson

        return fastjson.dumps({"level": level, "msg": message, "time": stamp})
    quoted = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'time="{stamp}" level={level} msg="{quoted}"'


def log(level: str, message: str) -> None:
    """To the --log file, if one was given."""
    if _Log.path:
        try:
            with open(_Log.path, "a") as f:
                f.write(log_line(level, message) + "\n")
        except OSError:
            pass


MAX_LINE = 2000  # characters of one message; a config value it quotes may be any size


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """`text` safe to print as one line: control characters, line breaks and lone
    surrogates escaped (a config value must not forge a second line or drive the terminal),
    and the middle of an overlong text left out (both ends name what and why)."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c == "\t" else _escaped(c) for c in text)
    if len(text) > limit:
        head, tail = limit * 2 // 3, limit // 4
        text = f"{text[:head]} ...({len(text) - head - tail} characters left out)... " \
               f"{text[-tail:]}"
    return text


def _escaped(c: str) -> str:
    if c == "\n":
        return "\\n"
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def report(level: str, message: str) -> None:
    """A warning or error for the user: `pyrun: ...` on stderr (a JSON line instead with
    --log-format json and no --log, as runc then logs to stderr), and to --log. Always
    one line (`one_line`)."""
    import sys

    message = one_line(message)
    if _Log.format == "json" and not _Log.path:
        print(log_line(level, message), file=sys.stderr)
    else:
        prefix = "pyrun: warning: " if level == "warning" else "pyrun: "
        print(prefix + message, file=sys.stderr)
    log(level, message)


def warn(message: str) -> None:
    """One line on stderr (and --log); the command goes on."""
    report("warning", message)
