"""Container networking.

Here: bringing up loopback in a new network namespace with one ioctl: no netlink library
on the hot path, and `_socket` rather than `socket`, which imports enum. Nothing heavy may
be imported at the top of this module.

Bridge networking lives next door, imported only by a container that asks for it:
`pyrun.linux.netlink` (bridge, veth, addresses, routes: pyroute2, ~120 ms to import) and
`pyrun.linux.nftables` (masquerade and published ports: the nft program).
"""

import _socket
import struct

from pyrun.linux import syscalls as real_syscalls

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up(sc=real_syscalls) -> None:
    """`ip link set lo up` in the current network namespace."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", sc.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        sc.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
    finally:
        s.close()
