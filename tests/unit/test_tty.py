"""pyrun.linux.tty on the host's own /dev/ptmx: no root and no container needed.

Inside a container the same calls run against the container's devpts instance; here the
host's serves, which is enough to check the pair, the sizes, the fd passing and the proxy.
"""

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty as stdlib_tty

import pytest

from pyrun.linux import tty, ttyproxy


def _close(*fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _read_exactly(fd, count, timeout=5.0) -> bytes:
    """Read `count` bytes (or up to EOF/EIO) from a blocking or non-blocking fd."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out after {data!r}"
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, count - len(data))
        except OSError as e:
            if e.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def pair():
    """A pty pair whose slave is raw: no echo and no newline translation, so what goes in
    one end comes out of the other unchanged."""
    master, slave, path = tty.open_pty_in_devpts("/dev/ptmx")
    stdlib_tty.setraw(slave)
    yield master, slave, path
    _close(master, slave)


@pytest.fixture
def pipes():
    """(stdin read end, stdin write end, stdout read end, stdout write end)."""
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    yield stdin_r, stdin_w, stdout_r, stdout_w
    _close(stdin_r, stdin_w, stdout_r, stdout_w)


class ProxyThread(threading.Thread):
    def __init__(self, *args, **kwargs):
        super().__init__(daemon=True)
        self.args, self.kwargs = args, kwargs
        self.error = None

    def run(self):
        try:
            ttyproxy.proxy(*self.args, **self.kwargs)
        except BaseException as e:  # reported by finish()
            self.error = e

    def finish(self, timeout=5.0):
        self.join(timeout)
        assert not self.is_alive(), "proxy() did not return"
        if self.error:
            raise self.error


# ---------------------------------------------------------------------------------------
# The module's own import cost


def test_import_pulls_in_nothing_costly():
    code = ("import sys; import pyrun.linux.tty; "
            "print(' '.join(m for m in ('socket', 'signal', 'termios', 'enum', 'select', "
            "'tty', 'ctypes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == ""


# ---------------------------------------------------------------------------------------
# The pair


def test_open_pty_gives_a_working_pair():
    master, slave, path = tty.open_pty_in_devpts("/dev/ptmx")
    try:
        assert path.startswith("/dev/pts/") and path[len("/dev/pts/"):].isdigit()
        assert os.ttyname(slave) == path
        assert os.path.samestat(os.stat(path), os.fstat(slave))
        assert not os.get_inheritable(master) and not os.get_inheritable(slave)
        os.write(slave, b"hello\n")
        assert b"hello" in _read_exactly(master, len(b"hello\r\n"))
        os.write(master, b"typed\n")
        assert os.read(slave, 100) == b"typed\n"  # canonical mode: one line
    finally:
        _close(master, slave)


def test_each_call_gives_a_new_pty():
    a = tty.open_pty_in_devpts()
    b = tty.open_pty_in_devpts()
    try:
        assert a[2] != b[2]
    finally:
        _close(a[0], a[1], b[0], b[1])


def test_closing_the_slave_gives_eio_on_the_master(pair):
    master, slave, _ = pair
    os.close(slave)
    with pytest.raises(OSError) as err:
        os.read(master, 10)
    assert err.value.errno == errno.EIO


# ---------------------------------------------------------------------------------------
# Controlling terminal


def _in_child(body) -> tuple[int, bytes]:
    """Run body() in a forked child; returns (exit code, what it wrote to fd 3)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(w, 3)
            code = body()
        except BaseException as e:
            os.write(3, f"{type(e).__name__}: {e}".encode())
        finally:
            os._exit(code)
    os.close(w)
    report = b""
    while chunk := os.read(r, 4096):
        report += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), report


def test_make_controlling_terminal_after_setsid():
    master, slave, path = tty.open_pty_in_devpts()

    def body():
        os.setsid()
        tty.make_controlling_terminal(slave)
        facts = [os.ttyname(0), os.ttyname(1), os.ttyname(2),
                 str(os.tcgetpgrp(0) == os.getpgrp()),
                 str(os.get_inheritable(0) and os.get_inheritable(2))]
        fd = os.open("/dev/tty", os.O_RDWR)  # only works with a controlling terminal
        os.close(fd)
        try:
            os.fstat(slave)
            facts.append("slave fd still open")
        except OSError:
            pass
        os.write(3, " ".join(facts).encode())
        return 0

    try:
        code, report = _in_child(body)
    finally:
        _close(master, slave)
    assert code == 0, report
    assert report.decode() == f"{path} {path} {path} True True"


def test_make_controlling_terminal_needs_setsid():
    master, slave, _ = tty.open_pty_in_devpts()

    def body():
        if os.getsid(0) == os.getpid():
            os.write(3, b"already a session leader")
            return 2
        try:
            tty.make_controlling_terminal(slave)
        except OSError as e:
            os.write(3, errno.errorcode[e.errno].encode())
            return 0
        return 3

    try:
        code, report = _in_child(body)
    finally:
        _close(master, slave)
    assert (code, report) == (0, b"EPERM")


# ---------------------------------------------------------------------------------------
# Window size


def test_window_size_round_trip(pair):
    master, slave, _ = pair
    tty.set_window_size(master, 30, 100)
    assert tty.get_window_size(slave) == (30, 100)
    assert tty.get_window_size(master) == (30, 100)
    tty.set_window_size(slave, 50, 132)
    assert tty.get_window_size(master) == (50, 132)


def test_window_size_of_a_non_terminal(pipes):
    stdin_r, *_ = pipes
    with pytest.raises(OSError) as err:
        tty.get_window_size(stdin_r)
    assert err.value.errno == errno.ENOTTY


def test_copy_window_size(pair):
    master, _slave, _ = pair
    other_master, other_slave, _ = tty.open_pty_in_devpts()
    try:
        tty.set_window_size(other_slave, 24, 80)
        assert tty.copy_window_size(other_slave, master)
        assert tty.get_window_size(master) == (24, 80)
        r, w = os.pipe()
        assert not tty.copy_window_size(r, master)  # not a terminal: nothing done
        _close(r, w)
        assert tty.get_window_size(master) == (24, 80)
    finally:
        _close(other_master, other_slave)


def test_clear_onlcr_on_the_master_acts_on_the_slave():
    master, slave, _ = tty.open_pty_in_devpts()
    try:
        assert termios.tcgetattr(slave)[1] & termios.ONLCR  # Linux's default
        tty.clear_onlcr(master)
        assert not termios.tcgetattr(slave)[1] & termios.ONLCR
        os.write(slave, b"a\nb\n")
        assert _read_exactly(master, 4) == b"a\nb\n"
    finally:
        _close(master, slave)


def test_follow_resizes_copies_now_and_at_sigwinch(pair):
    inner_master, inner_slave, _ = pair
    outer_master, outer_slave, _ = tty.open_pty_in_devpts()
    tty.set_window_size(outer_slave, 40, 120)
    previous = tty.follow_resizes(outer_slave, inner_master)
    try:
        assert tty.get_window_size(inner_slave) == (40, 120)
        tty.set_window_size(outer_master, 50, 132)
        os.kill(os.getpid(), signal.SIGWINCH)
        deadline = time.monotonic() + 5
        while tty.get_window_size(inner_slave) != (50, 132):
            assert time.monotonic() < deadline, "SIGWINCH was not followed"
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGWINCH, previous)
        _close(outer_master, outer_slave)


def test_follow_resizes_without_a_terminal_is_harmless(pair, pipes):
    master, _slave, _ = pair
    tty.set_window_size(master, 10, 20)
    previous = tty.follow_resizes(pipes[0], master)
    try:
        os.kill(os.getpid(), signal.SIGWINCH)
        time.sleep(0.05)
        assert tty.get_window_size(master) == (10, 20)
    finally:
        signal.signal(signal.SIGWINCH, previous)


# ---------------------------------------------------------------------------------------
# The host's terminal


def _host_terminal_in_child(stdio_path=os.devnull, ctty_path=None):
    """In a new session, with stdio on `stdio_path`, and `ctty_path` as the controlling
    terminal if given: what open_host_terminal() finds, as "none" or its "rows cols"."""

    def body():
        os.setsid()
        if ctty_path:
            os.close(os.open(ctty_path, os.O_RDWR))  # a session leader's first tty: its ctty
        fd = os.open(stdio_path, os.O_RDWR | os.O_NOCTTY)
        for n in (0, 1, 2):
            os.dup2(fd, n)
        found = ttyproxy.open_host_terminal()
        os.write(3, b"none" if found is None else b"%d %d" % tty.get_window_size(found))
        return 0

    return _in_child(body)


def test_no_host_terminal():
    assert _host_terminal_in_child() == (0, b"none")


def test_host_terminal_from_stdio():
    master, slave, path = tty.open_pty_in_devpts()
    try:
        tty.set_window_size(slave, 11, 22)
        assert _host_terminal_in_child(stdio_path=path) == (0, b"11 22")
    finally:
        _close(master, slave)


def test_host_terminal_from_the_controlling_terminal():
    """All three redirected, as in `pyrun run < /dev/null > log`: /dev/tty still answers."""
    master, slave, path = tty.open_pty_in_devpts()
    try:
        tty.set_window_size(slave, 33, 44)
        assert _host_terminal_in_child(ctty_path=path) == (0, b"33 44")
    finally:
        _close(master, slave)


# ---------------------------------------------------------------------------------------
# Console socket


@pytest.fixture
def listener(tmp_path):
    path = str(tmp_path / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    yield sock, path
    sock.close()


def test_send_and_receive_the_master(pair, listener):
    master, slave, _ = pair
    sock, path = listener
    tty.send_console_master(path, master)  # the backlog holds the connection
    received = tty.recv_console_master(sock)
    try:
        assert received != master
        assert not os.get_inheritable(received)
        assert os.path.samestat(os.fstat(received), os.fstat(master))
        os.write(received, b"via the socket")
        assert _read_exactly(slave, 14) == b"via the socket"
        os.write(slave, b"back")
        assert _read_exactly(received, 4) == b"back"
    finally:
        os.close(received)
    os.fstat(master)  # the sender keeps its own fd


def test_message_is_what_containerd_expects(pair, listener):
    """go-runc's recvFd: one recvmsg, a name under 4096 bytes, exactly one SCM_RIGHTS
    message with exactly one fd (oobn == CmsgSpace(4))."""
    master, _slave, _ = pair
    sock, path = listener
    tty.send_console_master(path, master)
    conn, _ = sock.accept()
    with conn:
        name, ancillary, flags, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4))
        assert conn.recv(1) == b""  # one message, then the sender closed
    assert name == b"/dev/ptmx"
    assert flags & socket.MSG_CTRUNC == 0
    assert len(ancillary) == 1
    level, kind, data = ancillary[0]
    assert (level, kind, len(data)) == (socket.SOL_SOCKET, socket.SCM_RIGHTS, 4)
    os.close(int.from_bytes(data, sys.byteorder))


def test_connect_to_a_missing_socket_fails(tmp_path, pair):
    with pytest.raises(FileNotFoundError):
        tty.send_console_master(str(tmp_path / "nothing.sock"), pair[0])


def test_recv_fd_over_a_socketpair(pair):
    master, slave, _ = pair
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        tty.send_master(a, master, b"/dev/pts/7")
        fd, name = tty.recv_fd(b)
    try:
        assert name == b"/dev/pts/7"
        os.write(fd, b"x")
        assert _read_exactly(slave, 1) == b"x"
    finally:
        os.close(fd)


def test_recv_fd_without_an_fd_fails():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        a.send(b"/dev/ptmx")
        with pytest.raises(OSError, match="no fd"):
            tty.recv_fd(b)


# ---------------------------------------------------------------------------------------
# proxy()


def test_proxy_copies_both_ways_and_returns_when_the_slave_closes(pair, pipes):
    master, slave, _ = pair
    stdin_r, stdin_w, stdout_r, stdout_w = pipes
    t = ProxyThread(master, stdin_r, stdout_w)
    t.start()
    os.write(stdin_w, b"ping\n")
    assert _read_exactly(slave, 5) == b"ping\n"
    os.write(slave, b"pong")
    assert _read_exactly(stdout_r, 4) == b"pong"
    os.close(slave)
    t.finish()
    assert not fcntl.fcntl(master, fcntl.F_GETFL) & os.O_NONBLOCK  # flags restored


def test_proxy_delivers_output_written_just_before_the_end(pair, pipes):
    master, slave, _ = pair
    _stdin_r, _stdin_w, stdout_r, stdout_w = pipes
    os.write(slave, b"last words")
    os.close(slave)
    ttyproxy.proxy(master, None, stdout_w)
    os.close(stdout_w)
    assert _read_exactly(stdout_r, 100) == b"last words"


def test_proxy_keeps_forwarding_output_after_stdin_ends(pair, pipes):
    master, slave, _ = pair
    stdin_r, stdin_w, stdout_r, stdout_w = pipes
    os.close(stdin_w)
    t = ProxyThread(master, stdin_r, stdout_w)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    os.write(slave, b"still here")
    assert _read_exactly(stdout_r, 10) == b"still here"
    os.close(slave)
    t.finish()


def test_proxy_with_dev_null_as_stdin(pair, pipes):
    master, slave, _ = pair
    _stdin_r, _stdin_w, stdout_r, stdout_w = pipes
    with open(os.devnull, "rb") as null:
        t = ProxyThread(master, null.fileno(), stdout_w)
        t.start()
        os.write(slave, b"out")
        assert _read_exactly(stdout_r, 3) == b"out"
        os.close(slave)
        t.finish()


def test_proxy_returns_when_the_child_exited_and_output_is_drained(pair, pipes):
    """A process outside the container's control may keep the slave open: the child's
    exit ends the proxy anyway, after what was already written."""
    master, slave, _ = pair
    stdin_r, _stdin_w, stdout_r, stdout_w = pipes
    exited = threading.Event()
    t = ProxyThread(master, stdin_r, stdout_w, child_exited=exited.is_set, interval=0.02)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    os.write(slave, b"tail")
    exited.set()
    t.finish()
    os.close(stdout_w)
    assert _read_exactly(stdout_r, 100) == b"tail"
    os.fstat(slave)  # still open: it was the child_exited() that ended it


def test_proxy_survives_a_closed_stdout(pair, pipes):
    master, slave, _ = pair
    stdin_r, _stdin_w, stdout_r, stdout_w = pipes
    os.close(stdout_r)  # writes to stdout_w now fail with EPIPE
    t = ProxyThread(master, stdin_r, stdout_w)
    t.start()
    for _ in range(100):  # more than a pty holds, if nobody read it
        os.write(slave, b"x" * 1024)
    os.close(slave)
    t.finish()


def test_proxy_puts_a_terminal_stdin_in_raw_mode_and_restores_it(pair, pipes):
    master, slave, _ = pair
    *_, _stdout_r, stdout_w = pipes
    outer_master, outer_slave, _ = tty.open_pty_in_devpts()
    try:
        before = termios.tcgetattr(outer_slave)
        assert before[3] & termios.ICANON
        t = ProxyThread(master, outer_slave, stdout_w)
        t.start()
        deadline = time.monotonic() + 5
        while termios.tcgetattr(outer_slave)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "stdin never went raw"
            time.sleep(0.01)
        raw = termios.tcgetattr(outer_slave)
        assert not raw[3] & (termios.ECHO | termios.ISIG)
        assert raw[1] & termios.OPOST  # kept, as runc: our "\n" still returns the carriage
        os.write(outer_master, b"\x03")  # ^C: a byte for the container, not a signal here
        assert _read_exactly(slave, 1) == b"\x03"
        os.close(slave)
        t.finish()
        assert termios.tcgetattr(outer_slave) == before
    finally:
        _close(outer_master, outer_slave)


def test_proxy_raw_mode_on_a_terminal_other_than_stdin(pair, pipes):
    master, slave, _ = pair
    stdin_r, _stdin_w, _stdout_r, stdout_w = pipes
    outer_master, outer_slave, _ = tty.open_pty_in_devpts()
    try:
        before = termios.tcgetattr(outer_slave)
        t = ProxyThread(master, stdin_r, stdout_w, terminal_fd=outer_slave)
        t.start()
        deadline = time.monotonic() + 5
        while termios.tcgetattr(outer_slave)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the terminal never went raw"
            time.sleep(0.01)
        os.close(slave)
        t.finish()
        assert termios.tcgetattr(outer_slave) == before
    finally:
        _close(outer_master, outer_slave)


def test_proxy_restores_the_terminal_on_error(pair):
    master, _slave, _ = pair
    outer_master, outer_slave, _ = tty.open_pty_in_devpts()
    try:
        before = termios.tcgetattr(outer_slave)

        def broken():
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            ttyproxy.proxy(master, outer_slave, 1, child_exited=broken, interval=0.01)
        assert termios.tcgetattr(outer_slave) == before
    finally:
        _close(outer_master, outer_slave)


def test_proxy_does_not_read_stdin_faster_than_the_master_takes_it(pair, pipes):
    """With nobody reading the slave, input waits in the pipe, not in pyrun's memory."""
    master, slave, _ = pair
    stdin_r, stdin_w, _stdout_r, stdout_w = pipes
    fcntl.fcntl(stdin_w, fcntl.F_SETFL, os.O_NONBLOCK)
    t = ProxyThread(master, stdin_r, stdout_w)
    t.start()
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the pipe stays full
        try:
            sent += os.write(stdin_w, b"y" * 4096)
        except BlockingIOError:
            time.sleep(0.05)
            try:
                sent += os.write(stdin_w, b"y" * 4096)
            except BlockingIOError:
                break
    assert time.monotonic() < deadline, "stdin was read without limit"
    got = 0
    fcntl.fcntl(slave, fcntl.F_SETFL, os.O_NONBLOCK)
    os.close(stdin_w)  # the end of input: the proxy forwards what is left, then stops
    deadline = time.monotonic() + 5
    while got < sent and time.monotonic() < deadline:
        try:
            got += len(os.read(slave, 65536))
        except BlockingIOError:
            time.sleep(0.01)
    assert got == sent
    os.close(slave)
    t.finish()
