"""The one exception type pyrun's command line turns into `pyrun: ...` and exit status 1."""


class PyrunError(Exception):
    """A failure to report to the user as one line.

    `what` names the thing that failed (a file, a JSON path, a mount); `reason` says why,
    usually an OS error's text. The command and container id are added by the layer that
    knows them (see `with_context`), giving `pyrun: <command> <id>: <what>: <reason>`.
    """

    def __init__(self, what: str, reason: str = "", *, context: str = ""):
        self.what = what
        self.reason = reason
        self.context = context
        super().__init__(self.message())

    def message(self) -> str:
        parts = [p for p in (self.context, self.what, self.reason) if p]
        return ": ".join(parts)

    def with_context(self, context: str) -> "PyrunError":
        if not self.context:
            self.context = context
            self.args = (self.message(),)
        return self


class ConfigError(PyrunError):
    """config.json (or a process.json) is malformed: `what` is the JSON path."""


class NotSupportedYet(PyrunError):
    """A feature pyrun knows about and deliberately refuses rather than silently ignores."""

    def __init__(self, what: str):
        super().__init__(what, "not supported yet")


def warn(message: str) -> None:
    """One line on stderr; the command goes on."""
    import sys

    print(f"pyrun: warning: {message}", file=sys.stderr)
