"""Terminals: a pty made inside the container, and what the host side does with its master.

With `process.terminal: true` the container's init opens a pseudoterminal pair in the
container's own devpts instance (pty(7)), makes the slave its controlling terminal and its
stdin/stdout/stderr, and hands the master out over an AF_UNIX socket with SCM_RIGHTS
(unix(7)): either to the engine's `--console-socket`, or to `pyrun run`, which copies
between its own stdio and the master until the container is gone.

    init I (inside, after pivot_root)        parent P (pyrun create / pyrun run)
    ---------------------------------        -----------------------------------
    open_pty_in_devpts()
    set_window_size(master, rows, cols)      (process.consoleSize, when given)
    master -> P over the sync channel  --->  detached: send_console_master(path, master)
    make_controlling_terminal(slave)         foreground: clear_onlcr(master),
                                               follow_resizes(host, master), start,
                                               ttyproxy.proxy(master, child_exited=...)

Nothing costly at import: the ioctls go through `fcntl` (cheap), or `sc` (pyrun.linux.
syscalls) where they change the calling process; sockets through `_socket` and signals
through `_signal` (the C cores, without `socket`'s and `signal`'s enum imports). `select`
and `termios` are imported inside the host-side functions.

The ioctl numbers are the asm-generic ones (x86, arm, arm64, riscv, s390): see ioctl_tty(2)
and <asm-generic/ioctls.h>. powerpc, mips, sparc and alpha number them differently.
"""

import os
import struct

from pyrun.linux import syscalls as real_syscalls

# <asm-generic/ioctls.h>
TIOCSCTTY = 0x540E   # make this tty the controlling terminal of the calling session leader
TIOCGWINSZ = 0x5413  # struct winsize out
TIOCSWINSZ = 0x5414  # struct winsize in
TIOCGPTN = 0x80045430    # _IOR('T', 0x30, unsigned int): the pty's number, N in /dev/pts/N
TIOCSPTLCK = 0x40045431  # _IOW('T', 0x31, int): 0 unlocks the slave (unlockpt(3))

WINSIZE = "HHHH"  # struct winsize { ws_row, ws_col, ws_xpixel, ws_ypixel }, all unsigned short

# What runc sends along with the master: the name of the file it opened. containerd's and
# conmon's receivers take one message carrying exactly one fd, and any name under 4096 bytes.
CONSOLE_NAME = b"/dev/ptmx"
MAX_NAME = 4096



# ---------------------------------------------------------------------------------------
# Inside the container


def open_pty_in_devpts(ptmx_path: str = "/dev/ptmx",
                       pts_dir: str = "/dev/pts") -> tuple[int, int, str]:
    """Allocate a pty pair from the devpts instance behind `ptmx_path`.

    Returns (master_fd, slave_fd, slave_path), both fds close-on-exec. Run inside the
    container after pivot_root: there /dev/ptmx is a link to pts/ptmx of the container's
    own devpts (mounted with `newinstance`), so the pair is numbered and owned by the
    container, and the slave is /dev/pts/N in the container's view. os.openpty() would use
    the host's /dev/ptmx instead.

    pty(7): open ptmx, unlock the slave (TIOCSPTLCK 0, what unlockpt(3) does), ask its
    number (TIOCGPTN, what ptsname(3) does), open /dev/pts/N. O_NOCTTY everywhere:
    make_controlling_terminal() does that step on purpose.
    """
    import fcntl

    master = os.open(ptmx_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, bytes(4)))[0]
        slave_path = f"{pts_dir}/{number}"
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return master, slave, slave_path


def make_controlling_terminal(slave_fd: int, sc=real_syscalls) -> None:
    """Make `slave_fd` this process's controlling terminal and its fds 0, 1 and 2.

    The caller must already be a session leader without a controlling terminal, that is,
    it called setsid() (setsid(2)); TIOCSCTTY fails with EPERM otherwise (ioctl_tty(2)).
    The 0, 1 and 2 copies are inheritable (they survive execve); `slave_fd` itself is
    closed if it is not one of them. What login_tty(3) does, minus its setsid().
    """
    sc.ioctl(slave_fd, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        if fd != slave_fd:
            sc.dup2(slave_fd, fd)
        else:
            os.set_inheritable(fd, True)
    if slave_fd > 2:
        os.close(slave_fd)


# ---------------------------------------------------------------------------------------
# Window size


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ (ioctl_tty(2)). On a pty master it sizes the slave, and the kernel sends
    SIGWINCH to the slave's foreground process group when the size changes."""
    import fcntl

    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack(WINSIZE, rows, cols, 0, 0))


def get_window_size(fd: int) -> tuple[int, int]:
    """TIOCGWINSZ (ioctl_tty(2)): (rows, cols). OSError ENOTTY if fd is not a terminal."""
    import fcntl

    rows, cols, _x, _y = struct.unpack(WINSIZE, fcntl.ioctl(fd, TIOCGWINSZ, bytes(8)))
    return rows, cols


def copy_window_size(from_fd: int, to_fd: int) -> bool:
    """Give `to_fd` the window size of `from_fd`; False (and nothing done) if either is not a
    terminal or is gone (ENOTTY, EBADF, EIO after a hangup)."""
    try:
        set_window_size(to_fd, *get_window_size(from_fd))
    except OSError:
        return False
    return True


def clear_onlcr(master_fd: int) -> None:
    """Turn off ONLCR (NL -> CR NL on output) on the pty, as runc does to the master it
    proxies in the foreground (containerd/console ClearONLCR): the container's newlines then
    reach our stdout as bare NL, so `pyrun run > file` holds no CR, while on a terminal our
    own OPOST|ONLCR (kept by proxy's raw mode) still returns the carriage. Termios requests
    on a master act on its slave (tty_ioctl(4)). Call it before `start`, so that no output
    comes before it."""
    import termios

    attrs = termios.tcgetattr(master_fd)
    attrs[1] &= ~termios.ONLCR
    termios.tcsetattr(master_fd, termios.TCSANOW, attrs)


def follow_resizes(stdin_fd: int, master_fd: int):
    """Copy the size of the terminal on `stdin_fd` (any fd of the host's terminal: see
    open_host_terminal) to the pty now and at every SIGWINCH, which the kernel sends to the
    foreground process group of a terminal that is resized.

    Installs a Python-level handler, so call it from the main thread. Returns the previous
    handler: `_signal.signal(_signal.SIGWINCH, previous)` undoes it.
    """
    import _signal

    def on_winch(_signum, _frame):
        copy_window_size(stdin_fd, master_fd)

    previous = _signal.signal(_signal.SIGWINCH, on_winch)  # first, so no resize is lost
    copy_window_size(stdin_fd, master_fd)
    return previous


# ---------------------------------------------------------------------------------------
# The console socket (unix(7), SCM_RIGHTS)


def connect_console_socket(socket_path: str):
    """Connect to the engine's console socket (AF_UNIX, SOCK_STREAM). A relative path is
    relative to the current directory, as with runc. Returns a `_socket.socket`."""
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(socket_path)
    except BaseException:
        sock.close()
        raise
    return sock


def send_master(sock, master_fd: int, name: bytes = CONSOLE_NAME) -> None:
    """Send `master_fd` over a connected AF_UNIX socket: one sendmsg, one SCM_RIGHTS fd,
    `name` as the payload (SCM_RIGHTS needs at least one byte of real data to ride on)."""
    import _socket

    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master_fd))]
    sock.sendmsg([name or CONSOLE_NAME], rights)


def send_console_master(socket_path: str, master_fd: int, name: bytes = CONSOLE_NAME) -> None:
    """Connect to `socket_path`, send the master as runc does (payload "/dev/ptmx"), close.

    containerd (go-runc's Socket.ReceiveMaster) and conmon accept one connection and read
    one message: exactly one fd in exactly one SCM_RIGHTS message, and a name shorter than
    4096 bytes. The receiver gets its own copy of the fd; the caller still owns `master_fd`.
    """
    sock = connect_console_socket(socket_path)
    try:
        send_master(sock, master_fd, name)
    finally:
        sock.close()


def recv_fd(sock) -> tuple[int, bytes]:
    """Receive one message with one fd (close-on-exec) on a connected AF_UNIX socket:
    (fd, payload). Extra fds, if a sender put several, are closed."""
    import _socket

    data, ancillary, _flags, _addr = sock.recvmsg(MAX_NAME, _socket.CMSG_SPACE(4 * 4),
                                                  _socket.MSG_CMSG_CLOEXEC)
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            count = len(payload) // 4
            fds += struct.unpack(f"{count}i", payload[:count * 4])
    for extra in fds[1:]:
        os.close(extra)
    if not fds:
        raise OSError(f"console socket: no fd received (payload {data!r})")
    return fds[0], data


def recv_console_master(listen_sock) -> int:
    """Accept one connection on a listening AF_UNIX socket (`socket.socket` or
    `_socket.socket`) and return the fd sent on it. For tests and tools."""
    import _socket

    fd, _addr = listen_sock._accept()  # the common core of socket.socket.accept
    conn = _socket.socket(fileno=fd)
    try:
        return recv_fd(conn)[0]
    finally:
        conn.close()
