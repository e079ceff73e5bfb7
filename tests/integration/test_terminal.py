"""process.terminal: a pty made inside the container, given to --console-socket (detached)
or proxied by a foreground `pyrun run`, as runc does (runc's docs/terminals.md, tty.bats).

The test side is independent of pyrun's code: the console socket receiver is go-runc's
logic (tests/integration/console.py), and the outer terminal is a host pty from os.openpty.
"""

import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
import time

import pytest

from tests.integration.bundles import PYRUN
from tests.integration.console import ConsoleSocket, Terminal
from tests.integration.helpers import state_of

# runc's wording with the runtime's own name, as pyrun keeps runc's messages.
NO_CONSOLE_SOCKET = "cannot allocate tty if pyrun will detach without setting console socket"
STRAY_CONSOLE_SOCKET = "cannot use console socket if pyrun will not detach or allocate tty"


def wait_for_status(pyrun, container_id, wanted, timeout=10.0):
    deadline = time.monotonic() + timeout
    while (status := state_of(pyrun, container_id)["status"]) != wanted:
        assert time.monotonic() < deadline, f"status stayed {status}, wanted {wanted}"
        time.sleep(0.02)


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


def _delete(state_root, container_id):
    subprocess.run([PYRUN, "--root", str(state_root), "delete", "--force", container_id],
                   capture_output=True, timeout=30)


# ---------------------------------------------------------------------------------------
# Detached: the master goes to --console-socket


def test_console_socket_receives_the_master(pyrun, make_bundle, container_id, state_root):
    bundle = make_bundle(terminal=True, args=["sh"])
    with ConsoleSocket() as console:
        try:
            result = pyrun("create", "--console-socket", console.path, "-b", bundle,
                           container_id)
            assert result.returncode == 0, result.stderr
            console.wait_master(timeout=5)  # during create, before start
            assert console.name  # runc sends the pty's name ("/dev/ptmx") with it
            assert state_of(pyrun, container_id)["status"] == "created"

            assert pyrun("start", container_id).returncode == 0
            console.write("tty; echo $((6*7))\n")
            seen = console.read_until("42")
            assert "/dev/pts/0" in seen

            console.write("exit\n")
            console.read_to_end()  # the container's side of the pty closes
            wait_for_status(pyrun, container_id, "stopped")
            assert pyrun("delete", container_id).returncode == 0
        finally:
            _delete(state_root, container_id)


def test_console_size_from_the_config(pyrun, make_bundle, container_id, state_root):
    bundle = make_bundle(terminal=True, consoleSize={"height": 30, "width": 100},
                         args=["sh", "-c", "stty size; read x"])
    with ConsoleSocket() as console:
        try:
            result = pyrun("create", "--console-socket", console.path, "-b", bundle,
                           container_id)
            assert result.returncode == 0, result.stderr
            console.wait_master(timeout=5)
            assert pyrun("start", container_id).returncode == 0
            console.read_until("30 100")
            console.write("\n")
            console.read_to_end()
            wait_for_status(pyrun, container_id, "stopped")
        finally:
            _delete(state_root, container_id)


def test_the_terminal_is_dev_console_and_belongs_to_the_user(pyrun, make_bundle,
                                                            container_id, state_root):
    """runc bind-mounts the slave on /dev/console, and gives the terminal to the
    container's uid (fixStdioPermissions) so a non-root process can use its console."""
    script = ("for f in 0 1 2; do readlink /proc/self/fd/$f; done; "
              "[ /dev/console -ef $(tty) ] && echo console-is-the-tty; "
              "echo owner=$(stat -c %u $(tty)); read x")
    bundle = make_bundle(terminal=True, args=["sh", "-c", script],
                         user={"uid": 1000, "gid": 100})
    with ConsoleSocket() as console:
        try:
            result = pyrun("create", "--console-socket", console.path, "-b", bundle,
                           container_id)
            assert result.returncode == 0, result.stderr
            assert pyrun("start", container_id).returncode == 0
            seen = console.read_until("owner=")
            seen += console.read_until("\n")
            lines = [line.strip() for line in seen.splitlines()]
            assert lines[:3] == ["/dev/pts/0"] * 3, seen
            assert "console-is-the-tty" in lines, seen
            assert "owner=1000" in lines, seen
            console.write("\n")
            console.read_to_end()
            wait_for_status(pyrun, container_id, "stopped")
        finally:
            _delete(state_root, container_id)


@pytest.mark.parametrize("command", [("create",), ("run", "-d")], ids=["create", "run-d"])
def test_detached_terminal_needs_a_console_socket(pyrun, make_bundle, container_id,
                                                  state_root, command):
    bundle = make_bundle(terminal=True, args=["sh"])
    try:
        result = pyrun(*command, "-b", bundle, container_id)
        assert result.returncode == 1
        assert NO_CONSOLE_SOCKET in result.stderr
        assert not (state_root / container_id).exists()
        assert "does not exist" in pyrun("state", container_id).stderr
    finally:
        _delete(state_root, container_id)


@pytest.mark.parametrize("command, terminal", [(("create",), False), (("run", "-d"), False),
                                               (("run",), True)],
                         ids=["create-no-terminal", "run-d-no-terminal", "run-foreground"])
def test_console_socket_without_a_detached_terminal_is_refused(pyrun, make_bundle,
                                                               container_id, state_root,
                                                               command, terminal):
    bundle = make_bundle(terminal=terminal, args=["true"])
    with ConsoleSocket() as console:
        try:
            result = pyrun(*command, "--console-socket", console.path, "-b", bundle,
                           container_id)
            assert result.returncode == 1
            assert STRAY_CONSOLE_SOCKET in result.stderr
            assert not (state_root / container_id).exists()
        finally:
            _delete(state_root, container_id)


# ---------------------------------------------------------------------------------------
# Foreground: `pyrun run` proxies between its own terminal and the container's


def _become_session_leader_of(tty_path):
    """For preexec_fn, after start_new_session's setsid(): a session leader without a
    controlling terminal that opens a terminal (without O_NOCTTY) acquires it. Then the
    child is like a shell's foreground job: its terminal's resizes signal it, and it may
    change the terminal's modes without SIGTTOU."""

    def preexec():
        os.close(os.open(tty_path, os.O_RDWR))

    return preexec


class OuterTerminal:
    """A host pty standing in for the user's terminal."""

    def __init__(self, rows, cols):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        set_size(self.slave, rows, cols)

    def close(self):
        for fd in (self.master, self.slave):
            os.close(fd)


def _stop(proc) -> None:
    """Kill a pyrun that a failing test left running (and reap it)."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def _start_run(state_root, bundle, container_id, outer, **stdio):
    stdio = {"stdin": outer.slave, "stdout": outer.slave, "stderr": outer.slave, **stdio}
    return subprocess.Popen([PYRUN, "--root", str(state_root), "run", "-b", str(bundle),
                             container_id], start_new_session=True,
                            preexec_fn=_become_session_leader_of(outer.path), **stdio)


def _container_size(state_root, container_id) -> tuple[int, int] | None:
    """The size of the container's terminal, read through its init's fd 0."""
    result = subprocess.run([PYRUN, "--root", str(state_root), "state", container_id],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return None
    pid = json.loads(result.stdout)["pid"]
    try:
        fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return get_size(fd)
    finally:
        os.close(fd)


def test_foreground_run_proxies_a_real_terminal(make_bundle, container_id, state_root):
    bundle = make_bundle(terminal=True,
                         args=["sh", "-c", "tty; stty size; read x; stty size"])
    outer = OuterTerminal(40, 120)
    screen = Terminal(outer.master)
    before = termios.tcgetattr(outer.slave)
    proc = None
    try:
        proc = _start_run(state_root, bundle, container_id, outer)
        screen.process = proc
        seen = screen.read_until("40 120")
        assert "/dev/pts/0" in seen

        # While pyrun runs, its terminal is raw: the container's terminal does the work.
        assert not termios.tcgetattr(outer.slave)[3] & (termios.ICANON | termios.ECHO)

        set_size(outer.master, 50, 132)  # the kernel signals the foreground job...
        proc.send_signal(signal.SIGWINCH)  # ...and so do we, to not depend on it
        deadline = time.monotonic() + 10
        while _container_size(state_root, container_id) != (50, 132):
            assert time.monotonic() < deadline, "the resize never reached the container"
            time.sleep(0.05)
        screen.write("\n")
        screen.read_until("50 132")

        assert proc.wait(timeout=15) == 0
        assert termios.tcgetattr(outer.slave) == before
    finally:
        _stop(proc)
        _delete(state_root, container_id)
        outer.close()


def test_foreground_run_exit_status_through_a_terminal(make_bundle, container_id,
                                                       state_root):
    bundle = make_bundle(terminal=True, args=["sh", "-c", "echo bye; exit 3"])
    outer = OuterTerminal(24, 80)
    screen = Terminal(outer.master)
    proc = None
    try:
        proc = _start_run(state_root, bundle, container_id, outer)
        screen.process = proc
        screen.read_until("bye")
        assert proc.wait(timeout=15) == 3
        assert not (state_root / container_id).exists()
    finally:
        _stop(proc)
        _delete(state_root, container_id)
        outer.close()


def test_foreground_run_with_redirected_stdio(make_bundle, container_id, state_root,
                                              tmp_path):
    """runc's "stdin not a tty": the container still gets a terminal, and its output
    reaches a plain file, with plain newlines. (The session keeps a controlling terminal,
    as in a shell: runc 1.1 refuses a terminal with no terminal anywhere on the host side,
    "open /dev/tty: no such device or address".)"""
    script = "for f in 0 1 2; do readlink /proc/self/fd/$f; done; stty size"
    bundle = make_bundle(terminal=True, args=["sh", "-c", script])
    outer = OuterTerminal(24, 80)
    out = tmp_path / "out"
    proc = None
    try:
        with open(out, "w") as f:
            proc = _start_run(state_root, bundle, container_id, outer,
                              stdin=subprocess.DEVNULL, stdout=f, stderr=f)
            assert proc.wait(timeout=15) == 0, out.read_text()
        text = out.read_bytes().decode()
        # runc clears ONLCR on the pty it proxies: a file gets "\n", not the tty's "\r\n".
        assert "\r" not in text, repr(text)
        lines = text.splitlines()
        assert lines[:3] == ["/dev/pts/0"] * 3, lines
        assert len(lines) == 4 and lines[3].replace(" ", "").isdigit(), lines
    finally:
        _stop(proc)
        _delete(state_root, container_id)
        outer.close()


# --- exec with a terminal


def _running_sleeper(pyrun, make_bundle, container_id):
    bundle = make_bundle(args=("sleep", "100"), name="sleeper")
    assert pyrun("run", "-d", "-b", bundle, container_id).returncode == 0


def test_exec_tty_in_the_foreground(pyrun, make_bundle, container_id, state_root):
    _running_sleeper(pyrun, make_bundle, container_id)
    outer = OuterTerminal(33, 99)
    screen = Terminal(outer.master)
    proc = None
    try:
        proc = subprocess.Popen(
            [PYRUN, "--root", str(state_root), "exec", "-t", container_id, "sh", "-c",
             "tty; stty size; exit 4"], stdin=outer.slave, stdout=outer.slave,
            stderr=outer.slave, start_new_session=True,
            preexec_fn=_become_session_leader_of(outer.path))
        screen.process = proc
        seen = screen.read_until("33 99")
        assert "/dev/pts/" in seen
        assert proc.wait(timeout=15) == 4
    finally:
        _stop(proc)
        pyrun("delete", "--force", container_id)
        outer.close()


def test_exec_detached_tty_goes_to_the_console_socket(pyrun, make_bundle, container_id,
                                                      tmp_path):
    _running_sleeper(pyrun, make_bundle, container_id)
    try:
        with ConsoleSocket(str(tmp_path)) as console:
            result = pyrun("exec", "-d", "-t", "--console-socket", console.path,
                           container_id, "sh")
            assert result.returncode == 0, result.stderr
            console.wait_master()
            console.write("echo $((6*7)); tty\n")
            out = console.read_until("42")
            assert "42" in out
            console.write("exit\n")
    finally:
        pyrun("delete", "--force", container_id)


def test_exec_detached_tty_without_a_socket_is_refused(pyrun, make_bundle, container_id):
    _running_sleeper(pyrun, make_bundle, container_id)
    try:
        result = pyrun("exec", "-d", "-t", container_id, "sh")
        assert result.returncode == 255  # runc's status for a failed exec
        assert "cannot allocate tty if pyrun will detach without setting console socket" \
            in result.stderr
    finally:
        pyrun("delete", "--force", container_id)
