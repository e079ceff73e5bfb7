"""Container networking.

Here: bringing up loopback in a new network namespace with one ioctl: no netlink library
on the hot path, and `_socket` rather than `socket`, which imports enum. Nothing else may be
imported at the top of this module.

Bridge networking lives next door, imported only by a container that asks for it:
`pyrun.linux.netlink` (bridge, veth, addresses, routes: pyroute2, ~120 ms to import) and
`pyrun.linux.nftables` (masquerade and published ports: the nft program).
"""

import _socket
import fcntl
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """`ip link set lo up` in the current network namespace."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
    finally:
        s.close()
