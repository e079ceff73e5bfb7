"""The foreground side of a container's terminal: `pyrun run` (and `exec`) without
--console-socket copy between their own stdio and the pty master, with their own
terminal in raw mode, until the container's side is gone (pyrun.linux.tty makes the pty).

Nothing costly at import: `select` and `termios` are imported inside the functions.
"""

import errno
import os

READ_SIZE = 65536


def open_host_terminal() -> int | None:
    """The terminal pyrun itself runs on, as a new fd (close it after use), or None.

    runc's choice: the first of stderr, stdout, stdin that is a terminal, else the
    controlling terminal (/dev/tty, tty(4)), which a shell's job keeps even when all three
    are redirected. Its size is what the container's terminal follows, and it is what goes
    in raw mode while proxying.
    """
    for fd in (2, 1, 0):
        if os.isatty(fd):
            return os.dup(fd)
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:  # ENXIO: no controlling terminal
        return None


def proxy(master_fd: int, stdin_fd: int | None = 0, stdout_fd: int = 1, *,
          child_exited=None, interval: float = 0.1, terminal_fd: int | None = None) -> None:
    """Copy stdin -> master and master -> stdout until the container's side is gone.

    Returns when reading the master gives EIO or end of file (every slave fd is closed: the
    container exited; pty(7)), or when `child_exited()` (polled at least every `interval`
    seconds) is true and nothing is left to read: a process that escaped the container may
    hold the slave open forever. At stdin's end of file, input stops (nothing is sent for
    it) while output keeps flowing. Output that stdout no longer takes (EPIPE, EIO) is
    dropped, so the container never blocks on a full pty.

    `terminal_fd` (default: stdin), if it is a terminal, is put in raw mode (termios(3):
    cfmakeraw, but keeping OPOST, as runc) for the duration, so keys such as ^C reach the
    container's terminal, which does the line editing and signals; its attributes are
    restored however this returns. The master is made non-blocking for the duration
    (restored too).
    """
    import fcntl

    if stdin_fd is not None and not _is_open(stdin_fd):
        stdin_fd = None
    if terminal_fd is None:
        terminal_fd = stdin_fd
    restore_tty = _enter_raw_mode(terminal_fd) if terminal_fd is not None else None
    flags = fcntl.fcntl(master_fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(master_fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        _Pump(master_fd, stdin_fd, stdout_fd, child_exited or _never, interval).run()
    finally:
        try:
            fcntl.fcntl(master_fd, fcntl.F_SETFL, flags)
        except OSError:
            pass
        if restore_tty is not None:
            restore_tty()


class _Pump:
    """proxy()'s loop over poll(2). Input read from stdin waits in `pending` while the
    master cannot take it, and stdin is not read meanwhile (back-pressure, not a growing
    buffer)."""

    GONE = None  # _read_master(): the slave side is closed

    def __init__(self, master, stdin, stdout, child_exited, interval):
        import select

        self.select = select
        self.master, self.stdin, self.stdout = master, stdin, stdout
        self.child_exited = child_exited
        self.timeout_ms = max(1, int(interval * 1000))
        self.pending = b""
        self.stdout_alive = True
        self.watched = None  # the stdin fd registered with poll, if any

    def run(self) -> None:
        select = self.select
        poller = select.poll()
        while True:
            poller.register(self.master, select.POLLIN | (select.POLLOUT if self.pending else 0))
            self._watch_stdin(poller, self.stdin is not None and not self.pending)
            for fd, events in poller.poll(self.timeout_ms):
                if fd == self.master:
                    if events & ~select.POLLOUT:  # POLLIN, or POLLHUP/POLLERR: read says which
                        data = self._read_master()
                        if data is self.GONE:
                            return
                        self._write_out(data)
                    if events & select.POLLOUT:
                        self._write_master()
                elif fd == self.stdin:
                    self._read_stdin()
            if self.child_exited():
                self._drain()
                return

    def _drain(self, max_reads: int = 256) -> None:
        """What is left on the master, until EAGAIN or EIO; bounded, in case an escaped
        process keeps writing to the terminal."""
        for _ in range(max_reads):
            data = self._read_master()
            if not data:
                return
            self._write_out(data)

    def _watch_stdin(self, poller, want: bool) -> None:
        fd = self.stdin if want else None
        if fd != self.watched:
            if self.watched is not None:
                poller.unregister(self.watched)
            if fd is not None:
                poller.register(fd, self.select.POLLIN)
            self.watched = fd

    def _read_master(self) -> bytes | None:
        """b"" when nothing is there now, GONE when nothing ever will be."""
        try:
            return os.read(self.master, READ_SIZE) or self.GONE
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:  # no slave fd is open any more (pty(7))
                return self.GONE
            raise

    def _write_master(self) -> None:
        try:
            written = os.write(self.master, self.pending)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            written = len(self.pending)  # the slave is gone: reading the master says so
        self.pending = self.pending[written:]

    def _read_stdin(self) -> None:
        try:
            data = os.read(self.stdin, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: our own terminal hung up; that ends the input
        if data:
            self.pending += data
        else:
            self.stdin = None  # end of input: stop reading, keep forwarding output

    def _write_out(self, data: bytes) -> None:
        while data and self.stdout_alive:
            try:
                data = data[os.write(self.stdout, data):]
            except BlockingIOError:
                self.select.select([], [self.stdout], [], self.timeout_ms / 1000)
            except OSError:  # EPIPE, EIO, EBADF: nobody reads our output any more
                self.stdout_alive = False


def _never() -> bool:
    return False


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _enter_raw_mode(fd: int):
    """Raw mode as runc sets it on its terminal (containerd/console SetRaw): cfmakeraw(3)
    but with output processing (OPOST) kept, applied now (TCSANOW, so typed-ahead input is
    kept). Returns a function that restores the old attributes, or None if fd is no
    terminal."""
    if not os.isatty(fd):
        return None
    import termios as t

    old = t.tcgetattr(fd)
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = old
    iflag &= ~(t.IGNBRK | t.BRKINT | t.PARMRK | t.ISTRIP | t.INLCR | t.IGNCR | t.ICRNL | t.IXON)
    lflag &= ~(t.ECHO | t.ECHONL | t.ICANON | t.ISIG | t.IEXTEN)
    cflag = (cflag & ~(t.CSIZE | t.PARENB)) | t.CS8
    cc = list(cc)
    cc[t.VMIN], cc[t.VTIME] = 1, 0
    t.tcsetattr(fd, t.TCSANOW, [iflag, oflag | t.OPOST, cflag, lflag, ispeed, ospeed, cc])

    def restore():
        try:
            # TCSADRAIN: our last output reaches the terminal under the raw settings.
            t.tcsetattr(fd, t.TCSADRAIN, old)
        except (OSError, t.error):
            pass

    return restore
