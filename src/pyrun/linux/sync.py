"""The sync channel between pyrun and the processes it forks: a SOCK_SEQPACKET socketpair.

Each message is one JSON object in one datagram (SEQPACKET keeps message boundaries, so no
framing is needed); fds travel alongside with SCM_RIGHTS. End of file means the other side
exited: an init that dies mid-setup is noticed at once, not after a timeout.

Built on `_socket`, the C core of `socket`: the `socket` module imports enum (~4 ms);
fds are packed with struct, not array (which imports collections, ~2 ms).
"""

import _socket
import struct

from pyrun import fastjson

MAX_MESSAGE = 65536


class ChannelClosed(EOFError):
    """The other side went away without a word."""


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

    def send(self, message: dict, fds: list[int] = ()) -> None:
        data = fastjson.dumps(message).encode()
        ancillary = []
        if fds:
            ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                          struct.pack(f"{len(fds)}i", *fds))]
        self.sock.sendmsg([data], ancillary)

    def recv(self) -> dict:
        message, _ = self.recv_with_fds(0)
        return message

    def recv_with_fds(self, max_fds: int = 1) -> tuple[dict, list[int]]:
        space = _socket.CMSG_SPACE(max_fds * 4) if max_fds else 0
        data, ancillary, _flags, _addr = self.sock.recvmsg(MAX_MESSAGE, space)
        fds = []
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4])
        if not data:
            raise ChannelClosed()
        return fastjson.loads(data), fds

    def set_blocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def close(self) -> None:
        self.sock.close()
