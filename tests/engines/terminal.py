"""Running an engine's client on a terminal, as a person would: `docker run -it` needs its
stdin to be a tty. The client runs on a fresh pty (python's pty module); the test reads what
the screen shows and types into it."""

import fcntl
import os
import pty
import select
import struct
import termios
import time


class PtySession:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 rows: int = 30, cols: int = 100, cwd: str | None = None):
        self.pid, self.fd = pty.fork()
        size = struct.pack("HHHH", rows, cols, 0, 0)
        if self.pid == 0:  # child: its stdio and controlling terminal are the pty's slave
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, size)  # before the client reads it
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env if env is not None else dict(os.environ))
            finally:
                os._exit(127)
        self.transcript = ""
        self.status: int | None = None

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False at end of file (the client exited)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the slave side is closed
            return False
        if not data:
            return False
        self.transcript += data.decode(errors="replace")
        return True

    def read_until(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.transcript:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} on the terminal within {timeout}s; "
                                     f"screen so far:\n{self.transcript}")
            if not self._read(0.2):
                raise AssertionError(f"client exited before {text!r}; screen:\n"
                                     f"{self.transcript}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30) -> int:
        """Read until the client exits, reap it; its exit status."""
        deadline = time.monotonic() + timeout
        open_ = True
        while time.monotonic() < deadline:
            open_ = open_ and self._read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                while open_ and select.select([self.fd], [], [], 0.1)[0]:
                    open_ = self._read(0)
                return self.status
            if not open_:
                time.sleep(0.05)
        self.close()
        raise AssertionError(f"client still running after {timeout}s; screen:\n"
                             f"{self.transcript}")

    def close(self) -> None:
        """Kill the client if it still runs (our own child), reap it, close the master."""
        if self.status is None:
            try:
                os.kill(self.pid, 9)
                _, status = os.waitpid(self.pid, 0)
                self.status = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                pass
        try:
            os.close(self.fd)
        except OSError:
            pass
