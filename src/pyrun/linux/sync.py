"""The sync channel between pyrun and the processes it forks: a SOCK_SEQPACKET socketpair,
with one named call per message, as youki's channel.rs has.

    child (intermediate, init, exec)        parent (pyrun create / exec)
    --------------------------------        ----------------------------
    request_id_maps()                --->   wait(ID_MAPS, PID): writes uid_map, gid_map
      (waits for MAPS_WRITTEN)       <---   send_id_maps_written()
    send_pid(pid)                    --->   wait(PID)
                                     <---   send_cgroup_joined()   (exec: P moved it in)
    wait_cgroup_joined()
    request_runtime_hooks()          --->   wait(RUNTIME_HOOKS, CONSOLE, CREATED)
      (waits for HOOKS_DONE)         <---   send_runtime_hooks_done(state)
    send_console(master_fd)          --->   (its fd travels with SCM_RIGHTS)
    send_seccomp_fd(notify_fd)       --->   (to linux.seccomp.listenerPath)
    send_created()                   --->
    send_error(line)                 --->   any wait() raises ChildFailed(line)

`wait(*kinds)` is the one place that rejects a message nobody expects at that point. Each
message is one JSON object in one datagram (SEQPACKET keeps message boundaries, so no
framing is needed). End of file means the other side exited: an init that dies mid-setup
is noticed at once, not after a timeout (ChannelClosed).

Built on `_socket`, the C core of `socket`: the `socket` module imports enum (~4 ms);
fds are packed with struct, not array (which imports collections, ~2 ms).
"""

import _socket
import os
import struct

from pyrun import fastjson
from pyrun.errors import PyrunError, one_line

MAX_MESSAGE = 65536

# The messages, by kind.
ID_MAPS = "write id maps"      # intermediate -> parent: my new user namespace needs maps
MAPS_WRITTEN = "id maps written"  # parent -> intermediate: done
PID = "pid"                    # child -> parent: {"pid": the forked process's host pid}
CGROUP_JOINED = "cgroup joined"  # parent -> child: you are in the container's cgroup
RUNTIME_HOOKS = "run runtime hooks"  # init -> parent: run prestart and createRuntime now
HOOKS_DONE = "runtime hooks done"    # parent -> init: {"state": the state hooks were given}
CONSOLE = "console"            # init or exec -> parent: the pty master, as an fd
SECCOMP_FD = "seccomp fd"      # init or exec -> parent: the seccomp notify fd, as an fd
CREATED = "created"            # init -> parent: only execve is left
ERROR = "error"                # child -> parent: {"message": one line}: why it gives up


class ChannelClosed(PyrunError):
    """The other side went away without a word."""

    def __init__(self):
        super().__init__("the other side exited without a word")


class ChildFailed(PyrunError):
    """The child reported an error: its one line is the message."""


class UnexpectedMessage(PyrunError):
    """A message of a kind the receiver does not expect at this point."""


class Message:
    __slots__ = ("kind", "data", "fds")

    def __init__(self, kind: str, data: dict, fds: list[int]):
        self.kind = kind
        self.data = data
        self.fds = fds


class Channel:
    def __init__(self, sock):
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple["Channel", "Channel"]:
        a, b = _socket.socketpair(_socket.AF_UNIX,
                                  _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    # --- the messages a child sends

    def request_id_maps(self) -> None:
        """Ask the parent to write our new user namespace's uid_map and gid_map."""
        self._send(ID_MAPS)
        self.wait(MAPS_WRITTEN)

    def send_pid(self, pid: int) -> None:
        self._send(PID, {"pid": pid})

    def send_seccomp_fd(self, notify_fd: int) -> None:
        self._send(SECCOMP_FD, fds=[notify_fd])

    def send_console(self, master_fd: int) -> None:
        self._send(CONSOLE, fds=[master_fd])

    def send_created(self) -> None:
        self._send(CREATED)

    def send_error(self, message: str) -> None:
        # one_line: a message quoting a huge config value must still fit one datagram
        self._send(ERROR, {"message": one_line(message)})

    def request_runtime_hooks(self) -> dict:
        """Ask the parent to run the prestart and createRuntime hooks; returns the state
        they were given (the createContainer hooks get the same)."""
        self._send(RUNTIME_HOOKS)
        return self.wait(HOOKS_DONE).data["state"]

    def wait_cgroup_joined(self) -> None:
        self.wait(CGROUP_JOINED)

    # --- the messages the parent sends

    def send_cgroup_joined(self) -> None:
        self._send(CGROUP_JOINED)

    def send_id_maps_written(self) -> None:
        self._send(MAPS_WRITTEN)

    def send_runtime_hooks_done(self, state: dict) -> None:
        self._send(HOOKS_DONE, {"state": state})

    def wait_pid(self) -> int:
        return self.wait(PID).data["pid"]

    # --- receiving

    def wait(self, *kinds: str) -> Message:
        """The next message, which must be of one of `kinds`. An error message raises
        ChildFailed; end of file, ChannelClosed; anything else, UnexpectedMessage."""
        message = self._recv()
        if message.kind == ERROR:
            raise ChildFailed(message.data.get("message", "failed without a reason"))
        if message.kind not in kinds:
            for fd in message.fds:
                os.close(fd)
            raise UnexpectedMessage(f"expected {' or '.join(kinds)}", f"got {message.kind!r}")
        return message

    def _send(self, kind: str, data: dict | None = None, fds: list[int] = ()) -> None:
        payload = fastjson.dumps({"type": kind, **(data or {})}).encode()
        ancillary = []
        if fds:
            ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                          struct.pack(f"{len(fds)}i", *fds))]
        self.sock.sendmsg([payload], ancillary)

    def _recv(self) -> Message:
        try:
            data, ancillary, flags, _addr = self.sock.recvmsg(MAX_MESSAGE,
                                                              _socket.CMSG_SPACE(4))
        except ConnectionResetError:  # the other side died with our message unread
            raise ChannelClosed() from None
        fds = []
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4])
        if not data:
            raise ChannelClosed()
        try:
            if flags & _socket.MSG_TRUNC:
                raise ValueError(f"longer than {MAX_MESSAGE} bytes")
            decoded = fastjson.loads(data)
        except ValueError as e:
            for fd in fds:
                os.close(fd)
            raise PyrunError("sync channel", f"a message that cannot be read: {e}") from None
        return Message(decoded.pop("type", ""), decoded, fds)

    def set_blocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def close(self) -> None:
        self.sock.close()
