"""A console-socket receiver for tests, like the one in containerd's shim or conmon, and a
small reader/writer for a terminal's master side.

The receiver is deliberately strict and does not use pyrun's own code: it takes the fd the
way go-runc's `Socket.ReceiveMaster` does (one connection, one recvmsg, a name shorter than
4096 bytes, exactly one SCM_RIGHTS message with exactly one fd), so a runtime that passes
these tests also satisfies containerd.
"""

import errno
import os
import select
import shutil
import socket
import sys
import tempfile
import threading
import time

MAX_NAME = 4096


class Terminal:
    """The master side of a terminal: write keystrokes, read what the screen would show."""

    def __init__(self, fd: int, process=None):
        self.fd = fd
        self.process = process  # a Popen that writes to this terminal: stop when it exits
        self.transcript = ""  # everything read so far
        self._unread = ""     # read from the fd but not yet returned by read_until
        self.ended = False  # EIO/EOF: every slave fd is closed (or `process` exited)

    def write(self, text: str) -> None:
        data = text.encode()
        while data:
            data = data[os.write(self.fd, data):]

    def read_until(self, text: str, timeout: float = 10.0) -> str:
        """Read until `text` appears; returns everything up to and including it (the rest
        stays for the next call). Fails with the transcript if it never comes."""
        deadline = time.monotonic() + timeout
        while text not in self._unread:
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                why = "the terminal closed" if self.ended else f"{timeout}s passed"
                raise AssertionError(f"{text!r} not seen ({why}); got {self.transcript!r}")
            self._read_some(left)
        end = self._unread.index(text) + len(text)
        seen, self._unread = self._unread[:end], self._unread[end:]
        return seen

    def read_to_end(self, timeout: float = 10.0) -> str:
        """Read until every slave fd is closed (the container is gone); returns it all."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"terminal still open after {timeout}s; "
                                     f"got {self.transcript!r}")
            self._read_some(left)
        seen, self._unread = self._unread, ""
        return seen

    def _read_some(self, timeout: float) -> None:
        if not select.select([self.fd], [], [], min(timeout, 0.2))[0]:
            if self.process is not None and self.process.poll() is not None:
                self.ended = True  # it exited, and we hold the slave: no EIO comes
            return
        try:
            data = os.read(self.fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self.ended = True
            return
        text = data.decode(errors="replace")
        self.transcript += text
        self._unread += text

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class ConsoleSocket:
    """Listen on an AF_UNIX socket in a fresh temporary directory (short, so the path fits
    in sun_path), accept one connection in a background thread and take the pty master
    sent on it. Use as a context manager, or call close()."""

    def __init__(self, directory: str | None = None):
        self._dir = tempfile.mkdtemp(prefix="pyrun-console-", dir=directory)
        self.path = os.path.join(self._dir, "console.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)
        self._listener.settimeout(0.1)  # so the thread notices close()
        self._stop = threading.Event()
        self._done = threading.Event()
        self.master: int | None = None
        self.name: bytes | None = None  # the payload sent with the fd ("/dev/ptmx" in runc)
        self.error: str | None = None
        self.terminal: Terminal | None = None
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def connected(self) -> bool:
        return self._done.is_set() and self.error is None

    def _receive(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(10)
                    self.master, self.name = _recv_one_fd(conn)
                return
        except Exception as e:  # reported by wait_master()
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self._done.set()

    def wait_master(self, timeout: float = 10.0) -> int:
        """The master fd, once received. Fails if nothing (or something malformed) came."""
        if not self._done.wait(timeout):
            raise AssertionError(f"no connection on the console socket within {timeout}s")
        if self.error or self.master is None:
            raise AssertionError(f"console socket: {self.error or 'closed before a master came'}")
        if self.terminal is None:
            self.terminal = Terminal(self.master)
        return self.master

    def read_until(self, text: str, timeout: float = 10.0) -> str:
        self.wait_master(timeout)
        return self.terminal.read_until(text, timeout)

    def read_to_end(self, timeout: float = 10.0) -> str:
        self.wait_master(timeout)
        return self.terminal.read_to_end(timeout)

    def write(self, text: str) -> None:
        self.wait_master()
        self.terminal.write(text)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        if self.terminal is not None:
            self.terminal.close()
        elif self.master is not None:
            os.close(self.master)
        self.master = None
        shutil.rmtree(self._dir, ignore_errors=True)


def _recv_one_fd(conn: socket.socket) -> tuple[int, bytes]:
    """go-runc's recvFd, in Python."""
    space = socket.CMSG_SPACE(4)
    name, ancillary, flags, _ = conn.recvmsg(MAX_NAME, space)
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder, signed=True)
                    for i in range(0, len(data) - len(data) % 4, 4)]
    problems = []
    if len(name) >= MAX_NAME:
        problems.append(f"name of {len(name)} bytes")
    if flags & socket.MSG_CTRUNC:
        problems.append("more fds than one (control data truncated)")
    if len(ancillary) != 1:
        problems.append(f"{len(ancillary)} control messages, not 1")
    if len(fds) != 1:
        problems.append(f"{len(fds)} fds, not 1")
    if problems:
        for fd in fds:
            os.close(fd)
        raise ValueError("recvfd: " + ", ".join(problems))
    return fds[0], name
